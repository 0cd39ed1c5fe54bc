"""With the Dagster daemon running, files dropped into the source are merged without any manual step, in order."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from platform_assets.config import load_config
from platform_assets.merge.versions import table_row_counts
from platform_assets.platform import Platform
from platform_assets_tests.conftest import write_csv, write_no_retry_config
from platform_assets_tests.daemon import running_daemon, wait_for

MERGED_WITHIN = 60  # seconds from the drop: a sensor tick or two, a run or two and their start-up on a busy machine


def _automated_config(tmp_path: Path, landing: Path) -> str:
    return write_no_retry_config(
        tmp_path,
        f"sqlite:///{tmp_path}/state.db",
        landing,
        mode="incremental",  # a version per dropped file
        automation={"enabled": True, "minimum_interval_seconds": 1},
    )


def test_dropped_files_are_merged_by_the_daemon_alone_and_a_failure_holds_the_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    config = _automated_config(tmp_path, landing)
    platform = Platform(load_config(config))
    product = platform.product("customers")
    home, log = tmp_path / "dagster_home", tmp_path / "daemon.log"

    def live_rows() -> int:
        return table_row_counts(platform.services.merge_store, product)[0]

    def status(number: int) -> str | None:
        found = [v.status for v in platform.catalog.versions("customers") if v.number == number]
        return str(found[0]) if found else None

    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with running_daemon(home, config, log), dg.DagsterInstance.get() as instance:
        write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01"), ("2", "Bob", "2.00", "2026-01-02")])
        wait_for(lambda: live_rows() == 2, MERGED_WITHIN, "v1 merged", log)
        write_csv(landing / "b.csv", [("3", "Cy", "not a number", "2026-01-03")])
        wait_for(lambda: status(2) == "FAILED", MERGED_WITHIN, "v2 failed", log)
        write_csv(landing / "c.csv", [("4", "Di", "4.00", "2026-01-04")])
        wait_for(lambda: status(3) == "PROCESSED", MERGED_WITHIN, "v3 processed", log)
        assert live_rows() == 2, "v3 waits for the failed v2: the merge order holds"
        platform.exclude("customers", 2, "a broken delivery")  # what a user does (CLI or UI); nothing else
        wait_for(lambda: live_rows() == 3, MERGED_WITHIN, "v3 merged after v2 was excluded", log)
        wait_for(lambda: all(run.is_finished for run in instance.get_runs()), 30, "the runs end", log)
        runs = sorted((run.tags.get("dagster/partition"), run.job_name, run.status) for run in instance.get_runs())

    success, failure = dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE
    assert runs == [
        ("v1", "customers_capture_to_merge", success),  # nothing waited before v1: the whole path in one run
        ("v2", "customers_capture_to_merge", failure),  # processing failed: its blocking check stopped the merge
        ("v3", "customers_ingest", success),  # v2 was not merged: v3 captured and processed, then waited
        ("v3", "customers_merge", success),  # customers_merge_next merged it once v2 was excluded
    ], "sensor runs are runs of the product's jobs"
