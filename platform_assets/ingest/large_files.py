"""Processing one file larger than the memory budget: streamed pieces, several data files, one commit per table.

Contract:
- :meth:`StreamedWrites.write` parses the file piece by piece
  (:meth:`ArrowParser.stream`) and writes each piece's rows and rejects, with
  their lineage, as Parquet data files of the product's two tables; nothing is
  visible yet, and memory holds one piece at a time.
- :meth:`StreamedWrites.commit` commits the rejects' files, then (when the
  file is accepted) the rows' files, each table in ONE commit carrying the
  same exactly-once markers as :mod:`.appends` (file id, sha256, row count).
  A crash before a commit leaves only unreferenced files; a rerun parses
  again and commits exactly once (a marker already there: the new files are
  deleted instead).
- A file error in any piece, or a rejected file, deletes what was written.
- With a :class:`StreamShape` (``schema.evolution``, :mod:`.evolution`) the
  file is parsed with its own columns, each piece's rows are brought to the
  batch's target columns, the data files are written against the table as the
  schema update leaves it, and the data commit evolves the schema with them
  (a :class:`~platform_assets.storage.iceberg_schema.StaleWriteSchema` from it:
  another writer changed the schema first; the caller writes the file again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pyarrow as pa
from pyiceberg.manifest import DataFile
from pyiceberg.schema import Schema
from pyiceberg.table import Table

from platform_assets.catalog.records import ClaimedFile
from platform_assets.column_types import ColumnType
from platform_assets.config import ProductConfig, SourceSettings
from platform_assets.failpoints import failpoint
from platform_assets.ingest.appends import by_file, commit_written_once, kept_wider, with_lineage
from platform_assets.ingest.evolution import FilePlan, rows_to_target
from platform_assets.ingest.file_schema import RESCUED
from platform_assets.ingest.parsing import ArrowParser, FileError, InputFile
from platform_assets.storage import data_files, iceberg
from platform_assets.storage.iceberg_schema import staged_table

if TYPE_CHECKING:
    from collections.abc import Callable

    from platform_assets.storage.iceberg import IcebergTables


@dataclass
class WrittenFile:
    """What streaming one file wrote (uncommitted): data files of each table, row counts, or the file's error."""

    item: ClaimedFile
    rows: int = 0
    rejects: int = 0
    row_files: list[DataFile] = field(default_factory=list)
    reject_files: list[DataFile] = field(default_factory=list)
    error: FileError | None = None
    schema: Schema | None = None  # the (staged) schema the row files were written with, when evolving


@dataclass(frozen=True)
class StreamShape:
    """How a streamed file's rows meet the product's evolved columns (see the module docstring)."""

    plan: FilePlan
    source: SourceSettings
    columns: dict[str, ColumnType]  # the batch's target columns
    target: pa.Schema  # the table's schema after the commit
    table_properties: dict[str, str]
    drift: dict[str, list[str]] | None


@dataclass(frozen=True)
class StreamedWrites:
    """Writes and commits large files of one version of one product (see the module docstring)."""

    tables: IcebergTables
    product: ProductConfig
    version: int
    generation: int
    columns: dict[str, ColumnType]
    parser: ArrowParser
    expiry: Callable[[Table], list[int]]
    shape: StreamShape | None = None

    def write(self, item: ClaimedFile, input_file: InputFile, read: Callable[[int], None] | None = None) -> WrittenFile:
        """Parse and write the file piece by piece; on a file error, nothing stays written.

        ``read`` is told the bytes of the file read so far after each piece is written (progress).
        """
        data_table = self.tables.load(self.tables.data_table(self.product.name))
        rejects_table = self.tables.load(self.tables.rejects_table(self.product.name))
        written = WrittenFile(item)
        ingested_at = datetime.now(UTC)
        shape, source, schema = self.shape, self.product.source, self.columns
        if shape is not None:
            data_table = staged_table(data_table, kept_wider(shape.target, data_table))
            written.schema = data_table.schema()
            input_file, source = shape.plan.item, shape.source
            schema = shape.plan.parse_schema or {name: kind for name, kind in shape.columns.items() if name != RESCUED}
        try:
            for part in self.parser.stream(input_file, source, schema):
                if part.error is not None:
                    self.discard(written)
                    return WrittenFile(item, error=part.error)
                if part.rows is not None and part.rows.num_rows:
                    rows = part.rows
                    if shape is not None:
                        rows = rows_to_target(rows, shape.plan.rescued, shape.columns)
                    written.row_files += self._write(data_table, rows, item, ingested_at)
                    written.rows += part.rows.num_rows
                    failpoint("process.after_data_file")
                if part.rejects is not None and part.rejects.num_rows:
                    written.reject_files += self._write(rejects_table, part.rejects, item, ingested_at)
                    written.rejects += part.rejects.num_rows
                if read is not None and part.consumed is not None:
                    read(part.consumed)
        except BaseException:
            self.discard(written)
            raise
        return written

    def _write(self, table: Table, rows: pa.Table, item: ClaimedFile, ingested_at: datetime) -> list[DataFile]:
        grouped = by_file(rows, {item.key: rows.num_rows}, grouped=True)
        lineage = with_lineage(grouped, self.version, {item.key: item.sha256}, ingested_at, table.schema().as_arrow())
        return data_files.write_partition_files(table, lineage, self.version)

    def commit(self, written: WrittenFile, accepted: bool) -> int | None:
        """Commit the rejects, then (``accepted``) the rows, each in one snapshot; the data snapshot's id."""
        item = written.item
        marks = (item.id, item.sha256)
        if written.reject_files:
            identifier = self.tables.rejects_table(self.product.name)
            commit_written_once(
                self.tables.iceberg_catalog,
                identifier,
                written.reject_files,
                *marks,
                written.rejects,
                self.version,
                self.generation,
                self.expiry,
            )
        if not accepted:
            self._delete(self.tables.data_table(self.product.name), written.row_files)
            return None
        shape = self.shape
        return commit_written_once(
            self.tables.iceberg_catalog,
            self.tables.data_table(self.product.name),
            written.row_files,
            *marks,
            written.rows,
            self.version,
            self.generation,
            self.expiry,
            evolved=(shape.target, written.schema, shape.table_properties) if shape and written.schema else None,
            drift=shape.drift if shape else None,
        )

    def discard(self, written: WrittenFile) -> None:
        """Delete the files ``written`` holds (none of them committed)."""
        self._delete(self.tables.data_table(self.product.name), written.row_files)
        self._delete(self.tables.rejects_table(self.product.name), written.reject_files)
        written.row_files, written.reject_files = [], []

    def discard_rows(self, written: WrittenFile) -> None:
        """Delete the row files ``written`` holds (not committed: their commit raised StaleWriteSchema); the
        rejects' files stay (committed already, or deleted by the next attempt's commit)."""
        self._delete(self.tables.data_table(self.product.name), written.row_files)
        written.row_files = []

    def _delete(self, identifier: str, files: list[DataFile]) -> None:
        if files:
            iceberg.delete_files(self.tables.load(identifier), files)
