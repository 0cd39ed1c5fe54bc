"""Discovery benchmark: the sensor tick against the bare listing it cannot avoid.

Measures, in one run and on one machine:
- local folder of N files: a bare ``os.scandir`` walk with sizes; the discovery
  sensor tick that finds no change; the tick that registers every file as a
  new version (fresh state DB each time);
- moto S3 bucket of M objects: the bare boto3 paginator; the same two ticks.

Ticks run the real sensor (``build_discovery_sensor``) through
``dg.build_sensor_context`` with the platform resource, state on SQLite.
Usage: ``python benchmarks/discovery.py [--local-files 100000] [--s3-objects 10000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import boto3
import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from platform_assets.config import load_config
from platform_assets.defs.ingest.sensors import build_discovery_sensor
from platform_assets.defs.partitions import versions_partitions
from platform_assets.defs.resources import platform_resource
from platform_assets.storage.sql import dispose_engines
from platform_assets_tests.conftest import write_platform_config

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

T = TypeVar("T")


def timed(action: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def median_of(repeat: int, action: Callable[[], object]) -> float:
    return statistics.median(timed(action)[0] for _ in range(repeat))


def bare_local_listing(root: Path) -> int:
    count = 0
    stack = [str(root)]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat().st_size  # noqa: B018 - the stat a listing pays for
                    count += 1
    return count


def bare_s3_listing(client, bucket: str, prefix: str) -> int:
    count = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        count += len(page.get("Contents", []))
    return count


def make_local_source(root: Path, files: int) -> None:
    per_dir = 1000
    for index in range(files):
        folder = root / f"d{index // per_dir:04d}"
        if index % per_dir == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{index:07d}.csv").write_bytes(b"id\n1\n")


INSTANCE = dg.DagsterInstance.ephemeral()


def run_tick(config_path: str) -> dg.SensorResult:
    """One evaluation of the product's discovery sensor, as the sensor daemon runs it."""
    config = load_config(config_path)
    product = config.products[0]
    sensor = build_discovery_sensor(product, versions_partitions(product))
    resources = {"platform": platform_resource(config_path)}
    with dg.build_sensor_context(instance=INSTANCE, resources=resources) as context:  # opens the nested s3 resource
        result = sensor(context)
    assert isinstance(result, dg.SensorResult), result
    return result


def tick_timings(
    work: Path, source_url: str, raw_zone: str, repeat: int, s3_endpoint: str | None
) -> tuple[float, float]:
    """(median registering tick, median no-change tick), each registering tick on a fresh state DB."""
    registering = []
    config_path = ""
    for attempt in range(repeat):
        folder = work / f"state{attempt}"
        folder.mkdir(parents=True)
        config_path = write_platform_config(
            folder,
            f"sqlite:///{folder}/state.db",
            source_url,
            raw_zone,
            s3_endpoint=s3_endpoint,
            products=[_product(source_url)],
        )
        load_config(config_path)
        from platform_assets.catalog.db import open_catalog

        open_catalog(load_config(config_path).platform.state_db)  # migrations are not part of a tick
        seconds, result = timed(lambda: run_tick(config_path))  # noqa: B023 - called at once
        assert result.run_requests, "the first tick registers a version"
        registering.append(seconds)
    no_change = []
    for _ in range(repeat):
        seconds, result = timed(lambda: run_tick(config_path))
        assert [r.run_key for r in result.run_requests or []] == ["bench/1"], (
            "no new version: only the pending capture of version 1"
        )
        no_change.append(seconds)
    return statistics.median(registering), statistics.median(no_change)


def _product(source_url: str) -> dict:
    return {
        "name": "bench",
        "source": {"url": source_url, "glob": "**/*.csv", "format": "csv"},
        "schema": {"columns": {"id": "string"}},
        "mode": "snapshot",
    }


def moto_server() -> tuple[ThreadedMotoServer, str]:
    from moto.server import ThreadedMotoServer

    for name, value in (
        ("AWS_ACCESS_KEY_ID", "bench"),
        ("AWS_SECRET_ACCESS_KEY", "bench"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(name, value)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--local-files", type=int, default=100_000)
    parser.add_argument("--s3-objects", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-discovery-"))
    try:
        source = work / "landing"
        print(f"creating {args.local_files} local files ...", flush=True)
        make_local_source(source, args.local_files)
        bare = median_of(args.repeat, lambda: bare_local_listing(source))
        registering, no_change = tick_timings(
            work / "local", f"file://{source}", f"file://{work}/raw", args.repeat, None
        )
        print(
            f"local {args.local_files} files: bare scandir walk {bare:.3f}s; no-change tick {no_change:.3f}s "
            f"({no_change / bare:.2f}x); "
            f"registering tick {registering:.3f}s ({registering / bare:.2f}x)"
        )
        dispose_engines()

        server, endpoint = moto_server()
        try:
            client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
            client.create_bucket(Bucket="bench")
            print(f"putting {args.s3_objects} objects into moto ...", flush=True)
            for index in range(args.s3_objects):
                client.put_object(Bucket="bench", Key=f"in/d{index // 1000:03d}/f{index:07d}.csv", Body=b"id\n1\n")
            bare_s3 = median_of(args.repeat, lambda: bare_s3_listing(client, "bench", "in/"))

            registering_s3, no_change_s3 = tick_timings(
                work / "s3", "s3://bench/in", "s3://bench/raw", args.repeat, endpoint
            )
            print(
                f"moto S3 {args.s3_objects} objects: bare paginator {bare_s3:.3f}s; no-change tick "
                f"{no_change_s3:.3f}s ({no_change_s3 / bare_s3:.2f}x); "
                f"registering tick {registering_s3:.3f}s ({registering_s3 / bare_s3:.2f}x)"
            )
        finally:
            server.stop()
    finally:
        dispose_engines()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
