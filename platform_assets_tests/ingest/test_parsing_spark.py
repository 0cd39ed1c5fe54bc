"""The Spark engine gives the Arrow engine's results: same rows, rejects, counts and file errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from platform_assets.config import SourceSettings, SparkSettings
from platform_assets.ingest.parsing import ArrowEngine, InputFile, ParseResult, make_engine
from platform_assets.ingest.parsing.spark_engine import UNTERMINATED_REASON, SparkEngine
from platform_assets.ingest.spark_session import get_spark_session
from platform_assets_tests.ingest.test_parsing_arrow import (
    ALL_TYPES,
    CAST_CASES,
    JSON_SCHEMA,
    PARQUET_SCHEMA,
    SCHEMA,
    encoding_files,
    kitchen_sink_csv,
    kitchen_sink_json,
    parquet_files,
    source,
    write,
)

pytestmark = pytest.mark.spark


def _plain(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: ("NaN" if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()} for row in rows]


def assert_same(files: list[InputFile], src: SourceSettings, schema: dict[str, str], spark_session: Any) -> ParseResult:
    """Parse with both engines and compare everything; returns the Spark result."""
    arrow = ArrowEngine().parse(files, src, schema)
    spark = SparkEngine(spark_session).parse(files, src, schema)
    assert spark.rows.schema == arrow.rows.schema
    assert spark.rejects.schema == arrow.rejects.schema
    keys = [(name, "ascending") for name in ["_source_file", *schema]]
    assert _plain(spark.rows.sort_by(keys).to_pylist()) == _plain(arrow.rows.sort_by(keys).to_pylist())
    reject_keys = [("_source_file", "ascending"), ("_line_number", "ascending"), ("_reason", "ascending")]
    assert spark.rejects.sort_by(reject_keys).to_pylist() == arrow.rejects.sort_by(reject_keys).to_pylist()
    assert _plain(spark.rows.to_pylist()) == _plain(arrow.rows.to_pylist())  # the same order, too
    assert spark.rows_per_file == arrow.rows_per_file
    assert spark.rejects_per_file == arrow.rejects_per_file
    assert spark.file_errors == arrow.file_errors
    return spark


def test_csv_kitchen_sink_matches_arrow(tmp_path: Path, spark_session: Any) -> None:
    result = assert_same(kitchen_sink_csv(tmp_path), source(), ALL_TYPES, spark_session)
    assert result.rows.num_rows == 14 and result.rejects.num_rows == 16 and len(result.file_errors) == 3


def test_cast_cases_match(tmp_path: Path, spark_session: Any) -> None:
    columns = {f"c{index}": column_type for index, column_type in enumerate(CAST_CASES)}
    height = max(len(values) for values in CAST_CASES.values())
    lines = [",".join(columns)]
    for row in range(height):
        cells = [f'"{values[row]}"' if row < len(values) else "" for values in CAST_CASES.values()]
        lines.append(",".join(cells))
    result = assert_same([write(tmp_path, "cases.csv", "\n".join(lines) + "\n")], source(), columns, spark_session)
    assert result.rows.num_rows + result.rejects.num_rows == height and result.rejects.num_rows > 0


def test_no_header_delimiter_escape_and_many_files_match(tmp_path: Path, spark_session: Any) -> None:
    content = 'a;plain;1;2024-01-01\nb;"semi\\;colon \\"q\\"";2;2024-01-02\nc;back\\;slash;3;2024-01-03\nd;short\n'
    files = [write(tmp_path, "semi.csv", content), write(tmp_path, "semi2.csv", "e;;;\nf;\"\";0;2024-01-01\n")]
    assert_same(files, source(header=False, delimiter=";", escape="\\"), SCHEMA, spark_session)
    many = [
        write(tmp_path, f"f{index}.csv", "id,name,amount,updated\n" + "".join(f"{index}-{row},n,{row}.5,2024-01-01\n" for row in range(index)) + "bad\n")
        for index in range(5)
    ]
    assert_same(many, source(), SCHEMA, spark_session)


def test_encodings_match(tmp_path: Path, spark_session: Any) -> None:
    latin, utf8 = encoding_files(tmp_path)
    schema = {"id": "int", "name": "string"}
    assert_same(latin[:1], source(encoding="latin-1"), schema, spark_session)
    result = assert_same(latin[1:], source(encoding="cp1252"), schema, spark_session)
    assert "byte 0x81 at line 3" in result.file_errors["landing/cp1252_bad.csv"].message
    result = assert_same(utf8, source(), schema, spark_session)
    assert "byte 0xE9 at line 3 (byte offset 19)" in result.file_errors["landing/bad.csv"].message


def test_json_lines_match(tmp_path: Path, spark_session: Any) -> None:
    result = assert_same(kitchen_sink_json(tmp_path), source(format="json"), JSON_SCHEMA, spark_session)
    assert result.rows.num_rows == 7 and result.rejects.num_rows == 21


def test_parquet_matches(tmp_path: Path, spark_session: Any) -> None:
    result = assert_same(parquet_files(tmp_path), source(format="parquet"), PARQUET_SCHEMA, spark_session)
    assert result.rows.num_rows == 4 and len(result.file_errors) == 3


def test_quoted_values_spanning_lines_are_rejected_by_spark(tmp_path: Path, spark_session: Any) -> None:
    item = write(tmp_path, "multi.csv", 'id,name,amount,updated\n1,"two\nlines",1.00,2024-01-01\n2,ok,1,2024-01-01\n')
    result = SparkEngine(spark_session).parse([item], source(), SCHEMA)
    assert result.rows.column("id").to_pylist() == ["2"]
    assert [(r["_line_number"], r["_reason"]) for r in result.rejects.to_pylist()] == [
        (2, UNTERMINATED_REASON),
        (3, "expected 4 columns, found 3"),
    ]


def test_one_spark_job_per_call_and_utc_session(tmp_path: Path, spark_session: Any) -> None:
    names = ["plain.csv", "with space.csv", "glob[1]*?.csv", "percent%20é.csv"]
    files = [write(tmp_path, name, f"id,name,amount,updated\n{name},y,1,2024-01-01\n") for name in names]
    context = spark_session.sparkContext
    context.setJobGroup("parsing-one-job", "parse", interruptOnCancel=False)
    try:
        result = make_engine("spark", spark_session).parse(files, source(), SCHEMA)
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    assert result.rows.column("id").to_pylist() == names
    assert result.rows.column("_source_file").to_pylist() == [f"landing/{name}" for name in names]
    assert len(context.statusTracker().getJobIdsForGroup("parsing-one-job")) == 1
    assert spark_session.conf.get("spark.sql.session.timeZone") == "UTC"
    assert get_spark_session(SparkSettings(master="local[2]")) is spark_session
