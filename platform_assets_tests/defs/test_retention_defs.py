"""Retention in Dagster: the ``<product>_retention`` job reports its dry run as metadata and purges only when told
(``retention.apply`` or run config), its events naming the run; the daily schedule and owners; both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg

from platform_assets.defs.builder import build_definitions
from platform_assets.defs.retention import retention_job_name, retention_schedule_name
from platform_assets_tests.versions.retention_support import make_platform, processed, published, rows, set_version


def observation_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dg.MetadataValue]:
    (event,) = [event for event in result.all_events if event.event_type_value == "ASSET_OBSERVATION"]
    observation = event.asset_observation_data.asset_observation
    assert observation.asset_key == dg.AssetKey(["customers", "raw_files"])
    return dict(observation.metadata)


def test_retention_job_reports_a_dry_run_then_purges_when_told(tmp_path: Path, db_url: str) -> None:
    retention = {"keep_last": 1, "unpublished_days": 30}
    platform = make_platform(tmp_path, db_url, owners=["team:data-eng"], retention=retention)
    published(platform, {"a.csv": rows(0)})
    processed(platform, {"a.csv": rows(1)})
    platform.exclude("customers", 2, "bad")
    processed(platform, {"a.csv": rows(2)})
    set_version(platform, 2, created_at=datetime.now(UTC) - timedelta(days=31))
    definitions = build_definitions(platform.config, str(platform.config.source_path))
    schedule = definitions.resolve_schedule_def(retention_schedule_name("customers"))
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 3 * * *", "UTC")
    assert schedule.default_status is dg.DefaultScheduleStatus.RUNNING
    job = definitions.resolve_job_def(retention_job_name("customers"))
    assert job.owners == ["team:data-eng"]

    instance = dg.DagsterInstance.ephemeral()
    dry = job.execute_in_process(instance=instance, tags={"platform/actor": "scheduler"})
    metadata = observation_metadata(dry)
    assert (metadata["applied"].value, metadata["candidates"].value, metadata["purged"].value) == (False, 1, 0)
    assert "| 2 | PROCESSED | would purge | unpublished_days |" in str(metadata["plan"].value)
    assert platform.catalog.version("customers", 2).status == "PROCESSED"

    config = {"ops": {"customers_retention_plan": {"config": {"apply": True}}}}
    applied = job.execute_in_process(instance=instance, run_config=config, tags={"platform/actor": "scheduler"})
    metadata = observation_metadata(applied)
    assert (metadata["applied"].value, metadata["purged"].value, metadata["rows_deleted"].value) == (True, 1, 2)
    record = platform.catalog.version("customers", 2)
    assert (record.status, record.purged_by) == ("PURGED", "scheduler")
    (purged,) = [e for e in platform.catalog.audit_events("version", "customers/2") if e.action == "purged"]
    assert purged.dagster_run_id == applied.run_id
