"""With the Dagster daemon running, a file dropped into the source is merged without any manual step."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from platform_assets.config import load_config
from platform_assets.merge.versions import table_row_counts
from platform_assets.platform import Platform
from platform_assets_tests.conftest import write_csv, write_platform_config
from platform_assets_tests.daemon import running_daemon, wait_for

MERGED_WITHIN = 60  # seconds from the drop: two sensor ticks, two runs and their start-up on a busy machine


def _automated_config(tmp_path: Path, landing: Path) -> str:
    product = {
        "name": "customers",
        "source": {"url": f"file://{landing}", "glob": "**/*.csv", "format": "csv"},
        "schema": {
            "columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"},
            "primary_key": ["id"],
        },
        "automation": {"enabled": True, "minimum_interval_seconds": 1},
    }
    return write_platform_config(
        tmp_path,
        f"sqlite:///{tmp_path}/state.db",
        f"file://{landing}",
        f"file://{tmp_path}/raw",
        products=[product],
        extra_platform={"processing": {"retry_backoff_seconds": 0, "max_retries": 0}},
    )


def test_a_dropped_file_is_merged_by_the_daemon_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    config = _automated_config(tmp_path, landing)
    platform = Platform(load_config(config))
    product = platform.product("customers")
    home, log = tmp_path / "dagster_home", tmp_path / "daemon.log"

    def live_rows() -> int:
        return table_row_counts(platform.services.merge_store, product)[0]

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with running_daemon(home, config, log), dg.DagsterInstance.get() as instance:
        write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01"), ("2", "Bob", "2.00", "2026-01-02")])
        wait_for(lambda: live_rows() == 2, MERGED_WITHIN, "v1 merged", log)
        write_csv(landing / "b.csv", [("3", "Cy", "3.00", "2026-01-03")])
        wait_for(lambda: live_rows() == 3, MERGED_WITHIN, "v2 merged", log)
        wait_for(lambda: all(run.is_finished for run in instance.get_runs()), 30, "the runs end", log)
        runs = sorted((run.job_name, run.tags.get("dagster/partition"), run.status) for run in instance.get_runs())

    assert [(v.number, v.status) for v in platform.catalog.versions("customers")] == [
        (1, "PROCESSED"),
        (2, "PROCESSED"),
    ]
    success = dg.DagsterRunStatus.SUCCESS
    assert runs == [
        ("customers_ingest", "v1", success),
        ("customers_ingest", "v2", success),
        ("customers_merge", "v1", success),
        ("customers_merge", "v2", success),
    ], "sensor runs are runs of the product's jobs"
