"""Many small files in one claim batch: one read, one append, and still each file's own outcome, exactly once.

(A file with other columns is no longer a per-file failure: under ``schema.evolution: strict`` it
refuses the version, see ``ingest/evolution.py``; the bad file here is one that cannot be decoded.)
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import AuditEvent, RawFile
from platform_assets.storage import iceberg
from platform_assets_tests.conftest import process_in_crashing_process
from platform_assets_tests.ingest.test_processing import (
    HEADER,
    capture,
    customer_rows,
    file_states,
    landing_of,
    make_platform,
    rejects,
    table_rows,
)

SMALL_BATCHES = {"lease_seconds": 5, "snapshot_retention_seconds": 5, "retry_backoff_seconds": 0, "max_retries": 0}


def _products(tmp_path: Path) -> list[dict]:
    return [
        {
            "name": "customers",
            "source": {"url": f"file://{tmp_path}/landing", "glob": "**/*.csv", "format": "csv"},
            "schema": {
                "columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"},
                "primary_key": ["id"],
            },
            "max_bad_row_fraction": 0.5,
        }
    ]


def _events(platform, action: str) -> Counter[str]:
    with transaction(platform.catalog.engine) as session:
        rows = session.scalars(
            select(AuditEvent.entity_id).where(AuditEvent.entity_type == "raw_file", AuditEvent.action == action)
        ).all()
    return Counter(rows)


def test_one_batch_of_300_files_isolates_the_bad_file_and_the_bad_row(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url, products=_products(tmp_path), processing=SMALL_BATCHES)
    files = {f"d{index // 100}/f{index:03d}.csv": customer_rows(index * 2, 2) for index in range(300)}
    bad_file = landing_of(platform) / "d1" / "bad_file.csv"
    bad_file.parent.mkdir(parents=True)
    bad_file.write_bytes(HEADER.encode() + b"x,caf\xe9,1.00,2026-01-01\n")  # latin-1 in a UTF-8 product
    files["d2/bad_row.csv"] = HEADER + "r1,R,1.00,2026-01-01\nr2,R,oops,2026-01-02\nr3,R,3.00,2026-01-03\n"
    version = capture(platform, files)

    report = platform.process("customers", version)

    assert report.version_status == "FAILED" and set(report.version_failures) == {"d1/bad_file.csv"}
    with transaction(platform.catalog.engine) as session:
        claims = session.scalar(select(func.count()).where(AuditEvent.action == "files_claimed"))
    assert claims == 1, "302 small files are one claim batch (claim_batch_size is 64)"
    states = file_states(platform, version)
    assert Counter(status for status, _ in states.values()) == {"PROCESSED": 301, "FAILED": 1}
    assert states["d1/bad_file.csv"] == ("FAILED", "encoding_error")
    assert "d1/bad_file.csv" in report.version_failures["d1/bad_file.csv"]
    assert "byte 0xE9 at line 2" in report.version_failures["d1/bad_file.csv"]
    rows = table_rows(platform, version)
    per_file = Counter(rows["_source_file"].to_pylist())
    assert per_file.pop("d2/bad_row.csv") == 2 and set(per_file.values()) == {2} and len(per_file) == 300
    lines = [row["_source_line"] for row in rows.to_pylist() if row["_source_file"] == "d2/bad_row.csv"]
    assert sorted(lines) == [2, 4]
    assert len(set(rows["id"].to_pylist())) == rows.num_rows == 602
    found = [(row["_source_file"], row["_line_number"]) for row in rejects(platform).to_pylist()]
    assert found == [("d2/bad_row.csv", 3)]
    outcomes = _events(platform, "processed") + _events(platform, "failed")
    assert len(outcomes) == 302 and set(outcomes.values()) == {1}, "each file's outcome is recorded exactly once"
    with transaction(platform.catalog.engine) as session:
        written = dict(session.execute(select(RawFile.key, RawFile.rows_written)).all())
    assert written["d2/bad_row.csv"] == 2 and written["d0/f000.csv"] == 2
    data = platform.services.iceberg.iceberg_catalog.load_table("alpha.customers")
    appends = [marker for marker in iceberg.commit_markers(data) if marker.kind == "append"]
    assert len(appends) == 1 and len(appends[0].file_ids) == 301, "one Iceberg append for the whole batch"


def test_crash_after_a_multi_file_commit_then_rerun_loses_and_doubles_nothing(tmp_path: Path, db_url: str) -> None:
    settings = {**SMALL_BATCHES, "claim_batch_size": 4, "claim_batch_max_files": 50}
    platform = make_platform(tmp_path, db_url, products=_products(tmp_path), processing=settings)
    version = capture(platform, {f"f{index:03d}.csv": customer_rows(index * 3, 3) for index in range(120)})
    crashed = process_in_crashing_process(platform.config.source_path, version, "process.after_iceberg_commit=2")
    assert crashed.returncode == 86, crashed.stderr
    assert table_rows(platform, version).num_rows == 100 * 3, "two batches of 50 files committed before the crash"
    assert Counter(status for status, _ in file_states(platform, version).values()) == {
        "PROCESSED": 50,
        "PROCESSING": 50,
        "CAPTURED": 20,
    }
    time.sleep(5.5)  # the dead worker's lease runs out
    report = platform.process("customers", version)
    assert report.version_status == "PROCESSED" and report.files_recovered == 50
    rows = table_rows(platform, version)
    assert rows.num_rows == 360 and len(set(rows["id"].to_pylist())) == 360
    assert Counter(Counter(rows["_source_file"].to_pylist()).values()) == {3: 120}
    with transaction(platform.catalog.engine) as session:
        written = session.scalars(select(RawFile.rows_written).where(RawFile.version == version)).all()
    assert Counter(written) == {3: 120}, "recovered files carry their committed row counts"
    outcomes = _events(platform, "processed")
    assert len(outcomes) == 120 and set(outcomes.values()) == {1}
