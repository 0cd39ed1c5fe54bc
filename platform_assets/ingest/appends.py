"""Exactly-once appends to a product's Iceberg tables.

Contract: :func:`append_exactly_once` commits the rows of each file at most
once per version and generation, however many workers try: every append
carries markers naming its files (``platform.files`` ...), each commit attempt
reloads the table and re-checks them, so a file another worker committed
meanwhile is never committed twice, and a file whose rows a crashed worker
already committed is recognised by its marker (:func:`committed_rows`,
:func:`committed_drift`).

With a ``target`` schema the append also evolves the table to it (new columns,
widened types) in the same commit (:mod:`platform_assets.storage.iceberg_schema`):
the files are written against the table as the update leaves it; when another
writer changed the schema first, the files are written again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.manifest import DataFile
from pyiceberg.schema import Schema
from pyiceberg.table import Table

from platform_assets.ingest.parsing.types import declared_type_of
from platform_assets.storage import data_files, iceberg
from platform_assets.storage.iceberg_schema import StaleWriteSchema, commit_evolved_files, staged_table


def append_exactly_once(
    iceberg_catalog: SqlCatalog,
    identifier: str,
    rows: pa.Table,
    keys: set[str],
    id_by_key: dict[str, int],
    sha_by_key: dict[str, str],
    version: int,
    generation: int,
    expiry: Callable[[Table], list[int]],
    markers_only_with_rows: bool = False,
    target: pa.Schema | None = None,
    drift: dict[str, dict[str, list[str]]] | None = None,
    table_properties: dict[str, str] | None = None,
) -> int | None:
    """Append the rows of ``keys`` that no retained snapshot has committed yet, with their markers.

    The Parquet files are written once; each commit attempt reloads the table
    and re-checks the markers, so a file another worker committed meanwhile is
    never committed twice. The data table records a marker even for files
    without rows (the file is done); the rejects table only commits rows.
    ``target``: the table's schema after this commit (see the module contract);
    ``drift``: key -> the file's drift, recorded in the marker;
    ``table_properties``: set in the evolving commit (with ``target`` only).
    """
    while keys:
        table = iceberg_catalog.load_table(identifier)
        done = iceberg.committed_file_ids(table, version, generation)
        todo = {key for key in keys if id_by_key[key] not in done}
        if not todo:
            return None
        selected = _rows_of(rows, todo)
        if markers_only_with_rows and selected.num_rows == 0:
            return None
        written = staged_table(table, kept_wider(target, table)) if target is not None else table
        lineage = with_lineage(selected, version, sha_by_key, datetime.now(UTC), written.schema().as_arrow())
        files = data_files.write_partition_files(written, lineage, version) if lineage.num_rows else []
        properties = iceberg.marker_properties(
            "append", version, generation, [(id_by_key[key], sha_by_key[key]) for key in todo]
        )
        properties[iceberg.MARKER_ROWS] = iceberg.encode_row_counts(
            {id_by_key[key]: count for key, count in _rows_per_key(selected, todo).items()}
        )
        found = {str(id_by_key[key]): drift[key] for key in sorted(todo) if drift and drift.get(key)}
        if found:
            properties[iceberg.MARKER_DRIFT] = json.dumps(found, separators=(",", ":"))
        todo_ids = {id_by_key[key] for key in todo}

        attempt = partial(
            _commit_new_files,
            version=version,
            generation=generation,
            file_ids=todo_ids,
            files=files,
            target=target,
            written=written.schema() if target is not None else None,
            table_properties=table_properties,
        )
        try:
            table = iceberg.with_commit_retries(
                iceberg_catalog, identifier, partial(attempt, properties=properties, expiry=expiry)
            )
        except (_CommittedMeanwhile, StaleWriteSchema):
            iceberg.delete_files(table, files)
            continue  # rare: another worker committed some of these files, or changed the schema; redo
        snapshot = table.current_snapshot()
        return snapshot.snapshot_id if snapshot else None
    return None


def commit_written_once(
    iceberg_catalog: SqlCatalog,
    identifier: str,
    files: list[DataFile],
    file_id: int,
    sha256: str,
    rows: int,
    version: int,
    generation: int,
    expiry: Callable[[Table], list[int]],
    evolved: tuple[pa.Schema, Schema, dict[str, str]] | None = None,
    drift: dict[str, list[str]] | None = None,
) -> int | None:
    """Commit ``files`` (already written: all ``rows`` of one source file) in one snapshot with the file's
    markers, as :func:`append_exactly_once` would; the snapshot's id.

    When a marker already names the file (another worker committed it
    meanwhile) the files are deleted, nothing is committed and None is returned.
    ``evolved``: (target schema, schema the files were written with, table
    properties): the commit evolves the table as :func:`append_exactly_once`
    does with a target (StaleWriteSchema when the files must be written again);
    ``drift``: the file's drift, recorded in the marker.
    """
    properties = iceberg.marker_properties("append", version, generation, [(file_id, sha256)])
    properties[iceberg.MARKER_ROWS] = iceberg.encode_row_counts({file_id: rows})
    if drift:
        properties[iceberg.MARKER_DRIFT] = json.dumps({str(file_id): drift}, separators=(",", ":"))
    target, written, table_properties = evolved if evolved is not None else (None, None, None)
    attempt = partial(
        _commit_new_files,
        version=version,
        generation=generation,
        file_ids={file_id},
        files=files,
        properties=properties,
        expiry=expiry,
        target=target,
        written=written,
        table_properties=table_properties,
    )
    try:
        table = iceberg.with_commit_retries(iceberg_catalog, identifier, attempt)
    except _CommittedMeanwhile:
        iceberg.delete_files(iceberg_catalog.load_table(identifier), files)
        return None
    snapshot = table.current_snapshot()
    return snapshot.snapshot_id if snapshot else None


class _CommittedMeanwhile(Exception):
    """Another writer committed some of the files between our check and our commit."""


def _commit_new_files(
    fresh: Table,
    *,
    version: int,
    generation: int,
    file_ids: set[int],
    files: list[DataFile],
    properties: dict[str, str],
    expiry: Callable[[Table], list[int]],
    target: pa.Schema | None = None,
    written: Schema | None = None,
    table_properties: dict[str, str] | None = None,
) -> None:
    """One commit attempt on the freshly loaded table; _CommittedMeanwhile if a marker names one of ``file_ids``."""
    if iceberg.committed_file_ids(fresh, version, generation) & file_ids:
        raise _CommittedMeanwhile
    if target is None or written is None:
        iceberg.commit_files(fresh, files, properties, expire=expiry(fresh))
    else:
        commit_evolved_files(
            fresh, kept_wider(target, fresh), written, files, properties, expiry(fresh), table_properties
        )


def kept_wider(target: pa.Schema, table: Table) -> pa.Schema:
    """``target`` with the type of each column the table already holds wider (another writer widened it)."""
    current = table.schema().as_arrow()
    fields = []
    for wanted in target:
        index = current.get_field_index(wanted.name)
        have = current.field(index).type if index >= 0 else None
        mine, theirs = declared_type_of(wanted.type), declared_type_of(have) if have is not None else None
        wider = mine is not None and theirs is not None and mine.widens_to(theirs)
        fields.append(wanted.with_type(have) if wider and have is not None else wanted)
    return pa.schema(fields)


def by_file(rows: pa.Table, rows_per_file: dict[str, int], grouped: bool) -> pa.Table:
    """``rows`` with ``_source_file`` dictionary-encoded, so per-file steps work on indices.

    Rows grouped by file in ``rows_per_file``'s order (see ``ParseResult.grouped``;
    the rows of a single file always are) get their indices from the counts,
    without reading the column; others take one hash pass.
    """
    position = rows.schema.get_field_index("_source_file")
    present = [key for key, count in rows_per_file.items() if count]
    counts = [rows_per_file[key] for key in present]
    if (grouped or len(present) == 1) and sum(counts) == rows.num_rows:
        indices = np.repeat(np.arange(len(present), dtype=np.int32), counts)
        files = pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(present, pa.string()))
    else:
        files = _files_column(rows)
    return rows.set_column(position, rows.schema.field(position).with_type(files.type), files)


def _files_column(rows: pa.Table) -> pa.DictionaryArray:
    column = rows["_source_file"].combine_chunks()
    return column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)


def _rows_of(rows: pa.Table, keys: set[str]) -> pa.Table:
    """The rows whose ``_source_file`` is in ``keys`` (no copy when that is all of them)."""
    if rows.num_rows == 0:
        return rows
    files = _files_column(rows)
    names = files.dictionary.to_pylist()
    if set(names) <= keys:
        return rows
    wanted = pa.array([index for index, name in enumerate(names) if name in keys], files.indices.type)
    return rows.filter(pc.is_in(files.indices, value_set=wanted))


def _rows_per_key(rows: pa.Table, keys: set[str]) -> dict[str, int]:
    """Row count of each key in ``keys`` (0 for keys without rows)."""
    counts = dict.fromkeys(keys, 0)
    if rows.num_rows:
        files = _files_column(rows)
        tally = pc.value_counts(files.indices)
        names = files.dictionary.to_pylist()
        for index, count in zip(tally.field("values").to_pylist(), tally.field("counts").to_pylist()):
            counts[names[index]] = count
    return counts


def with_lineage(
    rows: pa.Table, version: int, sha_by_key: dict[str, str], ingested_at: datetime, schema: pa.Schema
) -> pa.Table:
    """``rows`` (columns + _source_file) completed with the lineage columns, in the table's column order.

    ``_source_file`` and ``_source_sha256`` are dictionary-encoded (a few
    distinct values over many rows), which the Parquet writer stores as is.
    """
    count = rows.num_rows
    files = _files_column(rows)
    shas = pa.array([sha_by_key[key] for key in files.dictionary.to_pylist()], pa.string())
    extra = {
        "_version": pa.repeat(pa.scalar(version, pa.int32()), count),
        "_source_file": files,
        "_source_sha256": pa.DictionaryArray.from_arrays(files.indices, shas),
        "_ingested_at": pa.repeat(pa.scalar(ingested_at, pa.timestamp("us", tz="UTC")), count),
    }
    arrays = [extra[name] if name in extra else _column(rows, schema.field(name)) for name in schema.names]
    return pa.Table.from_arrays(
        arrays, schema=pa.schema([field.with_type(array.type) for field, array in zip(schema, arrays)])
    )


def _column(rows: pa.Table, wanted: pa.Field) -> pa.ChunkedArray | pa.Array:
    """The product column ``wanted`` of ``rows`` in the table's type; NULL when another writer just added it."""
    if wanted.name not in rows.column_names:
        return pa.nulls(rows.num_rows, wanted.type)
    column = rows[wanted.name]
    return column if column.type == wanted.type else column.cast(wanted.type)


def committed_drift(table: Table, version: int, generation: int, file_id: int) -> dict[str, list[str]] | None:
    """The drift the marker of ``file_id`` (this version and generation) recorded; None without one."""
    for marker in iceberg.commit_markers(table):
        if marker.kind == "append" and marker.version == version and marker.generation == generation:
            if file_id in marker.file_ids:
                return marker.drift.get(file_id)
    return None


def committed_rows(table: Table, version: int, generation: int, file_id: int) -> int:
    """Rows the marker of ``file_id`` (this version and generation) says were committed; 0 without one."""
    for marker in iceberg.commit_markers(table):
        if (
            marker.kind == "append"
            and marker.version == version
            and marker.generation == generation
            and file_id in marker.file_ids
        ):
            return marker.rows.get(file_id, 0)
    return 0
