"""Writing a table's Parquet data files, without committing them.

Contract:
- :func:`write_partition_files` writes rows that all belong to one identity
  partition (one ``_version``) and returns their :class:`DataFile` entries,
  ready for one append commit; nothing is visible until that commit.
- Files carry Iceberg field ids and no embedded Arrow schema: dictionary-encoded
  input columns (the constant lineage strings) are written as dictionary pages
  and read back as plain strings by any reader.
- A large write is split into equal slices of at least
  :data:`MIN_ROWS_PER_FILE` rows, written in parallel (Parquet encoding runs
  outside the GIL), one file per slice; the table's target file size is kept.
"""

from __future__ import annotations

import math
import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.io.pyarrow import (
    ParquetFormatModel,
    _get_parquet_writer_kwargs,
    _to_requested_schema,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey
from pyiceberg.table import Table, TableProperties
from pyiceberg.table.locations import load_location_provider
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.utils.properties import property_as_int

MIN_ROWS_PER_FILE = 250_000
SMALL_CHUNK_ROWS = 4096
"""Rows of many small files arrive as as many small chunks; below this average chunk size they are combined."""
_PARQUET = ParquetFormatModel()


def write_partition_files(table: Table, rows: pa.Table, version: int) -> list[DataFile]:
    """Write ``rows`` (all of one ``_version``, columns named as the table's) as data files; commit nothing."""
    metadata = table.metadata
    spec = metadata.spec()
    key = PartitionKey(
        field_values=[PartitionFieldValue(field=spec.fields[0], value=version)],
        partition_spec=spec,
        schema=metadata.schema(),
    )
    slices = _slices(rows, _file_count(rows, metadata))
    write_uuid = uuid.uuid4()

    def write(numbered: tuple[int, pa.Table]) -> DataFile:
        number, part = numbered
        return _write_data_file(table, part, key, f"00000-{number}-{write_uuid}.parquet")

    if len(slices) == 1:
        return [write((0, slices[0]))]
    with ThreadPoolExecutor(max_workers=len(slices)) as pool:
        return list(pool.map(write, enumerate(slices)))


def _file_count(rows: pa.Table, metadata: TableMetadata) -> int:
    """How many files: enough for the target file size, and one per core for large writes."""
    target = property_as_int(
        metadata.properties,
        TableProperties.WRITE_TARGET_FILE_SIZE_BYTES,
        TableProperties.WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT,
    )
    by_size = math.ceil(rows.nbytes / target) if target else 1
    by_cores = min(os.cpu_count() or 1, rows.num_rows // MIN_ROWS_PER_FILE)
    return max(1, by_size, by_cores)


def _slices(rows: pa.Table, count: int) -> list[pa.Table]:
    if rows.num_rows == 0:
        return [rows]
    step = math.ceil(rows.num_rows / count)
    return [rows.slice(start, step) for start in range(0, rows.num_rows, step)]


def _write_data_file(table: Table, rows: pa.Table, key: PartitionKey, name: str) -> DataFile:
    metadata = table.metadata
    schema = metadata.schema()
    location = load_location_provider(table_location=metadata.location, table_properties=metadata.properties)
    path = location.new_data_location(data_file_name=name, partition_key=key)
    if rows.num_rows and len(rows.to_batches()) * SMALL_CHUNK_ROWS > rows.num_rows:
        rows = rows.combine_chunks()  # many small files' chunks: one schema pass instead of one per chunk
    batches = [
        _to_requested_schema(
            requested_schema=schema, file_schema=schema, batch=batch, include_field_ids=True, format_model=_PARQUET
        )
        for batch in rows.to_batches()
    ]
    output = table.io.new_output(path)
    row_group_size = property_as_int(
        metadata.properties, TableProperties.PARQUET_ROW_GROUP_LIMIT, TableProperties.PARQUET_ROW_GROUP_LIMIT_DEFAULT
    )
    with output.create(overwrite=True) as stream:
        with pq.ParquetWriter(
            stream,
            schema=batches[0].schema,
            store_schema=False,
            store_decimal_as_integer=True,
            **_get_parquet_writer_kwargs(metadata.properties),
        ) as writer:
            writer.write_table(pa.Table.from_batches(batches), row_group_size=row_group_size)
        parquet_metadata = writer.writer.metadata
    statistics = data_file_statistics_from_parquet_metadata(
        parquet_metadata=parquet_metadata,
        stats_columns=compute_statistics_plan(schema, metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(schema),
    )
    return DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=key.partition,
        file_size_in_bytes=len(output),
        sort_order_id=None,
        spec_id=metadata.default_spec_id,
        equality_ids=None,
        key_metadata=None,
        **statistics.to_serialized_dict(),
    )
