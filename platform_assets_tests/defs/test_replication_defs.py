"""Dagster wiring of replication: the replica asset, its lag check, the sensor and the command runner."""

from __future__ import annotations

import json

import dagster as dg
import pytest

from platform_assets.cli import main
from platform_assets.commands import Commands
from platform_assets.config import load_config
from platform_assets.defs.builder import build_definitions
from platform_assets.defs.replication import build_replication_defs, replicate_job_name, replication_resources
from platform_assets.defs.replication.assets import LAG_CHECK, build_replica_asset, build_replica_lag_check, replica_key
from platform_assets.defs.replication.resources import RemotePlatformsResource
from platform_assets.defs.replication.sensors import build_replication_sensor
from platform_assets.defs.resources import platform_resource
from platform_assets.errors import PlatformError
from platform_assets.merge import MergeStore
from platform_assets.replication import BatchOutOfRange, SyncMode
from platform_assets_tests.replication.replication_support import History, replica_live_only, row, write_replica_config


@pytest.fixture
def setup(tmp_path):
    """A primary ``beta`` (SQLite) with 4 batches and the config of the replica platform ``alpha``."""
    primary_url = f"sqlite:///{tmp_path / 'beta_merge.db'}"
    replica_url = f"sqlite:///{tmp_path / 'alpha_merge.db'}"
    history = History(MergeStore(primary_url))
    for batch in range(1, 5):
        history.merge(
            batch, {"a": row("Ann", f"{batch}.00"), "b": row("Bob"), **({"c": row("Cy")} if batch > 2 else {})}
        )
    path = write_replica_config(
        tmp_path / "alpha", replica_url, {"beta": primary_url}, max_batches_per_sync=1, max_lag_batches=1
    )
    return path, replica_url, history


def resources(path: str) -> dict[str, dg.ConfigurableResource]:
    return {
        "platform": platform_resource(path, actor="test"),
        "remote_platforms": RemotePlatformsResource(config_path=path),
    }


def test_replica_asset_materializes_with_metadata_and_the_lag_check_fails(setup) -> None:
    path, replica_url, history = setup
    product = load_config(path).products[0]
    asset, check = build_replica_asset(product, replica_url), build_replica_lag_check(product)
    op_config = {"ops": {"customers__replica": {"config": {"to_batch": 1}}}}
    result = dg.materialize([asset, check], resources=resources(path), run_config=op_config)
    assert result.success
    [materialization] = result.asset_materializations_for_node("customers__replica")
    metadata = materialization.metadata
    assert metadata["mode"].value == "seed" and metadata["primary"].value == "beta"
    assert (metadata["to_batch"].value, metadata["lag_batches"].value, metadata["rows_inserted"].value) == (1, 3, 2)
    assert isinstance(metadata["lag_batches"], dg.IntMetadataValue)
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.check_name == LAG_CHECK and not evaluation.passed
    assert evaluation.metadata["lag_batches"].value == 3

    steps = [dg.materialize([asset, check], resources=resources(path)) for _ in range(2)]
    lags = [
        step.asset_materializations_for_node("customers__replica")[0].metadata["lag_batches"].value for step in steps
    ]
    passed = [step.get_asset_check_evaluations()[0].passed for step in steps]
    assert (lags, passed) == ([2, 1], [False, True])  # one batch per sync (the cap); the limit is 1
    assert replica_live_only(replica_url) == history.live_only_at(3)


def test_sensor_requests_a_sync_only_when_a_primary_is_ahead(setup) -> None:
    path, replica_url, _ = setup
    config = load_config(path)
    product = config.products[0]
    assets, sensors, jobs = build_replication_defs(config)
    defs = dg.Definitions(assets=assets, sensors=sensors, jobs=jobs, resources=resources(path))
    sensor = defs.resolve_sensor_def("customers_replication")
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources=resources(path)) as context:
            first = sensor.evaluate_tick(context)
        assert [request.run_key for request in first.run_requests or []] == ["customers/replica/beta/seed->4"]

        job = defs.resolve_job_def(replicate_job_name("customers"))
        run = job.execute_in_process(
            instance=instance, run_config={"ops": {"customers__replica": {"config": {"to_batch": 4}}}}
        )
        assert [evaluation.passed for evaluation in run.get_asset_check_evaluations()] == [
            True
        ]  # the job runs the lag check
        with dg.build_sensor_context(instance=instance, resources=resources(path)) as context:
            caught_up = sensor.evaluate_tick(context)
        assert not caught_up.run_requests and "at batch 4" in (caught_up.skip_message or "")
    assert build_replication_sensor(product, jobs[0]).name == "customers_replication"


def test_replicate_product_runs_through_the_dagster_instance(setup, tmp_path, monkeypatch) -> None:
    path, replica_url, history = setup
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    seeded = Commands(path).replicate("customers", to_batch=3)
    assert (seeded.mode, seeded.to_batch, seeded.lag_batches) == ("seed", 3, 1)
    assert seeded.mode is SyncMode.SEED, "the result read back from the run's metadata keeps its types"
    assert replica_live_only(replica_url) == history.live_only_at(3)
    with pytest.raises(
        PlatformError,
        match="^replica 'customers': --to-batch 7 is beyond the latest committed batch 4 of primary 'beta'",
    ) as raised:
        Commands(path).replicate("customers", to_batch=7)
    assert (raised.value.kind, raised.value.exit_code) == (BatchOutOfRange.kind, BatchOutOfRange.exit_code)
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs()
        assert len(runs) == 2 and {run.tags["platform/command"] for run in runs} == {"replicate"}
        assert instance.get_latest_materialization_event(replica_key(load_config(path).products[0])) is not None


def test_definitions_load_and_hold_no_replica_for_a_primary_product(setup) -> None:
    path, _, _ = setup
    defs = build_definitions(load_config(path), path)
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("customers_replicate") is not None
    assert set(replication_resources(path)) == {"remote_platforms"}
    primary_here = load_config(path).model_copy(
        update={"products": [load_config(path).products[0].model_copy(update={"primary_platforms": ["alpha"]})]}
    )
    assert build_replication_defs(primary_here) == ([], [], [])


def test_the_replicate_command_reports_a_replication_error_in_one_line(setup, tmp_path, monkeypatch, capsys) -> None:
    path, _, _ = setup
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    code = main(["replicate", "customers", "--to-batch", "7", "--config", path, "--json"])
    captured = capsys.readouterr()
    assert code == 1, "a replication error is a user error: exit 1, no traceback"
    assert "beyond the latest committed batch 4" in json.loads(captured.out.strip().splitlines()[-1])["error"]
    assert "Traceback" not in captured.err


def test_the_replica_is_marked_as_one_with_its_table_name(setup) -> None:
    path, replica_url, _ = setup
    spec = build_replica_asset(load_config(path).products[0], replica_url).specs_by_key[
        dg.AssetKey(["customers", "replica"])
    ]
    assert spec.tags["platform/role"] == "replica" and spec.metadata["dagster/table_name"] == "customers_merge"
    assert spec.kinds == {"sqlite", "sql"} and spec.metadata["primary_platforms"] == "beta"
