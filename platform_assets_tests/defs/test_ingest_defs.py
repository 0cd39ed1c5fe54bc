"""The ingest assets through Dagster: metadata, checks (blocking), process_latest, backfill order."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.commands import add_version_partitions
from platform_assets.config import load_config
from platform_assets.defs.builder import build_definitions
from platform_assets.platform import Platform
from platform_assets_tests.conftest import synced, write_csv, write_platform_config


@pytest.fixture
def setup(tmp_path: Path):
    landing = tmp_path / "landing"
    write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01"), ("2", "Bob", "2.00", "2026-01-02")])
    path = write_platform_config(
        tmp_path,
        f"sqlite:///{tmp_path}/state.db",
        f"file://{landing}",
        f"file://{tmp_path}/raw",
        extra_platform={"processing": {"retry_backoff_seconds": 0}},
    )
    return path, landing, build_definitions(load_config(path), path)


def _materialization(result: dg.ExecuteInProcessResult, name: str) -> dg.AssetMaterialization:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(["customers", name])]
    assert events, f"no materialization of customers/{name}"
    return events[-1].materialization


def test_capture_to_merge_job_materializes_raw_files_staged_and_merge_with_metadata(setup) -> None:
    path, _, defs = setup
    assert synced(Platform(load_config(path)), "customers").number == 1
    with dg.instance_for_test() as instance:
        add_version_partitions(instance, "customers", [1])
        result = defs.resolve_job_def("customers_capture_to_merge").execute_in_process(
            instance=instance, partition_key="v1"
        )
    assert result.success
    raw = _materialization(result, "raw_files").metadata
    assert raw["files"].value == 1 and raw["new_files"].value == 1 and "a.csv" in markdown(raw["first_files"])
    staged = _materialization(result, "staged").metadata
    assert staged["dagster/row_count"].value == 2 and staged["rows_written"].value == 2
    assert [c.name for c in column_schema(staged).columns][:4] == ["id", "name", "amount", "updated"]
    assert "Ann" in markdown(staged["preview"])
    merged = _materialization(result, "merge").metadata
    assert (merged["inserted"].value, merged["live_rows"].value) == (2, 2)
    checks = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"all_files_captured": True, "no_failed_files": True, "live_rows_match_staged": True}


def test_failed_file_fails_the_blocking_check_and_stops_the_merge(setup) -> None:
    path, landing, defs = setup
    (landing / "bad.csv").write_text("id,name\n1,x\n")
    Platform(load_config(path)).sync("customers")
    with dg.instance_for_test() as instance:
        add_version_partitions(instance, "customers", [1])
        result = defs.resolve_job_def("customers_capture_to_merge").execute_in_process(
            instance=instance, partition_key="v1", raise_on_error=False
        )
    checks = {e.asset_check_key.name: e for e in result.get_asset_check_evaluations()}
    assert not checks["no_failed_files"].passed
    assert "bad.csv" in checks["no_failed_files"].metadata["failures"].value
    merged = [
        e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(["customers", "merge"])
    ]
    assert merged == [], "a blocking check stops the merge of a failed version"


def test_process_latest_job_resolves_the_version(setup) -> None:
    path, landing, defs = setup
    platform = Platform(load_config(path))
    platform.capture("customers", synced(platform, "customers").number)
    write_csv(landing / "b.csv", [("3", "Cy", "3.00", "2026-01-03")])
    platform.capture("customers", synced(platform, "customers").number)
    with dg.instance_for_test() as instance:
        add_version_partitions(instance, "customers", [1, 2])
        job = defs.resolve_job_def("customers_process_latest")
        first = job.execute_in_process(instance=instance)
        assert first.success
        assert [e.partition for e in first.get_asset_materialization_events()] == ["v2"], (
            "the newest captured, unprocessed version"
        )
        second = job.execute_in_process(instance=instance)
        assert [e.partition for e in second.get_asset_materialization_events()] == ["v1"]
        third = job.execute_in_process(instance=instance, raise_on_error=False)
        assert not third.success
        failure = next(e for e in third.all_events if e.is_step_failure)
        assert "nothing to process" in failure.step_failure_data.error.message


def test_backfill_over_versions_processes_them_in_ascending_order(setup) -> None:
    path, landing, defs = setup
    platform = Platform(load_config(path))
    for index in range(3):
        write_csv(landing / f"v{index}.csv", [(f"k{index}", "n", "1.00", "2026-01-01")])
        platform.capture("customers", synced(platform, "customers").number)
    staged = defs.resolve_assets_def(dg.AssetKey(["customers", "staged"]))
    merge = defs.resolve_assets_def(dg.AssetKey(["customers", "merge"]))
    assert staged.backfill_policy == dg.BackfillPolicy.single_run() == merge.backfill_policy
    with dg.instance_for_test() as instance:
        add_version_partitions(instance, "customers", [1, 2, 3])
        result = defs.resolve_job_def("customers_capture_to_merge").execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "v1",
                "dagster/asset_partition_range_end": "v3",
            },  # one backfill run over 1..3
        )
    assert result.success
    with platform.services.merge_store.engine.connect() as connection:
        from sqlalchemy import text

        batches = (
            connection.execute(
                text("SELECT batch FROM merge_batches WHERE product = 'customers' ORDER BY committed_at, batch")
            )
            .scalars()
            .all()
        )
    assert batches == [1, 2, 3]


def markdown(value: dg.MetadataValue) -> str:
    assert isinstance(value, dg.MarkdownMetadataValue), value
    return value.value


def column_schema(metadata: Mapping[str, dg.MetadataValue]) -> dg.TableSchema:
    value = metadata["dagster/column_schema"]
    assert isinstance(value, dg.TableSchemaMetadataValue), value
    return value.schema
