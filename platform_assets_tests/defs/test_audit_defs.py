"""The audit trail in Dagster: ``audit_verify`` (job and schedule) runs the ``audit_chain_intact`` check of every
product's raw_files in process, records the result, and fails the check (ERROR) naming the first bad event; a
capture's run (which materializes raw_files) reports the newest recorded verification instead of walking the
chains; both state backends."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import text

from platform_assets.config import load_config
from platform_assets.defs.audit import AUDIT_CHECK, AUDIT_JOB, AUDIT_SCHEDULE
from platform_assets.defs.builder import build_definitions
from platform_assets.defs.ingest.jobs import capture_job_name
from platform_assets.defs.partitions import partition_key, versions_partitions_name
from platform_assets.platform import Platform
from platform_assets_tests.conftest import synced, write_csv, write_platform_config

ROWS: list[tuple[str, ...]] = [("1", "Ann", "1.00", "2026-01-01")]


def _evaluation(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == AUDIT_CHECK]
    return evaluation


def test_audit_verify_job_check_and_schedule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    landing = tmp_path / "landing"
    write_csv(landing / "a.csv", ROWS)
    path = write_platform_config(tmp_path, db_url, f"file://{landing}", f"file://{tmp_path}/raw")
    platform = Platform(load_config(path), actor="ann")
    platform.capture("customers", synced(platform, "customers").number)
    defs = build_definitions(load_config(path), path)
    schedule = defs.resolve_schedule_def(AUDIT_SCHEDULE)
    assert schedule.cron_schedule == "30 2 * * *" and schedule.job_name == AUDIT_JOB
    assert schedule.default_status is dg.DefaultScheduleStatus.RUNNING
    with dg.instance_for_test() as instance:
        intact = _evaluation(defs.resolve_job_def(AUDIT_JOB).execute_in_process(instance=instance))
        assert intact.passed and intact.asset_key == dg.AssetKey(["customers", "raw_files"])
        events = intact.metadata["events_checked"].value
        assert isinstance(events, int) and events > 1 and intact.metadata["verified_now"].value is True
        recorded = platform.catalog.last_audit_verification()
        assert recorded is not None and recorded.result.intact and recorded.result.events == events

        with platform.catalog.engine.begin() as connection:
            edited = connection.execute(
                text("SELECT id FROM audit_events WHERE chain = 'customers' AND seq = 2")
            ).scalar_one()
            connection.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = :id"), {"id": edited})
        broken = _evaluation(defs.resolve_job_def(AUDIT_JOB).execute_in_process(instance=instance))
        assert not broken.passed and broken.severity is dg.AssetCheckSeverity.ERROR
        assert broken.metadata["breach"].value == "edited"
        assert f"customers: edited at seq 2, event id {edited}" in str(broken.metadata["first_bad_event"].value)

        write_csv(landing / "b.csv", ROWS)  # a capture's run reports the newest verification: no walk of its own
        number = synced(platform, "customers").number
        instance.add_dynamic_partitions(versions_partitions_name("customers"), [partition_key(number)])
        capture = defs.resolve_job_def(capture_job_name("customers")).execute_in_process(
            instance=instance, partition_key=partition_key(number)
        )
        reported = _evaluation(capture)
        assert capture.success and not reported.passed and reported.metadata["verified_now"].value is False
        assert reported.metadata["events_checked"].value == broken.metadata["events_checked"].value


def test_audit_schedule_follows_the_config(tmp_path: Path) -> None:
    path = write_platform_config(
        tmp_path,
        f"sqlite:///{tmp_path}/state.db",
        f"file://{tmp_path}/landing",
        f"file://{tmp_path}/raw",
        extra_platform={"audit": {"cron": "0 5 * * 1", "enabled": False}},
    )
    schedule = build_definitions(load_config(path), path).resolve_schedule_def(AUDIT_SCHEDULE)
    assert schedule.cron_schedule == "0 5 * * 1"
    assert schedule.default_status is dg.DefaultScheduleStatus.STOPPED
