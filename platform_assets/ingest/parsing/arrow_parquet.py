"""The Arrow parser's Parquet reader: the declared columns, each of a type that reads without loss."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from platform_assets.column_types import ColumnType
from platform_assets.ingest.parsing.arrow_casting import rows_table, single_chunk
from platform_assets.ingest.parsing.drift import parquet_differences
from platform_assets.ingest.parsing.result import FilePart, InputFile, drift_error, parse_error
from platform_assets.ingest.parsing.types import arrow_type


def parse_parquet(item: InputFile, schema: dict[str, ColumnType]) -> FilePart:
    try:
        parquet = pq.ParquetFile(item.path)
        differences = parquet_differences(schema, parquet.schema_arrow)
        if differences:
            return FilePart(error=drift_error(item.key, differences))
        table = parquet.read(columns=list(schema), use_threads=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        return FilePart(error=parse_error(item.key, f"not a readable Parquet file ({error})"))
    columns = [cast_parquet(single_chunk(table.column(name)), column_type) for name, column_type in schema.items()]
    lines = pa.array(np.arange(1, table.num_rows + 1, dtype=np.int64))  # the row ordinal + 1
    return FilePart(rows=rows_table(item.key, schema, columns, None, lines))


def cast_parquet(values: pa.Array, column_type: ColumnType) -> pa.Array:
    target = arrow_type(column_type)
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if pa.types.is_timestamp(values.type) and values.type.tz is None:
        values = values.cast(pa.timestamp(values.type.unit)).cast(pa.timestamp(values.type.unit, tz="UTC"))
    return values.cast(target)
