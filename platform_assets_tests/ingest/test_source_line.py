"""``_source_line``: each row's line in its file, the same from both parsers (rule in ``parsing/result.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing import ArrowParser, InputFile, ParseResult
from platform_assets_tests.ingest.test_parsing_arrow import source, write
from platform_assets_tests.ingest.test_processing import capture, customer_rows, make_platform, table_rows

SCHEMA = {"id": "string", "n": "int"}

# line 1 header, 2 blank, 3 good, 4 rejected (n), 5 good, 6 wrong column count, 7 blank, 8 good (CRLF before)
CSV = "id,n\n\na,1\nb,x\nc,3\nd,4,5\n\ne,5\r\nf,6"
JSON = '{"id":"a","n":1}\n\n{"id":"b","n":"x"}\nnot json\n  \n{"id":"c","n":3}\n'


def lines_of(result: ParseResult) -> dict[str, int | None]:
    return {row["id"]: row["_source_line"] for row in result.rows.to_pylist()}


def parse_both(files: list[InputFile], src: SourceSettings, spark_session: Any | None) -> ParseResult:
    arrow = ArrowParser().parse(files, src, SCHEMA)
    if spark_session is not None:
        from platform_assets.ingest.parsing.spark_parser import SparkParser

        spark = SparkParser(spark_session).parse(files, src, SCHEMA)
        assert spark.rows.to_pylist() == arrow.rows.to_pylist()
        assert spark.rejects.to_pylist() == arrow.rejects.to_pylist()
    return arrow


def _cases(tmp_path: Path) -> list[tuple[list[InputFile], SourceSettings, dict[str, int]]]:
    parquet = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"id": ["p", "q", "r"], "n": pa.array([1, 2, 3], pa.int32())}), parquet)
    return [
        ([write(tmp_path, "a.csv", CSV)], source(), {"a": 3, "c": 5, "e": 8, "f": 9}),
        ([write(tmp_path, "b.csv", "a,1\nb,2\n")], source(header=False), {"a": 1, "b": 2}),
        ([write(tmp_path, "c.json", JSON)], source(format="json"), {"a": 1, "c": 6}),
        ([InputFile("rows.parquet", str(parquet), "0" * 64)], source(format="parquet"), {"p": 1, "q": 2, "r": 3}),
    ]


def test_source_line_of_csv_json_and_parquet_rows(tmp_path: Path) -> None:
    for files, src, expected in _cases(tmp_path):
        result = parse_both(files, src, None)
        assert lines_of(result) == expected, files[0].key
    csv = ArrowParser().parse([write(tmp_path, "r.csv", CSV)], source(), SCHEMA)
    assert csv.rejects.column("_line_number").to_pylist() == [4, 6]  # rows' and rejects' lines agree


def test_a_quoted_value_over_several_lines_gives_its_first_line(tmp_path: Path) -> None:
    text = 'id,n\na,1\n"multi\nline\r\nid",2\nb,3\n\n"c",4\n'
    result = ArrowParser().parse([write(tmp_path, "m.csv", text)], source(), SCHEMA)
    assert lines_of(result) == {"a": 2, "multi\nline\r\nid": 3, "b": 6, "c": 8}


def test_rows_of_several_files_and_threads_keep_their_lines(tmp_path: Path) -> None:
    body = "".join(f"k{index},{index}\n" for index in range(5000))
    files = [write(tmp_path, f"f{index}.csv", "id,n\n" + body) for index in range(3)]
    result = ArrowParser(max_workers=2).parse(files, source(), SCHEMA)
    rows = result.rows.to_pylist()
    assert [row["_source_line"] for row in rows if row["id"] == "k4999"] == [5001, 5001, 5001]


@pytest.mark.spark
def test_spark_gives_the_same_lines(tmp_path: Path, spark_session: Any) -> None:
    for files, src, expected in _cases(tmp_path):
        assert lines_of(parse_both(files, src, spark_session)) == expected, files[0].key


def test_a_table_made_before_the_column_gets_it_on_its_next_write(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url)
    first = capture(platform, {"a.csv": customer_rows(0, 2)})
    platform.process("customers", first)
    catalog = platform.services.iceberg.iceberg_catalog
    with catalog.load_table("alpha.customers").update_schema() as update:
        update.delete_column("_source_line")  # as the table of an older release has it
    second = capture(platform, {"b.csv": customer_rows(2, 2)})
    assert platform.process("customers", second).version_status == "PROCESSED"
    rows = table_rows(platform).sort_by([("_version", "ascending"), ("id", "ascending")]).to_pylist()
    found = [(row["_version"], row["_source_file"], row["_source_line"]) for row in rows]
    assert found == [(1, "a.csv", None), (1, "a.csv", None)] + [(2, "a.csv", 2), (2, "a.csv", 3)] + [
        (2, "b.csv", 2),
        (2, "b.csv", 3),
    ]


def test_a_memory_mapped_file_with_crlf_counts_its_lines_across_pieces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platform_assets.ingest.parsing import arrow_csv

    monkeypatch.setattr(arrow_csv, "_COUNT_BYTES", 4097)  # pieces whose seams fall inside CRLFs too
    body = "".join(f"k{index:07d},{index % 1000}\r\n" for index in range(90_000))  # 1.2 MB: memory-mapped
    result = ArrowParser(max_workers=1).parse([write(tmp_path, "big.csv", "id,n\r\n" + body)], source(), SCHEMA)
    lines = result.rows.column("_source_line").to_pylist()
    assert lines[0] == 2 and lines[-1] == 90_001 and len(lines) == 90_000
