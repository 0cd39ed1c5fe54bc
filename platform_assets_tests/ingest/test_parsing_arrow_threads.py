"""A single large CSV is read with threads; a wrong column count still gets its line number."""

from __future__ import annotations

from pathlib import Path

from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing import ArrowParser, InputFile

SCHEMA = {"id": "string", "amount": "decimal(12,2)"}


def test_threaded_read_falls_back_for_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    lines = ["id,amount"] + [f"k{n},{n}.50" for n in range(200_000)]
    lines.insert(150_001, "bad,1.00,extra")  # physical line 150,002
    path.write_text("\n".join(lines) + "\n")
    result = ArrowParser(max_workers=2).parse(
        [InputFile("big.csv", str(path), "x")], SourceSettings(url="file:///x"), SCHEMA
    )
    assert result.rows_per_file == {"big.csv": 200_000}
    rejects = result.rejects.to_pylist()
    assert [(r["_line_number"], r["_raw"]) for r in rejects] == [(150_002, "bad,1.00,extra")]
    assert rejects[0]["_reason"] == "expected 2 columns, found 3"


def test_threaded_casts_give_the_same_rows_and_rejects_as_one_thread(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    lines = ["id,amount,day"] + [f"key-{n:08d},{n % 100000}.25,2026-01-{1 + n % 28:02d}" for n in range(600_000)]
    bad = {5: "key-x,12.345,2026-01-01", 300_000: "key-y,1.00,2026-02-30", 599_000: "key-z,abc,2026-01-01"}
    for index, line in bad.items():
        lines[index] = line  # physical line index + 1
    path.write_text("\n".join(lines) + "\n")
    schema = {"id": "string", "amount": "decimal(12,2)", "day": "date"}
    source = SourceSettings(url="file:///x")
    threaded = ArrowParser(max_workers=2).parse([InputFile("big.csv", str(path), "x")], source, schema)
    single = ArrowParser(max_workers=1).parse([InputFile("big.csv", str(path), "x")], source, schema)
    assert path.stat().st_size > 3 * (1 << 22), "the threaded read makes several blocks"
    assert threaded.rows.num_rows == single.rows.num_rows == 600_000 - 3
    assert threaded.rows.equals(single.rows) and threaded.rejects.equals(single.rejects)
    assert [(r["_line_number"], r["_raw"]) for r in threaded.rejects.to_pylist()] == [
        (index + 1, line) for index, line in sorted(bad.items())
    ]
