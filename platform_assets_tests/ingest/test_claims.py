"""Claims and outcomes: a worker's outcomes land only on the files it still holds."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, update

from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import RawFile
from platform_assets.catalog.records import ClaimPolicy, FileOutcome
from platform_assets.catalog.states import FileStatus
from platform_assets_tests.ingest.test_processing import capture, customer_rows, make_platform

POLICY = ClaimPolicy(batch_size=10, lease_seconds=60, max_retries=3, retry_backoff_seconds=30)


def test_outcomes_apply_only_to_files_the_worker_still_holds(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url)
    version = capture(platform, {f"f{index}.csv": customer_rows(index, 1) for index in range(6)})
    catalog = platform.catalog
    engine = catalog.engine
    held = sorted(catalog.claim_files("customers", version, "worker-a", POLICY), key=lambda item: item.key)
    assert [item.key for item in held] == [f"f{index}.csv" for index in range(6)]
    stolen = {held[2].id, held[5].id}  # their leases ran out and another worker took them
    with transaction(engine) as session:
        session.execute(update(RawFile).where(RawFile.id.in_(stolen)).values(lease_owner="worker-b"))

    outcomes = [
        FileOutcome(held[0], FileStatus.PROCESSED, rows_written=1),
        FileOutcome(held[1], FileStatus.PROCESSED, rows_written=1, rows_rejected=2),
        FileOutcome(held[2], FileStatus.PROCESSED, rows_written=1),
        FileOutcome(held[3], FileStatus.FAILED, error_type="parse_error", error_message="f3.csv: bad"),
        FileOutcome(held[4], FileStatus.FAILED, error_type="checksum_mismatch", error_message="f4.csv: altered"),
        FileOutcome(held[5], FileStatus.FAILED, error_type="parse_error", error_message="f5.csv: bad"),
    ]
    assert catalog.record_outcomes("customers", version, "worker-a", outcomes, POLICY) == 4

    with transaction(engine) as session:
        rows = {row.key: row for row in session.scalars(select(RawFile).where(RawFile.version == version))}
        states = {
            key: (row.status, row.lease_owner, row.rows_written, row.rows_rejected, row.error_type, row.retry_count)
            for key, row in rows.items()
        }
        retry_delays = {
            key: (row.next_attempt_at - row.updated_at).total_seconds() if row.next_attempt_at else None
            for key, row in rows.items()
            if row.status == "FAILED"
        }
    assert states == {
        "f0.csv": ("PROCESSED", None, 1, 0, None, 0),
        "f1.csv": ("PROCESSED", None, 1, 2, None, 0),
        "f2.csv": ("PROCESSING", "worker-b", None, None, None, 0),
        "f3.csv": ("FAILED", None, None, 0, "parse_error", 1),
        "f4.csv": ("FAILED", None, None, 0, "checksum_mismatch", 1),
        "f5.csv": ("PROCESSING", "worker-b", None, None, None, 0),
    }
    assert retry_delays == {"f3.csv": 30.0, "f4.csv": 30.0}, "the first retry waits the backoff"
