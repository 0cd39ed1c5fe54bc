"""Snapshot expiry while processing: old snapshots go, markers a crashed worker left unsettled stay until recovered."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from platform_assets.storage import iceberg
from platform_assets_tests.ingest.test_processing import capture, customer_rows, file_states, make_platform, table_rows

RETENTION_S = 5  # the config floor: lease_seconds (5) <= snapshot_retention_seconds


def incremental_product(landing: Path) -> dict:
    return {
        "name": "customers",
        "source": {"url": landing.as_uri(), "glob": "*.csv", "format": "csv"},
        "schema": {
            "columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"},
            "primary_key": ["id"],
        },
        "mode": "incremental",
    }


def markers_by_version(platform) -> Counter:
    table = platform.services.iceberg.iceberg_catalog.load_table("alpha.customers")
    return Counter(marker.version for marker in iceberg.commit_markers(table) if marker.kind == "append")


def test_expiry_keeps_the_markers_of_unsettled_files_until_they_are_recovered(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(
        tmp_path,
        db_url,
        [incremental_product(tmp_path / "landing")],
        processing={
            "lease_seconds": 5,
            "snapshot_retention_seconds": RETENTION_S,
            "claim_batch_size": 4,
            "claim_batch_bytes": 0,
        },
    )
    first = capture(platform, {"v1.csv": customer_rows(0, 2)})
    assert platform.process("customers", first).version_status == "PROCESSED"
    crashed_version = capture(platform, {f"v2-{index}.csv": customer_rows(10 + index * 2, 2) for index in range(4)})
    code = (
        "from platform_assets.platform import Platform\n"
        f"Platform.from_path({platform.config.source_path!r}).process('customers', {crashed_version})\n"
    )
    crashed = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PLATFORM_FAILPOINTS": "process.after_iceberg_commit=1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert crashed.returncode == 86, crashed.stderr
    assert Counter(status for status, _ in file_states(platform, crashed_version).values()) == {"PROCESSING": 4}
    second = capture(platform, {"v3.csv": customer_rows(100, 2)})
    assert platform.process("customers", second).version_status == "PROCESSED"
    time.sleep(RETENTION_S + 0.5)  # the snapshots so far are past retention; the crashed worker's lease ran out too

    third = capture(platform, {"v4.csv": customer_rows(200, 2)})
    assert platform.process("customers", third).version_status == "PROCESSED"
    # Nobody has reclaimed the crashed worker's files yet: the append of the newest version expired
    # version 1's snapshot but kept the one whose marker says version 2's rows are committed
    # (and the table's current snapshot, version 3's, at the time of that append).
    assert markers_by_version(platform) == {crashed_version: 1, second: 1, third: 1}

    report = platform.process("customers", crashed_version)
    assert report.version_status == "PROCESSED" and report.files_recovered == 4 and report.rows_written == 8
    rows = table_rows(platform)
    assert rows.num_rows == 2 + 8 + 2 + 2, "every row once: none lost with the expired snapshots, none written twice"
    assert len(set(rows["id"].to_pylist())) == 14

    fourth = capture(platform, {"v5.csv": customer_rows(300, 2)})
    platform.process("customers", fourth)
    assert markers_by_version(platform) == {third: 1, fourth: 1}, (
        "settled markers past retention go with the next append"
    )
