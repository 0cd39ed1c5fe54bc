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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pyiceberg.manifest import DataFile
from pyiceberg.table import Table

from platform_assets.catalog.records import ClaimedFile
from platform_assets.column_types import ColumnType
from platform_assets.config import ProductConfig
from platform_assets.failpoints import failpoint
from platform_assets.ingest.appends import by_file, commit_written_once, with_lineage
from platform_assets.ingest.parsing import ArrowParser, FileError, InputFile
from platform_assets.storage import data_files, iceberg

if TYPE_CHECKING:
    from collections.abc import Callable

    import pyarrow as pa

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

    def write(self, item: ClaimedFile, input_file: InputFile, read: Callable[[int], None] | None = None) -> WrittenFile:
        """Parse and write the file piece by piece; on a file error, nothing stays written.

        ``read`` is told the bytes of the file read so far after each piece is written (progress).
        """
        data_table = self.tables.load(self.tables.data_table(self.product.name))
        rejects_table = self.tables.load(self.tables.rejects_table(self.product.name))
        written = WrittenFile(item)
        ingested_at = datetime.now(UTC)
        try:
            for part in self.parser.stream(input_file, self.product.source, self.columns):
                if part.error is not None:
                    self.discard(written)
                    return WrittenFile(item, error=part.error)
                if part.rows is not None and part.rows.num_rows:
                    written.row_files += self._write(data_table, part.rows, item, ingested_at)
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
        return commit_written_once(
            self.tables.iceberg_catalog,
            self.tables.data_table(self.product.name),
            written.row_files,
            *marks,
            written.rows,
            self.version,
            self.generation,
            self.expiry,
        )

    def discard(self, written: WrittenFile) -> None:
        """Delete the files ``written`` holds (none of them committed)."""
        self._delete(self.tables.data_table(self.product.name), written.row_files)
        self._delete(self.tables.rejects_table(self.product.name), written.reject_files)
        written.row_files, written.reject_files = [], []

    def _delete(self, identifier: str, files: list[DataFile]) -> None:
        if files:
            iceberg.delete_files(self.tables.load(identifier), files)
