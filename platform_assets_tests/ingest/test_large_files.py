"""Files larger than the memory budget (``platform.processing.memory_budget_mb``): streamed in pieces, written as
several data files, committed once per table with the exactly-once markers; crashes mid-file and after the
commit leave nothing half-visible, and a rerun gives exactly the rows. Tiny data, tiny budget, both backends."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from platform_assets.platform import Platform
from platform_assets_tests.conftest import process_in_crashing_process
from platform_assets_tests.ingest.test_processing import (
    FAST_RETRIES,
    HEADER,
    capture,
    file_states,
    make_platform,
    rejects,
    table_rows,
)

TINY = {"processing": {**FAST_RETRIES["processing"], "memory_budget_mb": 0.004}}
"""4 KiB: files over 1 KiB are streamed in pieces of 512 bytes."""
ROWS = 300


def big_file() -> str:
    """ROWS customers (about 11 KiB: about 20 pieces) with a bad amount every 50th row and a quoted line break."""
    lines = []
    for index in range(ROWS):
        amount = "bad" if index % 50 == 7 else f"{index}.25"
        name = '"two\nlines"' if index == 150 else f"name {index}"
        lines.append(f"c{index:05d},{name},{amount},2026-01-{1 + index % 28:02d}\n")
    return HEADER + "".join(lines)


def expected_reject_lines() -> list[int]:
    # header on line 1; row i starts on line i + 2, one more after the quoted line break (row 150)
    return [index + 2 + (index > 150) for index in range(ROWS) if index % 50 == 7]


def make_tiny(tmp_path: Path, db_url: str) -> Platform:
    products = [
        {
            "name": "customers",
            "source": {"url": f"file://{tmp_path}/landing", "glob": "**/*.csv", "format": "csv"},
            "schema": {
                "columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"},
                "primary_key": ["id"],
            },
            "mode": "snapshot",
            "milestone": "forensic",
            "primary_platforms": ["alpha"],
            "max_bad_row_fraction": 0.1,
        }
    ]
    return make_platform(tmp_path, db_url, products=products, **TINY)


def check_exact(platform: Platform, version: int) -> None:
    rows = table_rows(platform, version)
    good = ROWS - len(expected_reject_lines())
    assert Counter(rows["_source_file"].to_pylist()) == {"big.csv": good, "small.csv": 3}
    assert len(set(rows["id"].to_pylist())) == good + 3
    assert "two\nlines" in rows["name"].to_pylist()
    bad = rejects(platform).to_pylist()
    assert sorted(row["_line_number"] for row in bad) == expected_reject_lines()
    assert all("amount" in row["_reason"] for row in bad)


def test_a_file_over_the_budget_lands_in_one_commit_of_several_data_files(tmp_path: Path, db_url: str) -> None:
    platform = make_tiny(tmp_path, db_url)
    small = HEADER + "s1,a,1,2026-01-01\ns2,b,2,2026-01-01\ns3,c,3,2026-01-01\n"
    version = capture(platform, {"big.csv": big_file(), "small.csv": small})
    report = platform.process("customers", version)
    assert report.version_status == "PROCESSED" and report.rows_rejected == len(expected_reject_lines())
    check_exact(platform, version)
    table = platform.services.iceberg.iceberg_catalog.load_table("alpha.customers")
    good = str(ROWS - len(expected_reject_lines()))
    summaries = [snapshot.summary for snapshot in table.snapshots() if snapshot.summary is not None]
    big = [summary for summary in summaries if summary.get("added-records") == good]
    assert len(big) == 1, "the big file's rows land in one commit"
    assert int(big[0].get("added-data-files") or 0) > 5, "one data file per piece"


@pytest.mark.parametrize("failpoint", ["process.after_data_file=4", "process.after_iceberg_commit=2"])
def test_a_crash_mid_file_or_after_its_commit_then_a_rerun_gives_the_exact_rows(
    tmp_path: Path, db_url: str, failpoint: str
) -> None:
    platform = make_tiny(tmp_path, db_url)
    small = HEADER + "s1,a,1,2026-01-01\ns2,b,2,2026-01-01\ns3,c,3,2026-01-01\n"
    version = capture(platform, {"big.csv": big_file(), "small.csv": small})
    crashed = process_in_crashing_process(platform.config.source_path, version, failpoint)
    assert crashed.returncode == 86, crashed.stderr
    visible = Counter(table_rows(platform, version)["_source_file"].to_pylist())
    if failpoint.startswith("process.after_data_file"):
        assert visible == {"small.csv": 3}, "nothing of the big file is visible before its commit"
    else:
        assert visible == {"small.csv": 3, "big.csv": ROWS - len(expected_reject_lines())}
    assert file_states(platform, version)["big.csv"][0] == "PROCESSING"
    # the dead worker ran on this host and its process is gone: its files are claimable at once
    report = platform.process("customers", version)
    assert report.version_status == "PROCESSED"
    # small.csv committed before the crash in both cases; big.csv too after its commit
    assert report.files_recovered == (2 if failpoint.startswith("process.after_iceberg_commit") else 1)
    check_exact(platform, version)
