"""Automation: the product's config starts its sensors; discovery starts capture + process, merge follows the order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.config import load_config
from platform_assets.defs.builder import build_definitions
from platform_assets.defs.ingest.sensors import build_discovery_sensor
from platform_assets.defs.merge.sensors import build_merge_sensor
from platform_assets.defs.partitions import versions_partitions
from platform_assets.defs.resources import platform_resource
from platform_assets.demo import prepare_home
from platform_assets.examples import sample_data  # noqa: F401 - the examples package ships with the code
from platform_assets.merge.versions import next_merge
from platform_assets.platform import Platform
from platform_assets_tests.conftest import write_csv, write_no_retry_config

EXAMPLE = Path(__file__).resolve().parents[2] / "platform_assets" / "examples" / "platform.yaml"


def _config(tmp_path: Path, landing: Path, automation: dict | None = None) -> str:
    settings = {"automation": automation} if automation is not None else {}
    return write_no_retry_config(tmp_path, f"sqlite:///{tmp_path}/state.db", landing, **settings)


def _evaluate(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, resources: dict[str, Any]) -> Any:
    """One evaluation; the context opens the platform resource's nested s3 resource, so it is a context manager."""
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        return sensor(context)


@pytest.mark.parametrize(
    ("automation", "status", "interval"),
    [
        (None, dg.DefaultSensorStatus.STOPPED, 30),
        ({"enabled": False}, dg.DefaultSensorStatus.STOPPED, 30),
        ({"enabled": True, "minimum_interval_seconds": 2}, dg.DefaultSensorStatus.RUNNING, 2),
    ],
)
def test_automation_sets_the_default_status_of_the_products_sensors(
    tmp_path: Path, automation: dict | None, status: dg.DefaultSensorStatus, interval: int
) -> None:
    path = _config(tmp_path, tmp_path / "landing", automation)
    defs = build_definitions(load_config(path), path)
    discovery = defs.resolve_sensor_def("customers_discovery")
    merge = defs.resolve_sensor_def("customers_merge_next")
    assert discovery.default_status is status and merge.default_status is status
    assert discovery.minimum_interval_seconds == interval
    assert merge.minimum_interval_seconds == min(5, interval)
    assert {job.name for job in discovery.jobs} == {"customers_capture_to_merge", "customers_ingest"}
    assert merge.job_name == "customers_merge"
    ingest = defs.resolve_job_def("customers_ingest")
    assert {key.to_user_string() for key in ingest.asset_layer.executable_asset_keys} == {
        "customers/raw_files",
        "customers/staged",
    }


def test_the_example_is_for_production_and_the_demo_runs_its_sensors(tmp_path: Path) -> None:
    example = load_config(str(EXAMPLE))
    assert example.products and not any(product.automation.enabled for product in example.products)
    demo = load_config(str(prepare_home(tmp_path / "demo")))
    assert demo.products and all(product.automation.enabled for product in demo.products)


def test_a_config_mistake_in_automation_is_a_config_error(tmp_path: Path) -> None:
    from platform_assets.errors import ConfigError

    for bad in ({"enabled": "maybe"}, {"minimum_interval_seconds": 0}, {"enable": True}):
        path = _config(tmp_path, tmp_path / "landing", bad)
        with pytest.raises(ConfigError, match="automation"):
            load_config(path)


def test_merge_sensor_asks_the_domain_and_keeps_the_merge_order(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = _config(tmp_path, landing, {"enabled": True})
    platform = Platform(load_config(path))
    product = platform.product("customers")
    sensor = build_merge_sensor(product)
    resources = {"platform": platform_resource(path)}

    def tick() -> dg.RunRequest | dg.SkipReason:
        with dg.instance_for_test() as instance:
            result = _evaluate(sensor, instance, resources)
        assert isinstance(result, (dg.RunRequest, dg.SkipReason))
        return result

    def skipped() -> str:
        result = tick()
        assert isinstance(result, dg.SkipReason), result
        return str(result.skip_message)

    assert "no version yet" in skipped()
    rows = {
        1: ("1", "Ann", "1.00", "2026-01-01"),
        2: ("2", "Bob", "oops", "2026-01-02"),
        3: ("3", "Cy", "3.00", "2026-01-03"),
    }
    for number, row in rows.items():
        if number == 3:
            (landing / "2.csv").unlink()  # a snapshot: v3 no longer holds the broken file
        write_csv(landing / f"{number}.csv", [row])
        registered = platform.sync("customers")
        assert registered is not None and registered.number == number
        platform.capture("customers", number)
    assert platform.process("customers", 3).version_status == "PROCESSED"
    waiting = tick()
    assert isinstance(waiting, dg.SkipReason) and "v1 is CAPTURED" in str(waiting.skip_message)
    assert "v2 and later wait" in str(waiting.skip_message), "v3 is processed but waits for v1"

    platform.process("customers", 1)
    first = tick()
    assert isinstance(first, dg.RunRequest) and first.partition_key == "v1"
    assert first.run_key is not None and first.run_key.startswith("customers/v1/merge/")
    platform.merge("customers", 1)

    platform.process("customers", 2)
    assert platform.catalog.version("customers", 2).status == "FAILED"
    held = tick()
    assert isinstance(held, dg.SkipReason)
    assert "v2 is FAILED" in str(held.skip_message) and "exclude" in str(held.skip_message)
    assert "v3 and later wait" in str(held.skip_message), "a failure stops v2's path and holds v3 in order"

    platform.exclude("customers", 2, "a broken delivery")
    third = tick()
    assert isinstance(third, dg.RunRequest) and third.partition_key == "v3"
    again = tick()
    assert isinstance(again, dg.RunRequest) and again.run_key == third.run_key, "one run per processing (deduped)"
    platform.process("customers", 3, reprocess=True)  # processed again: a new attempt may merge it
    fourth = tick()
    assert isinstance(fourth, dg.RunRequest) and fourth.run_key != third.run_key
    platform.merge("customers", 3)
    assert "every version" in skipped()
    assert next_merge(platform.services, product).version is None


def test_discovery_runs_the_whole_path_only_when_nothing_waits_before_the_version(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = _config(tmp_path, landing, {"enabled": True})
    platform = Platform(load_config(path))
    product = platform.product("customers")
    sensor = build_discovery_sensor(product, versions_partitions(product))
    resources = {"platform": platform_resource(path)}

    def requested(instance: dg.DagsterInstance) -> dict[str | None, str | None]:
        result = _evaluate(sensor, instance, resources)
        assert isinstance(result, dg.SensorResult) and result.run_requests is not None
        return {request.partition_key: request.job_name for request in result.run_requests}

    with dg.instance_for_test() as instance:
        write_csv(landing / "1.csv", [("1", "Ann", "1.00", "2026-01-01")])
        assert requested(instance) == {"v1": "customers_capture_to_merge"}, "nothing waits before v1"
        write_csv(landing / "2.csv", [("2", "Bob", "2.00", "2026-01-02")])
        assert requested(instance) == {"v1": "customers_capture_to_merge", "v2": "customers_ingest"}, (
            "v2 would wait for v1: captured and processed now, merged by customers_merge_next"
        )
        platform.capture("customers", 1)
        platform.process("customers", 1)
        platform.merge("customers", 1)
        assert requested(instance) == {"v2": "customers_capture_to_merge"}, "v1 merged: nothing waits before v2"
        platform.capture("customers", 2)
        write_csv(landing / "3.csv", [("3", "Cy", "3.00", "2026-01-03")])
        assert requested(instance) == {"v3": "customers_ingest"}, "v2 is captured, not merged: v3 would wait"
        platform.exclude("customers", 2, "not wanted")
        assert requested(instance) == {"v3": "customers_capture_to_merge"}, "v2 excluded: nothing waits before v3"


def test_merge_sensor_waits_while_a_run_on_the_version_is_unfinished(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    path = _config(tmp_path, landing, {"enabled": True})
    platform = Platform(load_config(path))
    write_csv(landing / "1.csv", [("1", "Ann", "1.00", "2026-01-01")])
    registered = platform.sync("customers")
    assert registered is not None
    platform.capture("customers", registered.number)
    platform.process("customers", 1)
    sensor = build_merge_sensor(platform.product("customers"))
    resources = {"platform": platform_resource(path)}
    with dg.instance_for_test() as instance:
        run = instance.create_run_for_job(
            build_definitions(load_config(path), path).resolve_job_def("customers_capture_to_merge"),
            tags={"dagster/partition": "v1"},
            status=dg.DagsterRunStatus.STARTED,
        )
        waiting = _evaluate(sensor, instance, resources)
        assert isinstance(waiting, dg.SkipReason) and "customers_capture_to_merge" in str(waiting.skip_message)
        instance.report_run_failed(run)
        requested = _evaluate(sensor, instance, resources)
        assert isinstance(requested, dg.RunRequest) and requested.partition_key == "v1"
