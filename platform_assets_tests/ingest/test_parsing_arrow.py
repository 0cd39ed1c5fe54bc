"""The Arrow parser: types, NULL vs '', rejects, drift, encodings, formats."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing import (
    ENCODING_ERROR,
    PARSE_ERROR,
    READ_ERROR,
    REJECTS_SCHEMA,
    SCHEMA_DRIFT,
    ArrowParser,
    InputFile,
    ParseResult,
    rows_arrow_schema,
)

UTC = dt.UTC
SCHEMA = {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"}
ALL_TYPES = {
    "id": "string",
    "name": "string",
    "amount": "decimal(12,2)",
    "n": "int",
    "big": "bigint",
    "score": "double",
    "ok": "boolean",
    "day": "date",
    "ts": "timestamp",
}


def plain_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` with NaN as the text "NaN", so rows compare equal (NaN != NaN)."""
    return [
        {key: ("NaN" if isinstance(value, float) and math.isnan(value) else value) for key, value in row.items()}
        for row in rows
    ]


def source(**options: object) -> SourceSettings:
    return SourceSettings(url="file:///landing", **options)


def write(directory: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> InputFile:
    path = directory / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return InputFile(key=f"landing/{name}", path=str(path), sha256="0" * 64)


def parse(files: list[InputFile], src: SourceSettings, schema: dict[str, str]) -> ParseResult:
    return ArrowParser().parse(files, src, schema)


def rejects_of(result: ParseResult) -> list[tuple[str, int | None, str | None, str]]:
    return [(r["_source_file"], r["_line_number"], r["_raw"], r["_reason"]) for r in result.rejects.to_pylist()]


# ------------------------------------------------------------------ scenarios (shared with the parity test)

KITCHEN_SINK_CSV = (
    "id,name,amount,n,big,score,ok,day,ts\n"
    "a1,Alice,12.50,1,9000000000,1.5,true,2024-01-31,2024-01-31T10:00:00Z\n"
    'a2,"Smith, J",-0.5,-2147483648,-9223372036854775808,-1e10,FALSE,2024-02-29,2024-01-31 10:00:00.123456+02:00\n'
    'a3,"say ""hi""",+.5,2147483647,9223372036854775807,NaN,1,0001-01-01,2024-01-31\n'
    "a4,,5.,007,0,inf,0,1999-12-31,2024-01-31T23:59:59-05:30\n"
    'a5,"",9999999999.99, 42 ,1,-Infinity,True,2024-12-31,2024-06-01T00:00:00.5+1400\n'
    "a6,x,1.230,,,,,,\n"
    "a7,x,000000000000000000000000000000000000000012.5"
    "00000000000000000000000000000000000000,00000000000000000000042,,,,,\n"
    "\n"
    "b1,x,99999999999.99,1,1,1,true,2024-01-01,2024-01-01T00:00:00Z\n"
    "b2,x,1.234,1,1,1,true,2024-01-01,2024-01-01T00:00:00Z\n"
    "b3,x,1e2,1,1,1,true,2024-01-01,2024-01-01T00:00:00Z\n"
    "b4,x,abc,2147483648,9223372036854775808,1.5f,yes,2023-02-29,2024-01-01T24:00:00Z\n"
    "b5,x,0.1,0x10,1_000,0x1p3,t,0000-01-01,0000-01-01T00:00:00Z\n"
    "b6,x,0.1,+-1,--1,.,tru,2024-1-1,2024-01-01T10:00:00.1234567Z\n"
    "b7,x,0.1,1,1,1,true,2024-13-01,2024-01-01T10:00:00+15:00\n"
    "b8,x,0.1,1,1,-nan,true,2024-04-31,2024-01-01 10:00\n"
    'b9,"x  ",0.1,1,1,1,true,2024-01-01,2024-01-01T10:00:00z\n'
    "c1,only,three\n"
    "c2,a,1,1,1,1,true,2024-01-01,2024-01-01T10:00:00Z,extra\n"
    '"c3","quoted id","1.00","1","1","1","true","2024-01-01","2024-01-01T10:00:00Z"\n'
    'c4,"x"y,1,1,1,1,true,2024-01-01,2024-01-01T10:00:00Z\n'
    'c5,a"b,1,1,1,1,true,2024-01-01,2024-01-01T10:00:00Z\n'
    "c6,t, 1.5\t,1,1,1, true ,2024-01-01 ,2024-01-01T10:00:00Z\n"
    "\t\n"
    "c7,x,0.1,1,1,1,true,2024-01-01,2024-02-29T23:59:60Z\n"
    "c8,x,0.1,1,1,1,true,2024-01-01,2023-02-29T10:00:00Z\n"
)

REORDERED_CRLF = (
    "ts,day,ok,score,big,n,amount,name,id\r\n"
    "2024-03-01T00:00:00Z,2024-03-01,false,0.25,5,5,0.01,Reordered,r1\r\n"
    "\r\n"
    "not-a-time,2024-03-01,false,0.25,5,5,0.01,Bad ts,r2\r\n"
    "2024-03-01T00:00:00Z,2024-03-01,false,0.25,5,5,0.01,Lone CR,r3\r"
    "2024-03-01T00:00:00Z,2024-03-01,false,0.25,5,5,x,Bad amount,r4\n"
)


def kitchen_sink_csv(directory: Path) -> list[InputFile]:
    """Good and bad CSV rows over every type, in several files (one each of: BOM, drift, empty, header only)."""
    return [
        write(directory, "sink.csv", KITCHEN_SINK_CSV),
        write(directory, "reordered.csv", REORDERED_CRLF),
        write(
            directory,
            "bom.csv",
            b"\xef\xbb\xbf" + "id,name,amount,n,big,score,ok,day,ts\nbom1,é,1,1,1,1,true,2024-01-01,\n".encode(),
        ),
        write(directory, "drift.csv", "id,name,amount,n,big,score,ok,day,extra\n1,2,3,4,5,6,7,8,9\n"),
        write(directory, "dupe.csv", "id,id,amount,n,big,score,ok,day,ts\n"),
        write(directory, "blank_header.csv", "  \nx\n"),
        write(directory, "empty.csv", b""),
        write(directory, "header_only.csv", "\n\nid,name,amount,n,big,score,ok,day,ts\n\n"),
    ]


KITCHEN_SINK_JSON = "\n".join(
    [
        '{"id":"j1","amount":12.5,"n":1,"ok":true,"day":"2024-01-01","ts":"2024-01-01T10:00:00Z","score":1.5}',
        '{"id":"j2","amount":"12.50","n":"7","ok":"TRUE","day":"2024-01-01","ts":null,"score":"1e3"}',
        '{"id":"j3","amount":1.234,"n":1,"ok":true,"day":null,"ts":null,"score":1}',
        '{"id":"j4","amount":1e2,"n":1,"ok":true,"day":null,"ts":null,"score":1}',
        '{"id":"j5","amount":1,"n":1.0,"ok":true,"day":null,"ts":null,"score":1}',
        '{"id":"j6","amount":1,"n":99999999999,"ok":true,"day":null,"ts":null,"score":1}',
        '{"id":"j7","amount":1,"n":1,"ok":1,"day":null,"ts":null,"score":1}',
        '{"id":"j8","amount":1,"n":1,"ok":true,"day":20240101,"ts":null,"score":1}',
        '{"id":123,"amount":1,"n":1,"ok":true,"day":null,"ts":null,"score":1}',
        '{"id":"j9","amount":1,"n":{"a":1},"ok":true,"day":null,"ts":null,"score":[1]}',
        '{"id":"j10","amount":1,"n":1,"ok":"maybe","day":"2024-02-30","ts":"noon","score":true}',
        '{"id":"j11","amount":1,"n":1,"ok":true,"day":null,"ts":null,"score":1,"extra":1}',
        '{"id":"j12"}',
        "not json",
        "[1, 2]",
        '{"id":"a","id":"b","amount":1,"n":1,"ok":true,"day":null,"ts":null,"score":1}',
        '{"id":"j13","amount":1,"n":1,"ok":true,"day":null,"ts":null,"score":NaN}',
        "",
        "   ",
        '{"id":"","amount":null,"n":null,"ok":null,"day":null,"ts":null,"score":null}',
        '{"id":"j14","amount":-0.0,"n":-0,"ok":false,"day":" 2024-01-01 ","ts":"2024-01-01 10:00:00.5","score":-0.0}',
        '{"id":"j15","amount":0.0000001,"n":" 5 ","ok":"0","day":null,"ts":null,"score":12345678901234567890123}',
        '{"id":"j16","amount":100,"n":-2147483648,"ok":"false","day":null,"ts":null,"score":1E+2}',
        '{"id":"j17\\ny","amount":1,"n":1,"ok":true,"day":null,"ts":null,"score":0.1}',
        '  {"id":"j18","amount":"1.5e1","n":"+3","ok":true,"day":null,'
        '"ts":"2024-01-01T10:00:00+0100","score":"-inf"}  ',
        '{"id":"j19","amount":1,"n":1,"ok":true,"day":null,"ts":null,"score":1} trailing',
        "5 x",
        '"just a string"',
        "null",
    ]
)
JSON_SCHEMA = {
    "id": "string",
    "amount": "decimal(12,2)",
    "n": "int",
    "ok": "boolean",
    "day": "date",
    "ts": "timestamp",
    "score": "double",
}


def kitchen_sink_json(directory: Path) -> list[InputFile]:
    return [
        write(directory, "sink.jsonl", KITCHEN_SINK_JSON + "\r\n"),
        write(
            directory, "one.jsonl", '{"id":"o1","amount":"3","n":3,"ok":false,"day":"2024-05-05","ts":null,"score":3}'
        ),
        write(directory, "empty.jsonl", b""),
    ]


def parquet_files(directory: Path) -> list[InputFile]:
    """Exact types, widened types, drift (retyped, new, missing), nanoseconds, not Parquet."""
    ts = [dt.datetime(2024, 1, 1, 10, 0, tzinfo=UTC), None]
    exact = pa.table(
        {
            "id": pa.array(["p1", None], pa.string()),
            "amount": pa.array([Decimal("1.50"), Decimal("-2.25")], pa.decimal128(12, 2)),
            "n": pa.array([1, None], pa.int32()),
            "big": pa.array([2**40, -1], pa.int64()),
            "score": pa.array([0.5, None], pa.float64()),
            "ok": pa.array([True, False]),
            "day": pa.array([dt.date(2024, 1, 1), None], pa.date32()),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
        }
    )
    widened = pa.table(
        {
            "ts": pa.array([dt.datetime(2024, 1, 1, 10, 0), dt.datetime(2024, 6, 1)], pa.timestamp("ms")),
            "id": pa.array(["w1", "w2"]),
            "amount": pa.array([Decimal("1.5"), None], pa.decimal128(5, 1)),
            "n": pa.array([7, 8], pa.int16()),
            "big": pa.array([3, 4], pa.int32()),
            "score": pa.array([1.1, 2.5], pa.float32()),
            "ok": pa.array([None, True]),
            "day": pa.array([dt.date(2024, 2, 29), None], pa.date32()),
        }
    )
    drift = exact.drop_columns(["ok"]).set_column(2, "n", pa.array(["1", "2"])).append_column("extra", pa.array([1, 2]))
    nanos = exact.set_column(7, "ts", pa.array(ts, pa.timestamp("ns", tz="UTC")))
    files = []
    for name, table in (("exact", exact), ("widened", widened), ("drift", drift), ("nanos", nanos)):
        path = directory / f"{name}.parquet"
        pq.write_table(table, path)
        files.append(InputFile(key=f"landing/{name}.parquet", path=str(path), sha256="0" * 64))
    files.append(write(directory, "empty.parquet", b""))
    files.append(write(directory, "garbage.parquet", b"this is not parquet at all"))
    return files


PARQUET_SCHEMA = {
    "id": "string",
    "amount": "decimal(12,2)",
    "n": "int",
    "big": "bigint",
    "score": "double",
    "ok": "boolean",
    "day": "date",
    "ts": "timestamp",
}


def encoding_files(directory: Path) -> tuple[list[InputFile], list[InputFile]]:
    """(files declared latin-1 / cp1252, files declared utf-8) with good and undecodable content."""
    latin = [
        write(directory, "latin.csv", "id,name\n1,Müller\n2,Ångström\n", "latin-1"),
        write(directory, "cp1252.csv", b"id,name\n1,caf\xe9 \x80\n"),
        write(directory, "cp1252_bad.csv", b"id,name\n1,ok\n2,bad \x81 byte\n"),
    ]
    utf8 = [
        write(directory, "good.csv", "id,name\n1,Müller\n"),
        write(directory, "bad.csv", b"id,name\n1,ok\r\n2,caf\xe9\n"),
    ]
    return latin, utf8


# ---------------------------------------------------------------------------------------- tests


def test_every_type_and_null_versus_empty(tmp_path: Path) -> None:
    result = parse(kitchen_sink_csv(tmp_path)[:1], source(), ALL_TYPES)
    rows = {row["id"]: row for row in result.rows.to_pylist()}
    assert result.rows.schema == rows_arrow_schema(ALL_TYPES)
    assert rows["a1"] == {
        "id": "a1",
        "name": "Alice",
        "amount": Decimal("12.50"),
        "n": 1,
        "big": 9_000_000_000,
        "score": 1.5,
        "ok": True,
        "day": dt.date(2024, 1, 31),
        "ts": dt.datetime(2024, 1, 31, 10, 0, tzinfo=UTC),
        "_source_file": "landing/sink.csv",
        "_source_line": 2,
    }
    assert rows["a2"]["name"] == "Smith, J" and rows["a2"]["n"] == -(2**31) and rows["a2"]["big"] == -(2**63)
    assert rows["a2"]["ts"] == dt.datetime(2024, 1, 31, 8, 0, 0, 123456, tzinfo=UTC)
    assert rows["a3"]["name"] == 'say "hi"' and rows["a3"]["amount"] == Decimal("0.50") and rows["a3"]["ok"] is True
    assert rows["a3"]["ts"] == dt.datetime(2024, 1, 31, tzinfo=UTC) and rows["a3"]["day"] == dt.date(1, 1, 1)
    assert rows["a4"]["name"] is None and rows["a4"]["n"] == 7 and rows["a4"]["score"] == float("inf")
    assert rows["a4"]["ts"] == dt.datetime(2024, 2, 1, 5, 29, 59, tzinfo=UTC)
    assert rows["a5"]["name"] == "" and rows["a5"]["n"] == 42 and rows["a5"]["amount"] == Decimal("9999999999.99")
    assert rows["a5"]["ts"] == dt.datetime(2024, 5, 31, 10, 0, 0, 500000, tzinfo=UTC)
    assert rows["a6"]["amount"] == Decimal("1.23") and rows["a6"]["n"] is None and rows["a6"]["ts"] is None
    assert rows["a7"]["amount"] == Decimal("12.50") and rows["a7"]["n"] == 42
    assert rows["c3"]["name"] == "quoted id" and rows["c4"]["name"] == "xy" and rows["c5"]["name"] == 'a"b'
    assert (
        rows["c6"]["amount"] == Decimal("1.50")
        and rows["c6"]["ok"] is True
        and rows["c6"]["day"] == dt.date(2024, 1, 1)
    )


def test_bad_values_are_rejected_with_line_and_reason(tmp_path: Path) -> None:
    result = parse(kitchen_sink_csv(tmp_path)[:1], source(), ALL_TYPES)
    found = {(raw or "").split(",")[0]: (line, reason) for _, line, raw, reason in rejects_of(result)}
    assert found["b1"] == (10, "column amount: '99999999999.99' is not a decimal(12,2)")
    assert found["b2"] == (11, "column amount: '1.234' is not a decimal(12,2)")
    assert found["b3"] == (12, "column amount: '1e2' is not a decimal(12,2)")
    assert found["b4"] == (
        13,
        "column amount: 'abc' is not a decimal(12,2); column n: '2147483648' is not an int; "
        "column big: '9223372036854775808' is not a bigint; column score: '1.5f' is not a double; "
        "column ok: 'yes' is not a boolean; column day: '2023-02-29' is not a date; "
        "column ts: '2024-01-01T24:00:00Z' is not a timestamp",
    )
    assert found["b5"][1].count("is not") == 6
    assert found["b6"][1].count("is not") == 6
    assert (
        found["b7"][1]
        == "column day: '2024-13-01' is not a date; column ts: '2024-01-01T10:00:00+15:00' is not a timestamp"
    )
    assert found["b8"][1].count("is not") == 3
    assert found["b9"] == (18, "column ts: '2024-01-01T10:00:00z' is not a timestamp")
    assert found["c1"] == (19, "expected 9 columns, found 3")
    assert found["c2"] == (20, "expected 9 columns, found 10")
    assert found["\t"] == (25, "expected 9 columns, found 1")
    assert found["c7"][0] == 26 and found["c8"][0] == 27
    assert result.rows_per_file == {"landing/sink.csv": 11}
    assert result.rejects_per_file == {"landing/sink.csv": 14}
    assert result.rejects.schema == REJECTS_SCHEMA


def test_header_in_any_order_crlf_and_lone_cr(tmp_path: Path) -> None:
    result = parse(kitchen_sink_csv(tmp_path)[1:2], source(), ALL_TYPES)
    assert [row["id"] for row in result.rows.to_pylist()] == ["r1", "r3"]
    assert result.rows.column("name").to_pylist() == ["Reordered", "Lone CR"]
    assert rejects_of(result) == [
        (
            "landing/reordered.csv",
            4,
            "not-a-time,2024-03-01,false,0.25,5,5,0.01,Bad ts,r2",
            "column ts: 'not-a-time' is not a timestamp",
        ),
        (
            "landing/reordered.csv",
            6,
            "2024-03-01T00:00:00Z,2024-03-01,false,0.25,5,5,x,Bad amount,r4",
            "column amount: 'x' is not a decimal(12,2)",
        ),
    ]


def test_drift_blank_header_empty_and_header_only_files(tmp_path: Path) -> None:
    files = kitchen_sink_csv(tmp_path)
    result = parse(files[2:], source(), ALL_TYPES)
    errors = result.file_errors
    assert set(errors) == {"landing/drift.csv", "landing/dupe.csv", "landing/blank_header.csv"}
    drift = errors["landing/drift.csv"]
    assert drift.error_type == SCHEMA_DRIFT
    assert "landing/drift.csv" in drift.message and "new column extra; missing column ts" in drift.message
    assert (
        "missing column name" in errors["landing/dupe.csv"].message
        and "column id appears 2 times" in errors["landing/dupe.csv"].message
    )
    assert errors["landing/blank_header.csv"].error_type == PARSE_ERROR
    assert result.rows_per_file == {"landing/bom.csv": 1, "landing/empty.csv": 0, "landing/header_only.csv": 0}
    assert result.rows.column("id").to_pylist() == ["bom1"] and result.rows.column("name").to_pylist() == ["é"]
    assert result.rejects.num_rows == 0


def test_multiline_quoted_values_keep_physical_line_numbers(tmp_path: Path) -> None:
    content = (
        'id,name,amount,updated\n1,"two\nlines",1.00,2024-01-01\n\n2,"three\r\nphysical\nlines",x,2024-01-01\n'
        "3,ok,1,2024-01-01,extra\n"
    )
    result = parse([write(tmp_path, "multi.csv", content)], source(), SCHEMA)
    assert result.rows.column("name").to_pylist() == ["two\nlines"]
    assert rejects_of(result) == [
        (
            "landing/multi.csv",
            5,
            '2,"three\r\nphysical\nlines",x,2024-01-01',
            "column amount: 'x' is not a decimal(12,2)",
        ),
        ("landing/multi.csv", 8, "3,ok,1,2024-01-01,extra", "expected 4 columns, found 5"),
    ]


def test_no_header_custom_delimiter_and_escape(tmp_path: Path) -> None:
    content = 'a;plain;1;2024-01-01\nb;"semi\\;colon \\"q\\"";2;2024-01-02\nc;back\\;slash;3;2024-01-03\nd;short\n'
    src = source(header=False, delimiter=";", escape="\\")
    result = parse([write(tmp_path, "semi.csv", content)], src, SCHEMA)
    assert result.rows.column("name").to_pylist() == ["plain", 'semi;colon "q"', "back;slash"]
    assert rejects_of(result) == [("landing/semi.csv", 4, "d;short", "expected 4 columns, found 2")]


def test_encodings(tmp_path: Path) -> None:
    latin, utf8 = encoding_files(tmp_path)
    result = parse(latin[:1], source(encoding="latin-1"), {"id": "int", "name": "string"})
    assert result.rows.column("name").to_pylist() == ["Müller", "Ångström"]
    result = parse(latin[1:], source(encoding="cp1252"), {"id": "int", "name": "string"})
    assert result.rows.column("name").to_pylist() == ["café €"]
    error = result.file_errors["landing/cp1252_bad.csv"]
    assert error.error_type == ENCODING_ERROR and "byte 0x81 at line 3" in error.message
    result = parse(utf8, source(), {"id": "int", "name": "string"})
    assert result.rows_per_file == {"landing/good.csv": 1}
    error = result.file_errors["landing/bad.csv"]
    assert error.error_type == ENCODING_ERROR
    assert (
        "landing/bad.csv" in error.message
        and "utf-8" in error.message
        and "byte 0xE9 at line 3 (byte offset 19)" in error.message
    )


def test_json_lines(tmp_path: Path) -> None:
    result = parse(kitchen_sink_json(tmp_path), source(format="json"), JSON_SCHEMA)
    rows = {row["id"]: row for row in result.rows.to_pylist()}
    assert rows["j1"]["amount"] == Decimal("12.50") and rows["j1"]["ok"] is True
    assert rows["j2"]["n"] == 7 and rows["j2"]["ok"] is True and rows["j2"]["score"] == 1000.0
    assert rows[""]["amount"] is None and rows[""]["id"] == ""
    assert rows["j14"]["day"] == dt.date(2024, 1, 1) and rows["j14"]["ts"] == dt.datetime(
        2024, 1, 1, 10, 0, 0, 500000, tzinfo=UTC
    )
    assert rows["j17\ny"]["score"] == 0.1
    assert rows["o1"]["amount"] == Decimal("3.00")
    reasons = {line: reason for _, line, _, reason in rejects_of(result)}
    assert reasons[3] == "column amount: a JSON number is not a decimal(12,2)"
    assert reasons[5] == "column n: a JSON number is not an int"
    assert reasons[7] == "column ok: a JSON number is not a boolean"
    assert reasons[9] == "column id: a JSON number is not a string"
    assert reasons[10] == "column n: a JSON object is not an int; column score: a JSON array is not a double"
    assert reasons[11] == (
        "column ok: 'maybe' is not a boolean; column day: '2024-02-30' is not a date; "
        "column ts: 'noon' is not a timestamp; column score: a JSON boolean is not a double"
    )
    assert reasons[12] == "unknown column(s): extra"
    assert reasons[13] == "missing column(s): amount, n, ok, day, ts, score"
    assert reasons[14] == "invalid JSON" and reasons[15] == "not a JSON object"
    assert reasons[16] == "invalid JSON" and reasons[17] == "invalid JSON"
    assert [reasons[26], reasons[27], reasons[28], reasons[29]] == [
        "invalid JSON",
        "invalid JSON",
        "not a JSON object",
        "not a JSON object",
    ]
    assert result.rows_per_file["landing/empty.jsonl"] == 0 and result.rows_per_file["landing/one.jsonl"] == 1


def test_parquet_widening_and_drift(tmp_path: Path) -> None:
    result = parse(parquet_files(tmp_path), source(format="parquet"), PARQUET_SCHEMA)
    assert result.rows.schema == rows_arrow_schema(PARQUET_SCHEMA)
    rows = result.rows.to_pylist()
    assert [row["id"] for row in rows] == ["p1", None, "w1", "w2"]
    assert rows[2]["amount"] == Decimal("1.50") and rows[2]["big"] == 3 and rows[2]["n"] == 7
    assert rows[2]["ts"] == dt.datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    drift = result.file_errors["landing/drift.parquet"]
    assert drift.error_type == SCHEMA_DRIFT
    assert "new column extra; missing column ok; column n was int now string" in drift.message
    assert "nanoseconds" in result.file_errors["landing/nanos.parquet"].message
    assert result.file_errors["landing/garbage.parquet"].error_type == PARSE_ERROR
    assert result.rows_per_file == {
        "landing/exact.parquet": 2,
        "landing/widened.parquet": 2,
        "landing/empty.parquet": 0,
    }


def test_missing_file_and_duplicate_keys(tmp_path: Path) -> None:
    missing = InputFile(key="landing/gone.csv", path=str(tmp_path / "gone.csv"), sha256="0" * 64)
    result = parse([missing], source(), SCHEMA)
    assert result.file_errors["landing/gone.csv"].error_type == READ_ERROR
    assert result.rows.num_rows == 0 and result.rows_per_file == {}
    item = write(tmp_path, "a.csv", "id,name,amount,updated\n")
    with pytest.raises(ValueError, match="given twice"):
        parse([item, item], source(), SCHEMA)


def test_many_files_in_one_call_keep_order_and_counts(tmp_path: Path) -> None:
    files = [
        write(
            tmp_path,
            f"f{index}.csv",
            "id,name,amount,updated\n"
            + "".join(f"{index}-{row},n,{row}.5,2024-01-01\n" for row in range(index))
            + "bad\n",
        )
        for index in range(6)
    ]
    result = parse(files, source(), SCHEMA)
    assert result.rows_per_file == {f"landing/f{index}.csv": index for index in range(6)}
    assert result.rejects_per_file == {f"landing/f{index}.csv": 1 for index in range(6)}
    assert result.rows.column("id").to_pylist() == [f"{index}-{row}" for index in range(6) for row in range(index)]
    assert [line for _, line, _, _ in rejects_of(result)] == [index + 2 for index in range(6)]


CAST_CASES = {
    "int": ["1", "+5", "-0", "007", "2147483647", "-2147483648", "2147483648", "0x10", " 3 ", "", "1.0", "+-1"],
    "bigint": ["9223372036854775807", "-9223372036854775808", "9223372036854775808", "00000000000000000000042", "1e3"],
    "double": ["1.5", "-1e-3", ".5", "5.", "NaN", "-inf", "Infinity", "+nan", "1.5f", "0x1p3", "1e400", "."],
    "decimal(5,2)": ["999.99", "1000", "-0.5", "+.5", "5.", "1.230", "1.234", "1e2", "0001.10", "abc", "."],
    "decimal(2,2)": ["0.99", "-.01", "1", "0", "0.999", "00.10"],
    "boolean": ["true", "FALSE", "tRuE", "1", "0", "yes", "01", " true"],
    "date": [
        "2024-02-29",
        "2023-02-29",
        "0000-01-01",
        "0001-01-01",
        "2024-1-01",
        "2024-04-31",
        "9999-12-31",
        " 2024-01-01",
    ],
    "timestamp": [
        "2024-01-01",
        "2024-01-01T10:00:00",
        "2024-01-01 10:00:00.123456Z",
        "2024-01-01T10:00:00+05:30",
        "2024-01-01T10:00:00-0800",
        "2024-01-01T10:00:00+14",
        "2024-01-01T10:00:00+15:00",
        "2024-01-01T24:00:00Z",
        "2024-01-01T10:60:00Z",
        "2024-01-01T10:00:00.1234567Z",
        "2024-01-01T10:00Z",
        "0000-01-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
    ],
}


@pytest.mark.parametrize("column_type", list(CAST_CASES))
def test_one_kernel_and_full_cast_paths_agree(column_type: str) -> None:
    from platform_assets.ingest.parsing.arrow_casting import cast_text

    values = CAST_CASES[column_type]
    batch_typed, batch_bad = cast_text(pa.array(values, pa.string()), column_type)
    assert batch_bad is not None  # every case list holds a bad value: the batch takes the full path
    for index, value in enumerate(values):
        typed, bad = cast_text(pa.array([value], pa.string()), column_type)
        assert typed.to_pylist() == batch_typed[index : index + 1].to_pylist() or value.lower() == "nan", value
        assert (bad is not None and bad[0].as_py()) == batch_bad[index].as_py(), value


def test_rows_and_rejects_come_grouped_by_file_in_count_order(tmp_path: Path) -> None:
    """``ParseResult.grouped``: the processing step labels rows from the per-file counts, so they must line up."""
    result = ArrowParser().parse(kitchen_sink_csv(tmp_path), source(), ALL_TYPES)
    assert result.grouped and len(result.rows_per_file) > 2 and result.rejects.num_rows > 0
    for table, counts in ((result.rows, result.rows_per_file), (result.rejects, result.rejects_per_file)):
        derived = [key for key, count in counts.items() for _ in range(count)]
        assert table["_source_file"].to_pylist() == derived


def test_memory_mapped_files_parse_as_read_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Large CSV files are memory-mapped instead of read: the same rows, rejects, counts and errors (BOM included)."""
    from platform_assets.ingest.parsing import arrow_parser

    files = kitchen_sink_csv(tmp_path)
    read = ArrowParser().parse(files, source(), ALL_TYPES)
    monkeypatch.setattr(arrow_parser, "MAP_MIN_BYTES", 1)
    mapped = ArrowParser().parse(files, source(), ALL_TYPES)
    assert plain_rows(mapped.rows.to_pylist()) == plain_rows(read.rows.to_pylist())
    assert mapped.rejects.to_pylist() == read.rejects.to_pylist()
    assert (mapped.rows_per_file, mapped.rejects_per_file, mapped.file_errors) == (
        read.rows_per_file,
        read.rejects_per_file,
        read.file_errors,
    )
    assert read.rejects.num_rows > 0 and read.file_errors
