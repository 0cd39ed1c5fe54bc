"""Many small CSV files parsed as one (``arrow_joined``) give what parsing each file on its own gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing import ArrowParser, InputFile, ParseResult
from platform_assets.ingest.parsing.arrow_joined import parse_joined
from platform_assets.ingest.parsing.types import normalize_schema

SCHEMA = {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"}
HEADER = "id,name,amount,updated\n"


def good(index: int, rows: int = 3) -> str:
    return HEADER + "".join(f"k{index}-{n},name {n},{n}.5{n % 10},2026-01-{1 + n % 28:02d}\n" for n in range(rows))


# Files the joined path must hand back (or whose rows must still match), each with what makes it special.
SPECIAL = {
    "bad_row.csv": HEADER + "a,x,1.00,2026-01-01\nb,y,not a number,2026-01-02\nc,z,3.00,2026-01-03\n",
    "wrong_width.csv": HEADER + "a,x,1.00,2026-01-01\nb,y\nc,z,3.00,2026-01-03\n",
    "drift.csv": "id,name,amount,other\na,x,1.00,2026-01-01\n",
    "reordered.csv": "name,id,amount,updated\nx,a,1.00,2026-01-01\n",
    "quoted.csv": HEADER + 'a,"x, y",1.00,2026-01-01\n',
    "crlf.csv": HEADER.replace("\n", "\r\n") + "a,x,1.00,2026-01-01\r\n",
    "blank_lines.csv": HEADER + "a,x,1.00,2026-01-01\n\nb,y,2.00,2026-01-02\n",
    "bom.csv": "\ufeff" + HEADER + "a,x,1.00,2026-01-01\n",
    "no_final_break.csv": HEADER + "a,x,1.00,2026-01-01",
    "header_only.csv": HEADER,
    "empty.csv": "",
    "nulls.csv": HEADER + "a,,,\nb,y,,2026-01-02\n",
}
LATIN1 = HEADER.encode() + "a,caf\u00e9,1.00,2026-01-01\n".encode("latin-1")


def write_files(folder: Path, count: int, special: bool) -> list[InputFile]:
    files = []
    contents: dict[str, bytes] = {f"f{index:04d}.csv": good(index).encode() for index in range(count)}
    if special:
        contents.update({name: text.encode() for name, text in SPECIAL.items()})
        contents["latin1.csv"] = LATIN1
    for name, data in sorted(contents.items()):
        (folder / name).write_bytes(data)
        files.append(InputFile(key=f"landing/{name}", path=str(folder / name), sha256="0" * 64))
    return files


def canonical(result: ParseResult) -> tuple:
    rows = sorted(tuple(sorted(row.items())) for row in result.rows.to_pylist())
    rejects = sorted(tuple(sorted(row.items())) for row in result.rejects.to_pylist())
    errors = {key: (error.error_type, error.message) for key, error in result.file_errors.items()}
    return rows, rejects, dict(result.rows_per_file), dict(result.rejects_per_file), errors


@pytest.mark.parametrize("special", [False, True])
def test_joined_parse_equals_the_per_file_parse(tmp_path: Path, special: bool) -> None:
    files = write_files(tmp_path, 40, special)
    source = SourceSettings(url="file:///landing")
    joined = ArrowParser().parse(files, source, SCHEMA)
    alone = ArrowParser(join=False).parse(files, source, SCHEMA)
    assert canonical(joined) == canonical(alone)
    assert joined.grouped
    keys = [key for key, count in joined.rows_per_file.items() if count]
    assert joined.rows["_source_file"].to_pylist() == [key for key in keys for _ in range(joined.rows_per_file[key])]
    if special:
        assert set(alone.file_errors) == {"landing/drift.csv", "landing/latin1.csv"}
        assert alone.rejects_per_file["landing/bad_row.csv"] == 1
        assert alone.rejects_per_file["landing/wrong_width.csv"] == 1


def test_only_plain_small_files_are_joined(tmp_path: Path) -> None:
    files = write_files(tmp_path, 20, special=True)
    found, left = parse_joined(files, SourceSettings(url="file:///landing"), normalize_schema(SCHEMA))
    assert found is not None
    joined = {key.removeprefix("landing/") for key in found.counts}
    assert joined == {f"f{index:04d}.csv" for index in range(20)} | {
        "no_final_break.csv",
        "header_only.csv",
        "nulls.csv",
    }
    assert {item.key.removeprefix("landing/") for item in left} == set(SPECIAL) - joined | {"latin1.csv"}
    assert found.rows.num_rows == 20 * 3 + 1 + 0 + 2


def test_without_a_header_and_in_other_encodings(tmp_path: Path) -> None:
    files = write_files(tmp_path, 12, special=False)
    for item in files:
        Path(item.path).write_text(Path(item.path).read_text().removeprefix(HEADER))
    source = SourceSettings(url="file:///landing", header=False)
    assert canonical(ArrowParser().parse(files, source, SCHEMA)) == canonical(
        ArrowParser(join=False).parse(files, source, SCHEMA)
    )
    found, _ = parse_joined(files, source, normalize_schema(SCHEMA))
    assert found is not None and sum(found.counts.values()) == 36
    latin = SourceSettings(url="file:///landing", header=False, encoding="latin-1")
    assert parse_joined(files, latin, normalize_schema(SCHEMA)) == (None, files)
