"""Review through Dagster: the ``<product>_review`` job, the publication sensor, ``<product>/published`` and its SLA
check, and the actor every run records; both state backends."""

from __future__ import annotations

import time
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.catalog import Catalog
from platform_assets.commands import Commands, dagster_instance
from platform_assets.config import ProductConfig, load_config
from platform_assets.defs.actors import run_actor
from platform_assets.defs.builder import build_definitions
from platform_assets.defs.merge.sensors import build_merge_sensor
from platform_assets.defs.partitions import versions_partitions
from platform_assets.defs.resources import platform_resource
from platform_assets.defs.review import build_publication_sensor
from platform_assets_tests.conftest import write_csv
from platform_assets_tests.versions.test_review_cli import ANN, BOB, CID, review_config


def decide(
    commands: Commands, instance: dg.DagsterInstance, version: int, decision: str, tags: dict[str, str], **extra: str
) -> dg.ExecuteInProcessResult:
    job = definitions(commands).resolve_job_def("customers_review")
    config = {"ops": {"customers_review_decision": {"config": {"version": version, "decision": decision, **extra}}}}
    return job.execute_in_process(instance=instance, run_config=config, tags=tags, raise_on_error=False)


def definitions(commands: Commands) -> dg.Definitions:
    return build_definitions(commands.platform.config, commands.config_path)


def tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, path: str, cursor: str | None) -> dg.SensorResult:
    resources = {"platform": platform_resource(path)}
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
        result = sensor(context)  # the context opens the platform resource's nested s3 resource
    assert isinstance(result, dg.SensorResult), result
    return result


def merge_turn(product: ProductConfig, instance: dg.DagsterInstance, path: str) -> dg.RunRequest | dg.SkipReason:
    resources = {"platform": platform_resource(path)}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = build_merge_sensor(product)(context)
    assert isinstance(result, (dg.RunRequest, dg.SkipReason)), result
    return result


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    return " ".join(str(event.step_failure_data.user_failure_data) for event in result.get_step_failure_events())


def test_review_job_sensor_and_published_asset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    path = review_config(tmp_path, db_url)
    text = Path(path).read_text().replace("sla_hours: 24", "sla_hours: 0.0001")
    Path(path).write_text(text)
    write_csv(tmp_path / "landing" / "a.csv", [ANN, BOB])
    monkeypatch.setenv("PLATFORM_ACTOR", "carol")
    commands = Commands(path)
    commands.sync("customers")
    report = commands.process("customers", None).report
    assert report is not None and report.version_status == "AWAITING_REVIEW"
    catalog = Catalog(load_config(path).platform.state_db)
    events = catalog.audit_events("version", "customers/1")
    assert {event.actor for event in events} == {"carol"}, "events written inside the command's runs name its user"

    instance = dagster_instance()
    refused = decide(commands, instance, 1, "approve", {})
    assert not refused.success
    assert "decide from the command line" in failure_text(refused) and "four_eyes" in failure_text(refused)
    own = decide(commands, instance, 1, "approve", {"user": "carol"})
    assert not own.success and "rule four_eyes" in failure_text(own)
    assert catalog.version("customers", 1).status == "AWAITING_REVIEW", "refusals change nothing"

    time.sleep(1)  # past the SLA of 0.36 s
    published_job = definitions(commands).resolve_job_def("customers_published")
    late = published_job.execute_in_process(instance=instance)
    check = late.get_asset_check_evaluations()[0]
    assert not check.passed and check.severity is dg.AssetCheckSeverity.WARN and "v1" in (check.description or "")
    awaiting = late.get_asset_materialization_events()[0].materialization.metadata["awaiting_review"].value
    assert "| v1 | unchanged |" in str(awaiting), "each waiting version's schema change comes first"

    config = load_config(path)
    product = config.product("customers")
    waiting = merge_turn(product, instance, path)
    assert isinstance(waiting, dg.SkipReason) and "awaits review" in str(waiting.skip_message)

    approved = decide(commands, instance, 1, "approve", {"user": "dave"})
    assert approved.success
    observed = [event.asset_observation_data.asset_observation for event in approved.get_asset_observation_events()]
    assert [(item.metadata["schema_change"].value, item.metadata["decision"].value) for item in observed] == [
        ("unchanged", "approved")
    ]
    record = catalog.version("customers", 1)
    assert (record.status, record.decided_by) == ("APPROVED", "dave")

    turn = merge_turn(product, instance, path)
    assert isinstance(turn, dg.RunRequest) and turn.partition_key == "v1", "the approval lets the merge sensor merge"
    merged = (
        definitions(commands)
        .resolve_job_def("customers_merge")
        .execute_in_process(instance=instance, partition_key="v1", tags={"dagster/sensor_name": "customers_merge_next"})
    )
    assert merged.success and catalog.version("customers", 1).status == "PUBLISHED"
    statuses = [e for e in catalog.audit_events("version", "customers/1") if e.change.get("to") == "PUBLISHED"]
    assert statuses[0].actor == "sensor:customers_merge_next", "a sensor-started run records the sensor"

    partitions = versions_partitions(product)
    jobs = [definitions(commands).resolve_job_def("customers_process"), published_job]
    sensor = build_publication_sensor(product, partitions, jobs)
    result = tick(sensor, instance, path, None)
    assert [r.job_name for r in result.run_requests or []] == ["customers_published"]
    refreshed = published_job.execute_in_process(instance=instance)
    metadata = refreshed.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["published_version"].value == 1 and metadata["versions_approved"].value == 1
    assert isinstance(metadata["approve_hours_max"].value, float)
    assert refreshed.get_asset_check_evaluations()[0].passed, "nothing waits now"

    # reject and reject-file from the UI (no four-eyes on rejections), then a child made by the sensor's runs
    write_csv(tmp_path / "landing" / "b.csv", [CID])
    commands.sync("customers")
    commands.process("customers", None)
    assert decide(commands, instance, 2, "reject_file", {"user": "dave"}, key="b.csv", notes="bad").success
    assert decide(commands, instance, 2, "approve", {"user": "dave"}).success
    assert catalog.version("customers", 2).status == "SUPERSEDED"
    result = tick(sensor, instance, path, result.cursor)
    assert [(r.job_name, r.partition_key) for r in result.run_requests or []][0] == ("customers_process", "v3")
    requested = result.dynamic_partitions_requests
    assert requested and isinstance(requested[0], dg.AddDynamicPartitionsRequest)
    assert requested[0].partition_keys == ["v3"]


def test_the_actor_of_a_run() -> None:
    assert run_actor({"user": "carol@example.com", "platform/actor": "x"}) == "carol@example.com"
    assert run_actor({"platform/actor": "carol"}) == "carol"
    assert run_actor({"dagster/sensor_name": "customers_discovery"}) == "sensor:customers_discovery"
    assert run_actor({"dagster/schedule_name": "nightly"}) == "schedule:nightly"
    assert run_actor({}) == "dagster"
