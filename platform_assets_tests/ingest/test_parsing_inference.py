"""Schema inference, drift messages and the declared-type mapping."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.column_types import DATE, INT, STRING, ColumnType
from platform_assets.ingest.parsing import (
    ArrowParser,
    InferenceError,
    InputFile,
    arrow_type,
    declared_arrow_schema,
    header_differences,
    infer_schema,
    parquet_differences,
    schema_differences,
)
from platform_assets.ingest.parsing.types import parquet_castable
from platform_assets_tests.ingest.test_parsing_arrow import source, write


def texts(columns: dict[str, ColumnType]) -> dict[str, str]:
    """Inferred columns with each type as its canonical text (every value must be a ColumnType)."""
    assert all(isinstance(column_type, ColumnType) for column_type in columns.values())
    return {name: str(column_type) for name, column_type in columns.items()}


def test_declared_types_map_to_arrow() -> None:
    schema = declared_arrow_schema(
        {
            "s": "string",
            "i": "int",
            "b": "BIGINT",
            "d": "double",
            "f": "boolean",
            "day": "date",
            "t": "timestamp",
            "m": "decimal(12, 2)",
        }
    )
    assert schema.types == [
        pa.string(),
        pa.int32(),
        pa.int64(),
        pa.float64(),
        pa.bool_(),
        pa.date32(),
        pa.timestamp("us", tz="UTC"),
        pa.decimal128(12, 2),
    ]
    with pytest.raises(ValueError, match="unknown column type"):
        arrow_type("varchar")


def test_parquet_castable_allows_only_lossless_reads() -> None:
    assert parquet_castable(pa.int32(), "bigint") and parquet_castable(pa.float32(), "double")
    assert parquet_castable(pa.decimal128(5, 1), "decimal(12,2)") and parquet_castable(pa.int32(), "decimal(12,2)")
    assert parquet_castable(pa.timestamp("ms"), "timestamp") and parquet_castable(pa.large_string(), "string")
    assert not parquet_castable(pa.int64(), "int") and not parquet_castable(pa.decimal128(12, 3), "decimal(12,2)")
    assert not parquet_castable(pa.int64(), "double") and not parquet_castable(pa.string(), "int")
    assert not parquet_castable(pa.timestamp("ns"), "timestamp") and not parquet_castable(pa.int64(), "decimal(12,2)")


def test_differences_list_each_change() -> None:
    expected = {"id": STRING, "amount": ColumnType.decimal(12, 2), "n": INT}
    found = {"id": STRING, "n": STRING, "extra": DATE}
    assert schema_differences(expected, found) == [
        "new column extra",
        "missing column amount",
        "column n was int now string",
    ]
    assert schema_differences(expected, dict(expected)) == []
    assert header_differences(["id", "name"], ["name", "id"]) == []
    assert header_differences(["id", "name"], ["id", "id", "first name"]) == [
        'new column "first name"',
        "missing column name",
        "column id appears 2 times",
    ]
    parquet = pa.schema([("id", pa.string()), ("amount", pa.float64()), ("n", pa.int64())])
    assert parquet_differences(expected, parquet) == [
        "column amount was decimal(12,2) now double",
        "column n was int now bigint",
    ]


def test_infer_from_csv(tmp_path: Path) -> None:
    content = (
        "id,code,amount,count,ok,day,ts,empty,mixed\n"
        "a,007,1.50,10,true,2024-01-01,2024-01-01T10:00:00Z,,1\n"
        "b,008,-2,-3,FALSE,2024-02-29,2024-01-02 10:00:00,,x\n"
    )
    files = [write(tmp_path, "empty.csv", b""), write(tmp_path, "first.csv", content)]
    inferred = infer_schema(files, source())
    assert texts(inferred) == {
        "id": "string",
        "code": "string",
        "amount": "double",
        "count": "bigint",
        "ok": "boolean",
        "day": "date",
        "ts": "timestamp",
        "empty": "string",
        "mixed": "string",
    }
    result = ArrowParser().parse(files, source(), inferred)
    assert result.rows_per_file == {"landing/empty.csv": 0, "landing/first.csv": 2} and result.rejects.num_rows == 0


def test_infer_without_header_and_from_json(tmp_path: Path) -> None:
    item = write(tmp_path, "plain.csv", "1;x\n2;y\n")
    assert texts(infer_schema([item], source(header=False, delimiter=";"))) == {"col_1": "bigint", "col_2": "string"}
    lines = (
        '{"id":"a","n":1,"x":1.5,"ok":true,"day":"2024-01-01","o":{"k":1}}\n'
        '{"id":"b","n":2,"x":2,"ok":null,"day":null,"o":null}\n'
    )
    item = write(tmp_path, "data.jsonl", lines)
    assert texts(infer_schema([item], source(format="json"))) == {
        "id": "string",
        "n": "bigint",
        "x": "double",
        "ok": "boolean",
        "day": "date",
        "o": "string",
    }


def test_infer_from_parquet(tmp_path: Path) -> None:
    table = pa.table(
        {
            "id": pa.array(["a"]),
            "n": pa.array([1], pa.int32()),
            "big": pa.array([1], pa.int64()),
            "amount": pa.array([Decimal("1.5")], pa.decimal128(10, 3)),
            "day": pa.array([dt.date(2024, 1, 1)]),
            "ts": pa.array([dt.datetime(2024, 1, 1)], pa.timestamp("us")),
            "f": pa.array([0.5], pa.float32()),
        }
    )
    path = tmp_path / "data.parquet"
    pq.write_table(table, path)
    item = InputFile(key="landing/data.parquet", path=str(path), sha256="0" * 64)
    assert texts(infer_schema([item], source(format="parquet"))) == {
        "id": "string",
        "n": "int",
        "big": "bigint",
        "amount": "decimal(10,3)",
        "day": "date",
        "ts": "timestamp",
        "f": "double",
    }


def test_inference_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(InferenceError, match="no file holds data"):
        infer_schema([write(tmp_path, "empty.csv", b"")], source())
    with pytest.raises(InferenceError, match='"first name"'):
        infer_schema([write(tmp_path, "names.csv", "id,first name\n1,a\n")], source())
    with pytest.raises(InferenceError, match="platform column"):
        infer_schema([write(tmp_path, "reserved.csv", "id,_version\n1,2\n")], source())
