"""The Definitions load from a config; the discovery sensor ticks with its cursor."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.config import load_config
from platform_assets.defs.builder import build_definitions
from platform_assets.defs.ingest.sensors import build_discovery_sensor
from platform_assets.defs.partitions import (
    UnknownPartitionKey,
    partition_key,
    version_of,
    versions_of,
    versions_partitions,
    versions_partitions_name,
)
from platform_assets.defs.resources import platform_resource
from platform_assets_tests.conftest import write_csv, write_platform_config

REPO = Path(__file__).resolve().parents[2]


def test_definitions_load_with_assets_checks_sensors_and_jobs(tmp_path: Path) -> None:
    path = write_platform_config(
        tmp_path, f"sqlite:///{tmp_path}/state.db", f"file://{tmp_path}/landing", f"file://{tmp_path}/raw"
    )
    defs = build_definitions(load_config(path), path)
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    assert keys == {"customers/raw_files", "customers/staged", "customers/merge", "customers/published"}
    assert defs.resolve_sensor_def("customers_discovery") is not None
    for job in (
        "customers_capture",
        "customers_process",
        "customers_merge",
        "customers_capture_to_merge",
        "customers_process_latest",
        "customers_published",
    ):
        assert defs.resolve_job_def(job) is not None
    staged = defs.resolve_assets_def(dg.AssetKey(["customers", "staged"]))
    checks = {(key.asset_key.to_user_string(), key.name) for key in defs.resolve_asset_graph().asset_check_keys}
    assert checks == {
        ("customers/raw_files", "all_files_captured"),
        ("customers/raw_files", "audit_chain_intact"),
        ("customers/raw_files", "raw_zone_reconciled"),
        ("customers/staged", "no_failed_files"),
        ("customers/merge", "live_rows_match_staged"),
    }
    assert defs.resolve_job_def("audit_verify") is not None and defs.resolve_schedule_def("audit_verify_schedule")
    assert "iceberg" in staged.specs_by_key[dg.AssetKey(["customers", "staged"])].kinds
    defs.resolve_implicit_global_asset_job_def  # noqa: B018 - resolving the whole graph must not raise
    dg.Definitions.validate_loadable(defs)


def test_entry_point_module_validates_with_the_dagster_cli(tmp_path: Path) -> None:
    env = {
        "PLATFORM_HOME": str(tmp_path),
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "DAGSTER_HOME": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-m", "platform_assets.definitions"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_discovery_sensor_tick_keeps_its_place_in_the_cursor(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    for index in range(12):
        write_csv(landing / f"{index:02d}.csv", [(str(index), "n", "1.00", "2026-01-01")])
    path = write_platform_config(
        tmp_path,
        f"sqlite:///{tmp_path}/state.db",
        f"file://{landing}",
        f"file://{tmp_path}/raw",
        extra_platform={"discovery": {"tick_seconds_budget": 0.000001, "page_size": 5}},
    )
    product = load_config(path).products[0]
    partitions = versions_partitions(product)
    sensor = build_discovery_sensor(product, partitions)
    resources = {"platform": platform_resource(path)}

    def tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
        # the context opens the platform resource's nested s3 resource: a context manager
        with dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources) as context:
            result = sensor(context)
        assert isinstance(result, dg.SensorResult), result
        return result

    with dg.instance_for_test() as instance:
        cursor = None
        for expected in ("04.csv", "09.csv"):
            result = tick(instance, cursor)
            assert not result.run_requests and "continues" in str(result.skip_reason)
            cursor = result.cursor
            assert cursor is not None and json.loads(cursor)["start_after"] == expected
        result = tick(instance, cursor)
        assert result.run_requests and result.dynamic_partitions_requests and result.cursor is not None
        assert [request.run_key for request in result.run_requests] == ["customers/v1"]
        assert result.run_requests[0].partition_key == "v1"
        assert result.dynamic_partitions_requests[0].partition_keys == ["v1"]
        assert json.loads(result.cursor) == {}
        instance.add_dynamic_partitions(versions_partitions_name(product.name), ["v1"])
        again = tick(instance, result.cursor)
        assert [request.run_key for request in again.run_requests or []] == ["customers/v1"], (
            "a pending capture is requested again (run keys dedupe)"
        )
        assert not again.dynamic_partitions_requests


def test_partition_keys_read_as_versions_and_nothing_else_names_one() -> None:
    assert partition_key(3) == "v3"
    assert version_of("v3") == 3
    assert versions_of(["v10", "v2"]) == [2, 10], "by number, not by text"
    for bogus in ("3", "99", "v0", "v03", "v", "version3", "v3 ", "V3"):
        with pytest.raises(UnknownPartitionKey, match="does not name a version"):
            version_of(bogus)
