"""A file with one very long record: the Arrow parser's CSV reader grows its block up to
``platform.processing.max_line_bytes``, and only then fails the file, naming the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_assets.config import MAX_LINE_BYTES_DEFAULT, ProcessingSettings
from platform_assets.ingest.parsing import PARSE_ERROR, ArrowParser, InputFile, infer_schema
from platform_assets_tests.ingest.test_parsing_arrow import rejects_of, source, write

SCHEMA = {"id": "string", "value": "string", "n": "int"}
BIG = 50 << 20  # a 50 MiB value: more than the reader's first block (16 MiB, 4 MiB with threads)


def big_csv(tmp_path: Path, name: str, value: str, quoted: bool = False) -> InputFile:
    """Header, a row, the long row at line 3, a row rejected at line 4, a row."""
    shown = f'"{value}"' if quoted else value
    return write(tmp_path, name, f"id,value,n\na,x,1\nb,{shown},2\nc,y,oops\nd,z,4\n")


@pytest.mark.parametrize("workers", [1, 2], ids=["one_thread", "threads"])
def test_a_csv_record_of_50_mib_parses(tmp_path: Path, workers: int) -> None:
    item = big_csv(tmp_path, "big.csv", "v" * BIG)
    result = ArrowParser(max_workers=workers).parse([item], source(), SCHEMA)
    assert result.file_errors == {}
    assert result.rows["id"].to_pylist() == ["a", "b", "d"]
    assert [len(value) for value in result.rows["value"].to_pylist()] == [1, BIG, 1]
    assert rejects_of(result) == [("landing/big.csv", 4, "c,y,oops", "column n: 'oops' is not an int")]


def test_a_quoted_value_of_50_mib_over_several_lines_parses(tmp_path: Path) -> None:
    value = ("w" * (1 << 20) + "\n") * 50
    item = big_csv(tmp_path, "quoted.csv", value, quoted=True)
    result = ArrowParser().parse([item], source(), SCHEMA)
    assert result.rows["value"].to_pylist()[1] == value
    assert rejects_of(result) == [("landing/quoted.csv", 54, "c,y,oops", "column n: 'oops' is not an int")]


def test_a_json_line_of_50_mib_parses(tmp_path: Path) -> None:
    lines = ['{"id":"a","value":"x","n":1}', '{"id":"b","value":"' + "v" * BIG + '","n":2}', '{"id":"c"}']
    result = ArrowParser().parse([write(tmp_path, "big.jsonl", "\n".join(lines) + "\n")], source(format="json"), SCHEMA)
    assert [len(value) for value in result.rows["value"].to_pylist()] == [1, BIG]
    assert [line for _, line, _, _ in rejects_of(result)] == [3]


def test_a_record_longer_than_the_limit_fails_the_file_naming_line_and_key(tmp_path: Path) -> None:
    limit = 20 << 20  # the block grows from 16 MiB to 20 MiB, which the 50 MiB record does not fit
    items = [big_csv(tmp_path, "big.csv", "v" * BIG), write(tmp_path, "small.csv", "id,value,n\na,x,1\n")]
    result = ArrowParser(max_line_bytes=limit).parse(items, source(), SCHEMA)
    assert result.rows_per_file == {"landing/small.csv": 1}
    error = result.file_errors["landing/big.csv"]
    assert error.error_type == PARSE_ERROR
    assert error.message == (
        f"landing/big.csv: line 3 starts a record of {BIG + 4} bytes, more than the CSV reader's largest block "
        f"(platform.processing.max_line_bytes: {limit} bytes). Raise platform.processing.max_line_bytes in "
        f"platform.yaml to at least {BIG + 4}, then process the version's failed files again (process --retry-failed)."
    )
    assert ArrowParser(max_line_bytes=BIG + 4).parse(items, source(), SCHEMA).file_errors == {}


@pytest.mark.parametrize("workers", [1, 2], ids=["one_thread", "threads"])
def test_the_block_doubles_up_to_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    """With 1 KiB first blocks, small records show each step: a record up to the limit parses, a longer one fails."""
    from platform_assets.ingest.parsing import arrow_csv

    monkeypatch.setattr(arrow_csv, "BLOCK_BYTES", 1 << 10)
    monkeypatch.setattr(arrow_csv, "THREADED_BLOCK_BYTES", 1 << 10)
    parser = ArrowParser(max_workers=workers, max_line_bytes=16 << 10)
    rows = "".join(f"r{index},{'v' * 10},{index}\n" for index in range(2000))  # many blocks before the long record
    fits = write(tmp_path, "fits.csv", f"id,value,n\n{rows}long,{'v' * (16 << 10)},1\nbad,x,y\n")
    result = parser.parse([fits], source(), SCHEMA)
    assert result.rows.num_rows == 2001 and result.file_errors == {}
    assert [line for _, line, _, _ in rejects_of(result)] == [2003]
    too_long = write(tmp_path, "too_long.csv", f"id,value,n\n{rows}long,{'v' * (40 << 10)},1\n")
    error = parser.parse([too_long], source(), SCHEMA).file_errors["landing/too_long.csv"]
    assert error.message.startswith(f"landing/too_long.csv: line 2002 starts a record of {(40 << 10) + 7} bytes")


def test_inference_reads_a_long_first_record(tmp_path: Path) -> None:
    """Inference splits the first line and reads the body with the same growing block."""
    value = "v" * (3 << 20)  # more than pyarrow's default 1 MiB block
    item = write(tmp_path, "plain.csv", f'"{value}",1\nx,2\n')
    assert {name: str(kind) for name, kind in infer_schema([item], source(header=False)).items()} == {
        "col_1": "string",
        "col_2": "bigint",
    }


def test_the_limit_is_a_processing_setting() -> None:
    assert ProcessingSettings().max_line_bytes == MAX_LINE_BYTES_DEFAULT == 256 << 20
    assert ProcessingSettings(max_line_bytes=1 << 30).max_line_bytes == 1 << 30
    with pytest.raises(ValueError, match="greater than or equal to 1024"):
        ProcessingSettings(max_line_bytes=100)
