"""The ingest assets through Dagster: metadata, checks (blocking), process_latest, backfill order."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import AssetCheckEvaluation
from dagster._core.execution.plan.objects import UserFailureData

from platform_assets.commands import add_version_partitions
from platform_assets.config import load_config
from platform_assets.defs.builder import build_definitions
from platform_assets.platform import Platform
from platform_assets_tests.conftest import synced, write_csv, write_no_retry_config, write_platform_config


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
    assert raw["file_count"].value == 1 and raw["new_files"].value == 1 and "a.csv" in markdown(raw["first_files"])
    assert raw["capture_status"].value == "CAPTURED" and "dagster/row_count" not in raw
    staged = _materialization(result, "staged").metadata
    assert staged["dagster/row_count"].value == 2 and staged["rows_written"].value == 2
    assert [c.name for c in column_schema(staged).columns][:4] == ["id", "name", "amount", "updated"]
    assert "Ann" in markdown(staged["preview"])
    merged = _materialization(result, "merge").metadata
    assert (merged["inserted"].value, merged["live_rows"].value) == (2, 2)
    checks = {e.asset_check_key.name: e.passed for e in result.get_asset_check_evaluations()}
    expected = {"all_files_captured", "no_failed_files", "live_rows_match_staged", "audit_chain_intact"}
    assert checks == dict.fromkeys(expected, True)  # raw_zone_reconciled runs from its own schedule


def test_a_failed_version_fails_the_run_naming_the_file_and_stops_the_merge(setup) -> None:
    path, landing, defs = setup
    (landing / "bad.csv").write_text("id,name,amount,updated\n1,x,not a number,2026-01-01\n")  # a bad row
    Platform(load_config(path)).sync("customers")
    with dg.instance_for_test() as instance:
        add_version_partitions(instance, "customers", [1])
        result = defs.resolve_job_def("customers_capture_to_merge").execute_in_process(
            instance=instance, partition_key="v1", raise_on_error=False
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.is_step_failure)
        assert failure.step_key == "customers__staged"
        assert str(user_failure(result).description).startswith("customers v1 is FAILED: bad.csv: ")
        materialized = {e.asset_key.path[-1] for e in result.get_asset_materialization_events()}
        assert materialized == {"raw_files"}, "a FAILED version is not materialized, and nothing merges it"
        checked = _check_alone(defs, instance, "staged", "no_failed_files", "v1")
    assert not checked.passed and checked.metadata["version"].value == 1
    assert "bad.csv" in markdown(checked.metadata["failures"]) and checked.partition == "v1"


def _check_alone(
    defs: dg.Definitions, instance: dg.DagsterInstance, asset: str, name: str, partition: str
) -> AssetCheckEvaluation:
    """Execute one check on its own (no materialization), as the UI's 'Execute' does, and return its evaluation."""
    key = dg.AssetCheckKey(dg.AssetKey(["customers", asset]), name)
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.get_subset(asset_check_selection={key}, asset_selection=set()).execute_in_process(
        instance=instance, partition_key=partition, raise_on_error=False
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


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
        assert third.success, "nothing to do is a successful run, not a red one"
        assert third.get_asset_materialization_events() == []
        run = instance.get_run_by_id(third.run_id)
        assert run is not None and run.tags["platform/outcome"] == "nothing to do"
        logged = [e.message for e in instance.all_logs(third.run_id) if "nothing to do" in (e.user_message or "")]
        assert logged and "every captured version is processed" in logged[0]


def test_backfill_over_versions_processes_them_in_ascending_order(setup) -> None:
    path, landing, defs = setup
    platform = Platform(load_config(path))
    for index in range(3):
        write_csv(landing / f"v{index}.csv", [(f"k{index}", "n", "1.00", "2026-01-01")])
        platform.capture("customers", synced(platform, "customers").number)
    staged = defs.resolve_assets_def(dg.AssetKey(["customers", "staged"]))
    merge = defs.resolve_assets_def(dg.AssetKey(["customers", "merge"]))
    assert staged.backfill_policy == dg.BackfillPolicy.multi_run(1), "a backfill of staged runs one version per run"
    assert merge.backfill_policy == dg.BackfillPolicy.single_run(), "merge order matters: one run, in order"
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


def user_failure(result: dg.ExecuteInProcessResult) -> UserFailureData:
    """The dg.Failure data of the run's first failed step."""
    data = next(e for e in result.all_events if e.is_step_failure).step_failure_data.user_failure_data
    assert data is not None
    return data


def markdown(value: dg.MetadataValue) -> str:
    assert isinstance(value, dg.MarkdownMetadataValue), value
    return value.value


def column_schema(metadata: Mapping[str, dg.MetadataValue]) -> dg.TableSchema:
    value = metadata["dagster/column_schema"]
    assert isinstance(value, dg.TableSchemaMetadataValue), value
    return value.schema


def _versions_setup(tmp_path: Path, db_url: str, max_bad_row_fraction: float = 0.0) -> tuple[str, Path]:
    landing = tmp_path / "landing"
    path = write_no_retry_config(tmp_path, db_url, landing, mode="snapshot", max_bad_row_fraction=max_bad_row_fraction)
    return path, landing


def test_each_partition_of_a_backfill_carries_its_own_versions_figures(tmp_path: Path, db_url: str) -> None:
    path, landing = _versions_setup(tmp_path, db_url)
    platform = Platform(load_config(path))
    write_csv(landing / "a.csv", [(str(i), "n", "1.00", "2026-01-01") for i in range(3)])
    platform.capture("customers", synced(platform, "customers").number)
    write_csv(landing / "region" / "b.csv", [(str(i), "n", "1.00", "2026-01-01") for i in range(3, 8)])
    platform.capture("customers", synced(platform, "customers").number)
    defs = build_definitions(load_config(path), path)
    with dg.instance_for_test() as instance:
        add_version_partitions(instance, "customers", [1, 2])
        result = defs.resolve_job_def("customers_process").execute_in_process(
            instance=instance,
            tags={"dagster/asset_partition_range_start": "v1", "dagster/asset_partition_range_end": "v2"},
        )  # the worst case: both versions in one run
        assert result.success
        figures = {
            e.partition: (
                e.materialization.metadata["rows_written"].value,
                e.materialization.metadata["files_processed"].value,
            )
            for e in result.get_asset_materialization_events()
        }
        assert figures == {"v1": (3, 1), "v2": (8, 2)}, "each version's own rows and files (snapshot: v2 holds both)"
        observed = {
            e.partition: e.asset_observation_data.asset_observation.metadata["version_status"].value
            for e in result.all_events
            if e.is_asset_observation
        }
        assert observed == {"v1": "PROCESSED", "v2": "PROCESSED"}, "raw_files' partitions observe the current state"
        merged = defs.resolve_job_def("customers_merge").execute_in_process(instance=instance, partition_key="v1")
        assert merged.success
        status = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(["customers", "raw_files"]), asset_partitions=["v1"]), limit=1
        ).records[0]
        observation = status.event_log_entry.asset_observation
        assert observation is not None and observation.metadata["version_status"].value == "MERGED"


def test_a_version_over_the_bad_row_limit_fails_with_the_file_and_its_rejected_rows(
    tmp_path: Path, db_url: str
) -> None:
    path, landing = _versions_setup(tmp_path, db_url)
    write_csv(landing / "region" / "part-5.csv", [(str(i), "n", "not-a-number", "2026-01-01") for i in range(3)])
    platform = Platform(load_config(path))
    platform.capture("customers", synced(platform, "customers").number)
    defs = build_definitions(load_config(path), path)
    with dg.instance_for_test() as instance:
        add_version_partitions(instance, "customers", [1])
        result = dg.materialize(
            [defs.resolve_assets_def(dg.AssetKey(["customers", "staged"]))],
            instance=instance,
            partition_key="v1",
            raise_on_error=False,
        )
    assert not result.success
    failure = user_failure(result)
    assert failure.description == (
        "customers v1 is FAILED: region/part-5.csv: 3 of 3 rows rejected (100%), more than max_bad_row_fraction 0; "
        "see the rejects table for each row and reason, fix the file or raise the limit"
    )
    rejected_rows = failure.metadata["rejected_rows"]
    assert isinstance(rejected_rows, dg.TableMetadataValue)
    rejected = rejected_rows.value.records
    assert [(r.data["file"], r.data["line"]) for r in rejected] == [("region/part-5.csv", line) for line in (2, 3, 4)]
    assert all("amount" in str(r.data["reason"]) for r in rejected)
    assert "alpha.customers_rejects WHERE _version = 1" in str(failure.metadata["rejects_query"].value)
    assert "customers_retry_failed" in markdown(failure.metadata["next_steps"])
    assert "platform-assets process customers --version 1 --retry-failed" in markdown(failure.metadata["next_steps"])


def _staged_run(defs: dg.Definitions, instance: dg.DagsterInstance, version: int) -> dg.ExecuteInProcessResult:
    staged = defs.resolve_assets_def(dg.AssetKey(["customers", "staged"]))
    return dg.materialize([staged], instance=instance, partition_key=f"v{version}", raise_on_error=False)


def test_a_decided_version_materialized_again_is_a_successful_no_op_that_says_so(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path, landing = _versions_setup(tmp_path, db_url)
    platform = Platform(load_config(path))
    for number, name in ((1, "a"), (2, "b")):  # v1 published then SUPERSEDED by v2, PUBLISHED
        write_csv(landing / f"{name}.csv", [(f"{name}{i}", "n", "1.00", "2026-01-01") for i in range(number + 1)])
        platform.capture("customers", synced(platform, "customers").number)
        platform.process("customers", number)
        platform.merge("customers", number)
    write_csv(landing / "c.csv", [("c0", "n", "1.00", "2026-01-01")])
    assert synced(platform, "customers").number == 3
    write_csv(landing / "c.csv", [("c1", "n", "1.00", "2026-01-01")])  # changed under the capture
    assert platform.capture("customers", 3).status == "CAPTURE_FAILED"
    platform.sync("customers")  # v3 SUPERSEDED before it was ever processed
    catalog = platform.catalog
    assert [catalog.version("customers", n).status for n in (1, 2, 3)] == ["SUPERSEDED", "PUBLISHED", "SUPERSEDED"]
    events = {n: len(catalog.audit_events("version", f"customers/{n}")) for n in (1, 2, 3)}
    defs = build_definitions(load_config(path), path)
    with dg.instance_for_test() as instance:
        add_version_partitions(instance, "customers", [1, 2, 3])
        for number, status, rows, files in ((1, "SUPERSEDED", 2, 1), (2, "PUBLISHED", 5, 2)):
            result = _staged_run(defs, instance, number)
            assert result.success, "a harmless click on a decided version does not paint it red"
            metadata = _materialization(result, "staged").metadata
            note = (
                f"customers v{number} is already processed and decided ({status}): not reprocessed; "
                "a new version does: `platform-assets sync customers`"
            )
            assert metadata["outcome"].value == "unchanged, decided" and markdown(metadata["note"]) == note
            assert metadata["version_status"].value == status and metadata["dagster/row_count"].value == rows
            assert (metadata["files_processed"].value, metadata["rows_written"].value) == (files, 0)
            assert any(note == (e.user_message or "") for e in instance.all_logs(result.run_id)), "and logs it"
        refused = _staged_run(defs, instance, 3)
    assert not refused.success, "superseded before it was processed: refused as before"
    assert "version 3 of customers is SUPERSEDED (" in str(user_failure(refused).description)
    assert str(user_failure(refused).description).endswith("; it is not processed")
    assert [catalog.version("customers", n).status for n in (1, 2, 3)] == ["SUPERSEDED", "PUBLISHED", "SUPERSEDED"]
    assert {n: len(catalog.audit_events("version", f"customers/{n}")) for n in (1, 2, 3)} == events, "no change"

    from platform_assets.cli import main

    assert main(["process", "customers", "--version", "2", "--config", path]) == 1, "asked for by number: refused"
    err = capsys.readouterr().err
    assert "customers v2 is already processed and decided (PUBLISHED): not reprocessed" in err
    assert catalog.version("customers", 2).status == "PUBLISHED"
