"""The Spark parser gives the Arrow parser's results: same rows, rejects, counts and file errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from platform_assets.config import SourceSettings, SparkSettings
from platform_assets.ingest.parsing import ArrowParser, InputFile, ParseResult, make_parser
from platform_assets.ingest.parsing.spark_parser import UNTERMINATED_REASON, SparkParser
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
    plain_rows,
    source,
    write,
)

pytestmark = pytest.mark.spark


def assert_same(files: list[InputFile], src: SourceSettings, schema: dict[str, str], spark_session: Any) -> ParseResult:
    """Parse with both parsers and compare everything; returns the Spark result."""
    arrow = ArrowParser().parse(files, src, schema)
    spark = SparkParser(spark_session).parse(files, src, schema)
    assert spark.rows.schema == arrow.rows.schema
    assert spark.rejects.schema == arrow.rejects.schema
    keys = [(name, "ascending") for name in ["_source_file", *schema]]
    assert plain_rows(spark.rows.sort_by(keys).to_pylist()) == plain_rows(arrow.rows.sort_by(keys).to_pylist())
    reject_keys = [("_source_file", "ascending"), ("_line_number", "ascending"), ("_reason", "ascending")]
    assert spark.rejects.sort_by(reject_keys).to_pylist() == arrow.rejects.sort_by(reject_keys).to_pylist()
    assert plain_rows(spark.rows.to_pylist()) == plain_rows(arrow.rows.to_pylist())  # the same order, too
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
    files = [write(tmp_path, "semi.csv", content), write(tmp_path, "semi2.csv", 'e;;;\nf;"";0;2024-01-01\n')]
    assert_same(files, source(header=False, delimiter=";", escape="\\"), SCHEMA, spark_session)
    many = [
        write(
            tmp_path,
            f"f{index}.csv",
            "id,name,amount,updated\n"
            + "".join(f"{index}-{row},n,{row}.5,2024-01-01\n" for row in range(index))
            + "bad\n",
        )
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
    result = SparkParser(spark_session).parse([item], source(), SCHEMA)
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
        result = make_parser("spark", spark_session).parse(files, source(), SCHEMA)
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    assert result.rows.column("id").to_pylist() == names
    assert result.rows.column("_source_file").to_pylist() == [f"landing/{name}" for name in names]
    assert len(context.statusTracker().getJobIdsForGroup("parsing-one-job")) == 1
    assert spark_session.conf.get("spark.sql.session.timeZone") == "UTC"
    assert get_spark_session(SparkSettings(master="local[2]")) is spark_session


# ------------------------------------------------------------------ big files, line numbers, jobs


def _csv_lines(rows: int, header: bool) -> list[str]:
    """Good rows with bad ones, blank and repeated-header lines sprinkled through (about 35 bytes a row)."""
    lines = ["id,name,amount,updated"] if header else []
    for n in range(rows):
        if n % 9973 == 5:
            lines.append(f"b{n},bad,{n}x,2024-01-01")
        elif n % 7919 == 7:
            lines.append(f"c{n},short")
        elif n % 15013 == 11:
            lines.append("")
        elif n % 20011 == 13:
            lines.append("id,name,amount,updated")  # data, not a header: amount 'amount' is rejected
        elif n % 25013 == 17:
            lines.append(" \t")
        elif n % 30011 == 19:
            lines.append(f'q{n},"quoted, name",{n}.5,2024-01-01')
        else:
            lines.append(f"k{n},name {n},{n % 1000}.{n % 100:02d},2024-{1 + n % 12:02d}-{1 + n % 28:02d}")
    return lines


def test_files_read_in_several_blocks_match_arrow(tmp_path: Path, spark_session: Any) -> None:
    rows = 120_000
    files = [
        write(tmp_path, "lf.csv", "\n".join(_csv_lines(rows, True)) + "\n"),
        write(tmp_path, "crlf_bom.csv", b"\xef\xbb\xbf" + ("\r\n\r\n" + "\r\n".join(_csv_lines(rows, True))).encode()),
        write(tmp_path, "small.csv", "id,name,amount,updated\nid,name,amount,updated\ns1,x,1,2024-01-01\n"),
    ]
    size = sum(Path(item.path).stat().st_size for item in files)
    block = int(SparkParser(spark_session).main_settings(size)["spark.sql.files.maxPartitionBytes"])
    assert block * 2 < Path(files[0].path).stat().st_size  # each big file is read as several blocks
    result = assert_same(files, source(), SCHEMA, spark_session)
    assert result.rejects_per_file["landing/lf.csv"] > 20 and result.rejects_per_file["landing/small.csv"] == 1
    bare = [write(tmp_path, "bare_bom.csv", b"\xef\xbb\xbf" + "\n".join(_csv_lines(rows, False)).encode())]
    assert_same(bare, source(header=False), SCHEMA, spark_session)
    json_lines = [(f'{{"id":"{n}","n":{"x" if n % 10007 == 3 else n}}}' if n % 13001 else "  ") for n in range(rows)]
    jsonl = [write(tmp_path, "big.jsonl", "\ufeff" + "\r\n".join(json_lines))]
    result = assert_same(jsonl, source(format="json"), {"id": "string", "n": "bigint"}, spark_session)
    assert result.rejects.num_rows == len(range(3, rows, 10007))


def test_line_numbers_by_lookup_or_by_judging_again(
    tmp_path: Path, spark_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platform_assets.ingest.parsing import spark_text

    files = kitchen_sink_csv(tmp_path)
    assert_same(files, source(), ALL_TYPES, spark_session)
    monkeypatch.setattr(spark_text, "_MATCH_TEXTS", 0)  # too many texts to look up: judge every line again
    assert_same(files, source(), ALL_TYPES, spark_session)
    assert_same(kitchen_sink_json(tmp_path), source(format="json"), JSON_SCHEMA, spark_session)


def _jobs(spark_session: Any, group: str, run: Any) -> int:
    context = spark_session.sparkContext
    context.setJobGroup(group, "parse", interruptOnCancel=False)
    try:
        run()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    return len(context.statusTracker().getJobIdsForGroup(group))


def test_a_second_job_only_for_files_with_rejects(tmp_path: Path, spark_session: Any) -> None:
    parser = SparkParser(spark_session)
    clean = [
        write(tmp_path, f"clean{index}.csv", f"id,name,amount,updated\n{index},x,1,2024-01-01\n") for index in range(40)
    ]
    assert _jobs(spark_session, "clean-call", lambda: parser.parse(clean, source(), SCHEMA)) == 1
    dirty = clean + [write(tmp_path, "dirty.csv", "id,name,amount,updated\nd,x,oops,2024-01-01\n")]
    assert _jobs(spark_session, "dirty-call", lambda: parser.parse(dirty, source(), SCHEMA)) == 2


def test_encodings_decoded_on_the_driver_match(tmp_path: Path, spark_session: Any) -> None:
    schema = {"id": "int", "name": "string"}
    utf16 = [
        write(tmp_path, "utf16.csv", "id,name\r\n1,Grüße\r\n2,x,extra\r\n\r\n3,日本\r\n", "utf-16"),
        write(tmp_path, "utf16_bad.csv", "id,name\n1,ok\n".encode("utf-16-le") + b"\x00\xd8\x41\x00"),
    ]
    assert_same(utf16, source(encoding="utf-16"), schema, spark_session)
    # ISO-8859-1 bytes that look like a UTF-8 byte-order mark are text, not a mark
    latin = [write(tmp_path, "latin_mark.csv", b"\xef\xbb\xbf1,a\n2,\xe9\n")]
    assert_same(latin, source(encoding="latin-1", header=False), schema, spark_session)
    bom_mark = [write(tmp_path, "cp_mark.csv", b"\xef\xbb\xbfid,name\n1,\x80\n")]
    assert_same(bom_mark, source(encoding="cp1252"), schema, spark_session)


def test_undecodable_bytes_win_over_header_errors(tmp_path: Path, spark_session: Any) -> None:
    files = [
        write(tmp_path, "drift_bad.csv", b"id,other\n1,ok\n2,caf\xe9\n"),
        write(tmp_path, "header_bad.csv", b"\n\nid,na\xffme\n1,x\n"),
        write(tmp_path, "bom_bad.csv", b"\xef\xbb\xbfid,name\r\n1,x\r\n\xc0\xaf\r\n"),
        write(tmp_path, "drift_good.csv", b"id,other\n1,ok\n"),
        write(tmp_path, "blank_bad.csv", b" \n\xff\n"),
    ]
    result = assert_same(files, source(), {"id": "int", "name": "string"}, spark_session)
    assert {key: error.error_type for key, error in result.file_errors.items()} == {
        "landing/drift_bad.csv": "encoding_error",
        "landing/header_bad.csv": "encoding_error",
        "landing/bom_bad.csv": "encoding_error",
        "landing/drift_good.csv": "schema_drift",
        "landing/blank_bad.csv": "encoding_error",
    }


def test_path_hash_is_sparks_xxhash64(spark_session: Any) -> None:
    from pyspark.sql import functions as F

    from platform_assets.ingest.parsing.spark_files import spark_xxhash64

    texts = [
        "",
        "a",
        "abcd",
        "abcdefgh",
        "file:///tmp/x y/é.csv",
        "日本語のパス",
        "x" * 31,
        "y" * 32,
        "z" * 33,
        "file:" + "/dir" * 40,
    ]
    frame = spark_session.createDataFrame([(text,) for text in texts], "t string")
    found = {row.t: row.h for row in frame.select("t", F.xxhash64("t").alias("h")).collect()}
    assert {text: spark_xxhash64(text) for text in texts} == found


def test_block_sizes_are_set_in_child_sessions_not_the_callers(tmp_path: Path, spark_session: Any) -> None:
    keys = ["spark.sql.files.maxPartitionBytes", "spark.sql.files.openCostInBytes", "spark.sql.codegen.hugeMethodLimit"]
    before = {key: spark_session.conf.get(key, None) for key in keys}
    files = [write(tmp_path, "one.csv", "id,name,amount,updated\n1,x,1,2024-01-01\n2,x,oops,2024-01-01\n")]
    result = SparkParser(spark_session).parse(files, source(), SCHEMA)  # a main pass and a line pass
    assert result.rejects.num_rows == 1
    assert {key: spark_session.conf.get(key, None) for key in keys} == before


def test_a_json_line_over_16_mib_is_read_as_the_arrow_parser_reads_it(tmp_path: Path, spark_session: Any) -> None:
    """Spark's variant size limit (16 MiB) does not cut a wide JSON line: it is read, as the Arrow parser reads it."""
    huge = '{"id":"' + "x" * (17 << 20) + '","n":3}'
    files = [write(tmp_path, "wide.jsonl", "\n".join(['{"id":"a","n":1}', huge, '{"id":"b","n":"two"}']) + "\n")]
    result = assert_same(files, source(format="json"), {"id": "string", "n": "bigint"}, spark_session)
    assert [len(value) for value in result.rows["id"].to_pylist()] == [1, 17 << 20]
    assert result.rejects.select(["_line_number"]).to_pylist() == [{"_line_number": 3}]


def test_a_csv_line_longer_than_sparks_blocks_is_read_as_the_arrow_parser_reads_it(
    tmp_path: Path, spark_session: Any
) -> None:
    """Spark's text reader finishes a line past its block: a 5 MiB value spans blocks of 2 MiB and is read whole.

    (``platform.processing.max_line_bytes`` bounds the Arrow parser's reader only; see the Spark parser's docstring.)
    """
    value = "v" * (5 << 20)
    content = f"id,name,amount,updated\na,x,1.00,2024-01-01\nb,{value},2.00,2024-01-02\nc,y,oops,2024-01-03\n"
    files = [write(tmp_path, "long.csv", content)]
    block = int(SparkParser(spark_session).main_settings(len(content))["spark.sql.files.maxPartitionBytes"])
    assert block < len(value)
    result = assert_same(files, source(), SCHEMA, spark_session)
    assert [len(name) for name in result.rows["name"].to_pylist()] == [1, len(value)]
    assert result.rejects.select(["_line_number"]).to_pylist() == [{"_line_number": 4}]


def test_a_json_string_over_jacksons_limit_is_read_as_the_arrow_parser_reads_it(
    tmp_path: Path, spark_session: Any
) -> None:
    """try_parse_json gives NULL for a string over 20,000,000 characters; such a line is read by from_json instead."""
    from platform_assets.ingest.parsing.spark_rules import JACKSON_MAX_STRING

    value = "x" * (JACKSON_MAX_STRING + 1)
    lines = ['{"id":"a","n":1}', '{"id":"' + value + '","n":2}', '{"id":"b","n":"two"}', "{'id':'" + value + "'}"]
    files = [write(tmp_path, "long.jsonl", "\n".join(lines) + "\n")]
    result = assert_same(files, source(format="json"), {"id": "string", "n": "bigint"}, spark_session)
    assert [len(name) for name in result.rows["id"].to_pylist()] == [1, len(value)]
    assert result.rejects.select(["_line_number", "_reason"]).to_pylist() == [
        {"_line_number": 3, "_reason": "column n: 'two' is not a bigint"},
        {"_line_number": 4, "_reason": "invalid JSON"},
    ]
