"""Streamed parsing (files larger than the memory budget): the pieces of a file, put together, give exactly
the rows and rejects of the whole file read at once, line numbers included, wherever the pieces are cut."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.config import ProcessingSettings, SourceSettings
from platform_assets.ingest.parsing import REJECTS_SCHEMA, ArrowParser, InputFile, rows_arrow_schema
from platform_assets.ingest.parsing.arrow_stream import line_breaks
from platform_assets.ingest.parsing.budget import MemoryBudget, splits_at_line_breaks
from platform_assets.ingest.parsing.types import normalize_schema

SCHEMA = {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"}
PIECE_SIZES = (64, 97, 250, 1000, 1 << 20)


def source(**options: object) -> SourceSettings:
    return SourceSettings(url="file:///landing", **options)


def write(directory: Path, name: str, content: bytes) -> InputFile:
    path = directory / name
    path.write_bytes(content)
    return InputFile(key=f"landing/{name}", path=str(path), sha256="0" * 64)


def tiny_parser(piece_bytes: int) -> ArrowParser:
    """A parser whose streamed pieces hold about ``piece_bytes`` of text."""
    parser = ArrowParser(max_workers=2)
    parser.budget = MemoryBudget(piece_bytes * 8)
    return parser


def streamed(parser: ArrowParser, item: InputFile, settings: SourceSettings) -> tuple[pa.Table, pa.Table, list]:
    rows, rejects, errors = [], [], []
    for part in parser.stream(item, settings, SCHEMA):
        if part.error is not None:
            errors.append(part.error)
        if part.rows is not None and part.rows.num_rows:
            rows.append(part.rows)
        if part.rejects is not None and part.rejects.num_rows:
            rejects.append(part.rejects)
    schema = rows_arrow_schema(normalize_schema(SCHEMA))
    return (
        pa.concat_tables(rows).cast(schema) if rows else schema.empty_table(),
        pa.concat_tables(rejects).cast(REJECTS_SCHEMA) if rejects else REJECTS_SCHEMA.empty_table(),
        errors,
    )


def messy_csv(seed: int, count: int, newline: str) -> bytes:
    """A CSV with bad values, wrong column counts, blank lines and quoted values holding commas and line breaks."""
    pick = random.Random(seed)
    lines = ["id,name,amount,updated"]
    for index in range(count):
        roll = pick.random()
        if roll < 0.08:
            lines.append(f"r{index},bad amount,12x,2026-01-02")
        elif roll < 0.12:
            lines.append(f"r{index},too,few")
        elif roll < 0.16:
            lines.append("")
        elif roll < 0.26:
            lines.append(f'r{index},"quoted, with{newline}a line break",{index}.5,2026-02-03')
        elif roll < 0.30:
            lines.append(f'r{index},"say ""hi""",1,2026-13-01')
        else:
            lines.append(f"r{index},name {index},{index}.25,2026-01-{1 + index % 28:02d}")
    return (newline.join(lines) + newline).encode()


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_streamed_csv_equals_the_whole_file_wherever_it_is_cut(tmp_path: Path, newline: str) -> None:
    item = write(tmp_path, "messy.csv", messy_csv(7, 300, newline))
    whole = ArrowParser().parse([item], source(), SCHEMA)
    assert whole.rejects.num_rows > 30 and whole.rows.num_rows > 200
    for piece_bytes in PIECE_SIZES:
        rows, rejects, errors = streamed(tiny_parser(piece_bytes), item, source())
        assert errors == []
        assert rows.to_pylist() == whole.rows.to_pylist(), piece_bytes
        assert rejects.to_pylist() == whole.rejects.to_pylist(), piece_bytes


def test_rejects_keep_their_line_numbers_on_both_sides_of_piece_boundaries(tmp_path: Path) -> None:
    """A bad row right before and right after each cut, and a quoted value with a line break across one."""
    good = "c{0:04d},name,1.00,2026-01-01\n"
    text = "id,name,amount,updated\n" + "".join(
        good.format(index) if index % 5 else f"c{index:04d},name,oops,2026-01-01\n" for index in range(1, 200)
    )
    text += 'q,"two\nlines",bad,2026-01-01\n'
    item = write(tmp_path, "edges.csv", text.encode())
    rows, rejects, _ = streamed(tiny_parser(64), item, source())
    expected = [index + 1 for index in range(1, 200) if index % 5 == 0] + [201]
    assert rejects["_line_number"].to_pylist() == expected
    assert rejects["_raw"].to_pylist()[-1] == 'q,"two\nlines",bad,2026-01-01'
    assert rows.num_rows == 199 - len(expected) + 1


def test_streamed_json_lines_and_parquet_equal_the_whole_file(tmp_path: Path) -> None:
    lines = []
    for index in range(200):
        amount = '"x"' if index % 7 == 0 else f'"{index}.5"'
        lines.append(f'{{"id": "j{index}", "name": "n", "amount": {amount}, "updated": "2026-01-02"}}')
        if index % 11 == 0:
            lines.append("not json")
    item = write(tmp_path, "rows.jsonl", ("\n".join(lines) + "\n").encode())
    whole = ArrowParser().parse([item], source(format="json"), SCHEMA)
    rows, rejects, errors = streamed(tiny_parser(100), item, source(format="json"))
    assert errors == [] and rows.to_pylist() == whole.rows.to_pylist()
    assert rejects.to_pylist() == whole.rejects.to_pylist() and rejects.num_rows > 40

    table = whole.rows.drop_columns(["_source_file", "_source_line"])
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path, row_group_size=20)
    item = InputFile("landing/rows.parquet", str(path), "0" * 64)
    parts = list(tiny_parser(64).stream(item, source(format="parquet"), SCHEMA))
    assert len(parts) > 3
    assert (
        pa.concat_tables([part.rows for part in parts]).to_pylist()
        == ArrowParser().parse([item], source(format="parquet"), SCHEMA).rows.to_pylist()
    )


def test_a_file_error_in_a_later_piece_is_the_last_part_with_the_files_line(tmp_path: Path) -> None:
    good = "".join(f"c{index},name,1.00,2026-01-01\n" for index in range(40))
    item = write(tmp_path, "latin.csv", b"id,name,amount,updated\n" + good.encode() + b"x,caf\xe9,1,2026-01-01\n")
    parts = list(tiny_parser(64).stream(item, source(), SCHEMA))
    assert parts[-1].error is not None and all(part.error is None for part in parts[:-1])
    assert "byte 0xE9 at line 42" in parts[-1].error.message
    whole = ArrowParser().parse([item], source(), SCHEMA)
    assert whole.file_errors["landing/latin.csv"].message == parts[-1].error.message

    long = write(tmp_path, "long.csv", b"id,name,amount,updated\n" + b"a," + b"x" * 5000 + b",1,2026-01-01\n")
    parser = ArrowParser(max_line_bytes=2048)
    parser.budget = MemoryBudget(64 * 8)
    error = list(parser.stream(long, source(), SCHEMA))[-1].error
    assert error is not None and "line 2 starts a record of more than" in error.message


def test_budget_sizes_and_groups() -> None:
    budget = MemoryBudget.of_mb(1024)
    assert budget.whole_bytes("csv") == 256 << 20 and budget.piece_bytes("csv") == 128 << 20
    assert budget.streams(300 << 20, "csv", "utf-8") and not budget.streams(200 << 20, "csv", "utf-8")
    assert not budget.streams(300 << 20, "csv", "utf-16"), "UTF-16 cannot be cut at line-break bytes"
    assert splits_at_line_breaks("latin-1") and not splits_at_line_breaks("shift_jis")
    sizes = [100 << 20, 100 << 20, 100 << 20, 10, 300 << 20]
    assert [len(group) for group in budget.groups(sizes, lambda size: size, "csv")] == [2, 2, 1]
    assert line_breaks(b"a\r\nb\rc\nd") == 3 and line_breaks(b"a\nb\n") == 2
    with pytest.raises(ValueError, match="memory_budget_mb"):
        ProcessingSettings(memory_budget_mb=0)
    assert ProcessingSettings().memory_budget_mb == 1024
