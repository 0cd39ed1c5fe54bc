"""A single large CSV is read with threads; a wrong column count still gets its line number."""

from __future__ import annotations

from pathlib import Path

from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing import ArrowEngine, InputFile

SCHEMA = {"id": "string", "amount": "decimal(12,2)"}


def test_threaded_read_falls_back_for_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    lines = ["id,amount"] + [f"k{n},{n}.50" for n in range(200_000)]
    lines.insert(150_001, "bad,1.00,extra")  # physical line 150,002
    path.write_text("\n".join(lines) + "\n")
    result = ArrowEngine(max_workers=2).parse([InputFile("big.csv", str(path), "x")], SourceSettings(url="file:///x"), SCHEMA)
    assert result.rows_per_file == {"big.csv": 200_000}
    rejects = result.rejects.to_pylist()
    assert [(r["_line_number"], r["_raw"]) for r in rejects] == [(150_002, "bad,1.00,extra")]
    assert rejects[0]["_reason"] == "expected 2 columns, found 3"
