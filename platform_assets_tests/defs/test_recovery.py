"""Recovering a version from the UI (jobs with run config), and partitions that name no version (both backends)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.execution.plan.objects import UserFailureData

from platform_assets.commands import add_version_partitions
from platform_assets.config import load_config
from platform_assets.defs.builder import build_definitions
from platform_assets.defs.ingest.sensors import build_discovery_sensor
from platform_assets.defs.partitions import versions_partitions, versions_partitions_name
from platform_assets.defs.resources import platform_resource
from platform_assets.platform import Platform
from platform_assets_tests.conftest import synced, write_csv, write_no_retry_config

BAD = "region/part-5.csv"


def _platform(tmp_path: Path, db_url: str) -> tuple[str, Path, Platform]:
    """v1 holds a good file and a file whose every row is bad (max_bad_row_fraction 0); v2 adds a good file."""
    landing = tmp_path / "landing"
    path = write_no_retry_config(tmp_path, db_url, landing)
    write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01")])
    write_csv(landing / BAD, [("2", "Bob", "not-a-number", "2026-01-02")])
    platform = Platform(load_config(path), actor="test")
    platform.capture("customers", synced(platform, "customers").number)
    return path, landing, platform


def _run(
    defs: dg.Definitions, instance: dg.DagsterInstance, job: str, partition: str, config: dict | None = None
) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition, run_config=config or {}, raise_on_error=False
    )


def _failure(result: dg.ExecuteInProcessResult) -> UserFailureData:
    failure = next(event for event in result.all_events if event.is_step_failure)
    data = failure.step_failure_data.user_failure_data
    assert data is not None
    return data


def _error(result: dg.ExecuteInProcessResult) -> str:
    return str(_failure(result).description)


def _failure_metadata(result: dg.ExecuteInProcessResult) -> Mapping[str, dg.MetadataValue]:
    return _failure(result).metadata


def _observed_status(result: dg.ExecuteInProcessResult) -> str:
    (observation,) = [event.asset_observation_data.asset_observation for event in result.get_asset_observation_events()]
    return str(observation.metadata["version_status"].value)


def test_skip_a_file_then_exclude_a_version_from_the_ui_with_the_clis_rules_and_audit(
    tmp_path: Path, db_url: str
) -> None:
    path, landing, platform = _platform(tmp_path, db_url)
    defs = build_definitions(load_config(path), path)
    with dg.instance_for_test() as instance:
        add_version_partitions(instance, "customers", [1])
        failed = _run(defs, instance, "customers_process", "v1")
        assert not failed.success and f"{BAD}: 1 of 1 rows rejected (100%)" in _error(failed)
        hint = _failure_metadata(failed)["next_steps"]
        assert isinstance(hint, dg.MarkdownMetadataValue)
        assert "customers_skip_file on partition v1" in hint.value and "platform-assets skip customers 1" in hint.value

        no_reason = _run(defs, instance, "customers_skip_file", "v1", _ops("customers_skip", key=BAD, reason=" "))
        assert not no_reason.success and "a reason is required" in _error(no_reason)
        assert platform.catalog.version("customers", 1).status == "FAILED", "a refused skip changes nothing"

        skipped = _run(
            defs, instance, "customers_skip_file", "v1", _ops("customers_skip", key=BAD, reason="bad export")
        )
        assert skipped.success
        assert _observed_status(skipped) == "PROCESSED", "the version settles at once, as with the CLI"
        (event,) = [e for e in platform.catalog.audit_events("raw_file", f"customers/1/{BAD}") if e.action == "skipped"]
        assert event.change["reason"] == "bad export" and event.dagster_run_id == skipped.run_id

        (landing / BAD).unlink()  # the next snapshot comes without the bad export
        write_csv(landing / "b.csv", [("3", "Cy", "3.00", "2026-01-03")])
        platform.capture("customers", synced(platform, "customers").number)
        add_version_partitions(instance, "customers", [2])
        excluded = _run(
            defs, instance, "customers_exclude_version", "v1", _ops("customers_exclude", reason="wrong export")
        )
        assert excluded.success and _observed_status(excluded) == "EXCLUDED"
        assert platform.catalog.version("customers", 1).excluded
        (event,) = [e for e in platform.catalog.audit_events("version", "customers/1") if e.action == "excluded"]
        assert event.change == {"reason": "wrong export"} and event.dagster_run_id == excluded.run_id
        assert _run(defs, instance, "customers_process", "v2").success
        assert _run(defs, instance, "customers_merge", "v2").success, "later versions merge past the excluded one"


def test_retry_failed_files_from_the_ui(tmp_path: Path, db_url: str) -> None:
    path, _, platform = _platform(tmp_path, db_url)
    with dg.instance_for_test() as instance:
        add_version_partitions(instance, "customers", [1])
        assert not _run(build_definitions(load_config(path), path), instance, "customers_process", "v1").success
        document = yaml.safe_load(Path(path).read_text())
        document["products"][0]["max_bad_row_fraction"] = 1.0  # the fix: the limit is raised
        Path(path).write_text(yaml.safe_dump(document, sort_keys=False))
        defs = build_definitions(load_config(path), path)
        retried = _run(defs, instance, "customers_retry_failed", "v1")
        assert retried.success
        (materialization,) = retried.get_asset_materialization_events()
        metadata = materialization.materialization.metadata
        assert metadata["files_processed"].value == 2 and metadata["rows_written"].value == 0, "only the failed file"
        assert metadata["rows_rejected"].value == 1
    assert platform.catalog.version("customers", 1).status == "PROCESSED"


def _ops(op: str, **config: str) -> dict:
    return {"ops": {op: {"config": config}}}


def test_a_partition_that_names_no_version_is_refused_before_any_work_and_removed(tmp_path: Path, db_url: str) -> None:
    path, _, platform = _platform(tmp_path, db_url)
    defs = build_definitions(load_config(path), path)
    name = versions_partitions_name("customers")
    with dg.instance_for_test() as instance:
        add_version_partitions(instance, "customers", [1])
        instance.add_dynamic_partitions(name, ["v99"])  # as the Materialize dialog's "add partition" does
        refused = _run(defs, instance, "customers_capture_to_merge", "v99")
        assert not refused.success
        assert _error(refused).startswith("customers has no version v99 (newest: v1)")
        assert refused.get_asset_materialization_events() == []
        assert instance.get_dynamic_partitions(name) == ["v1"], "the bogus partition is gone"
        assert [v.number for v in platform.catalog.versions("customers")] == [1], "nothing was registered"

        instance.add_dynamic_partitions(name, ["v42", "99"])
        sensor = build_discovery_sensor(
            load_config(path).product("customers"), versions_partitions(load_config(path).product("customers"))
        )
        with dg.build_sensor_context(instance=instance, resources={"platform": platform_resource(path)}) as context:
            tick = sensor(context)
        assert isinstance(tick, dg.SensorResult)
        deleted = [
            key
            for request in tick.dynamic_partitions_requests or []
            if isinstance(request, dg.DeleteDynamicPartitionsRequest)
            for key in request.partition_keys
        ]
        assert sorted(deleted) == ["99", "v42"], "the discovery tick removes partitions that name no version"
