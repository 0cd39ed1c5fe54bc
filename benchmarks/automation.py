"""Automation benchmark: with the Dagster daemon running, how long from a file landing to its rows merged.

A product with ``automation: {enabled: true, minimum_interval_seconds: I}``
and the real ``dagster-daemon`` (``platform_assets_tests/daemon.py``: the
repository's workspace.yaml, a temporary DAGSTER_HOME whose queued runs leave
the queue every second). A first file is merged untimed (daemon and code
server start-up). Then, ``--drops`` times: write a new CSV of ``--rows`` rows
into the source and poll the merge table's live rows every 0.2 s until the
new rows are there. Per drop it also reads the version's runs from the
instance (one ``<product>_capture_to_merge`` when nothing waited before the
version; else ``<product>_ingest`` then ``<product>_merge``) and counts their
start-to-end times as "the work itself". The budget the issue
sets is I + work + 15 s.

Usage: ``python benchmarks/automation.py [--interval 30] [--drops 5] [--rows 1000]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from platform_assets.config import load_config
from platform_assets.merge.versions import table_row_counts
from platform_assets.platform import Platform
from platform_assets.storage.sql import dispose_engines
from platform_assets_tests.conftest import write_csv, write_platform_config
from platform_assets_tests.daemon import running_daemon, wait_for

SLACK_SECONDS = 15
TIMEOUT_SECONDS = 300


def product_config(landing: Path, interval: int) -> dict[str, object]:
    return {
        "name": "customers",
        "source": {"url": f"file://{landing}", "glob": "**/*.csv", "format": "csv"},
        "schema": {
            "columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"},
            "primary_key": ["id"],
        },
        "mode": "incremental",  # each drop is one new file; the version holds it alone
        "automation": {"enabled": True, "minimum_interval_seconds": interval},
    }


def drop(landing: Path, number: int, rows: int) -> None:
    """Write the file in a hidden name first, then rename it in: the source sees it whole."""
    staging = landing / f".drop-{number}.tmp"
    write_csv(staging, [(f"{number}-{row}", "n", "1.00", "2026-01-01") for row in range(rows)])
    os.replace(staging, landing / f"drop-{number:03d}.csv")


def run_seconds(instance: dg.DagsterInstance, version: int) -> dict[str, float] | None:
    """Start-to-end seconds of each run on the version's partition, by job; None while one is unfinished."""
    records = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/partition": f"v{version}"}))
    if not records or not all(record.dagster_run.is_finished for record in records):
        return None
    return {record.dagster_run.job_name: (record.end_time or 0.0) - (record.start_time or 0.0) for record in records}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=int, default=30, help="automation.minimum_interval_seconds")
    parser.add_argument("--drops", type=int, default=5)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="automation-bench-"))
    landing = folder / "landing"
    landing.mkdir()
    config = write_platform_config(
        folder,
        f"sqlite:///{folder}/state.db",
        f"file://{landing}",
        f"file://{folder}/raw",
        products=[product_config(landing, args.interval)],
    )
    platform = Platform(load_config(config))
    product = platform.product("customers")
    home, log = folder / "dagster_home", folder / "daemon.log"
    os.environ["DAGSTER_HOME"] = str(home)

    def live() -> int:
        return table_row_counts(platform.services.merge_store, product)[0]

    latencies, works = [], []
    print(f"interval {args.interval} s, {args.rows} rows per file, {args.drops} drops; daemon log {log}")
    with running_daemon(home, config, log):
        started = time.monotonic()
        drop(landing, 0, args.rows)
        wait_for(lambda: live() == args.rows, TIMEOUT_SECONDS, "the warm-up file merged", log)
        print(f"warm-up (daemon start-up included): {time.monotonic() - started:.1f} s")
        with dg.DagsterInstance.get() as instance:
            for number in range(1, args.drops + 1):
                expected = (number + 1) * args.rows
                time.sleep(number % 3)  # drop at different points of the sensor's interval
                dropped = time.monotonic()
                drop(landing, number, args.rows)
                wait_for(lambda: live() == expected, TIMEOUT_SECONDS, f"drop {number} merged", log)  # noqa: B023
                latency = time.monotonic() - dropped
                wait_for(lambda: run_seconds(instance, number + 1) is not None, 60, "its runs end", log)  # noqa: B023
                runs = run_seconds(instance, number + 1) or {}
                work = sum(runs.values())
                budget = args.interval + work + SLACK_SECONDS
                latencies.append(latency)
                works.append(work)
                print(
                    f"drop {number}: merged after {latency:.1f} s; runs "
                    + ", ".join(f"{job} {seconds:.1f} s" for job, seconds in sorted(runs.items()))
                    + f"; budget {budget:.1f} s: {'met' if latency <= budget else 'MISSED'}"
                )
    dispose_engines()
    latency, work = statistics.median(latencies), statistics.median(works)
    budget = args.interval + work + SLACK_SECONDS
    verdict = "met" if latency <= budget else "MISSED"
    print(
        f"median drop -> merged {latency:.1f} s; median work (its runs) {work:.1f} s; "
        f"budget {args.interval} + {work:.1f} + {SLACK_SECONDS} = {budget:.1f} s: {verdict}"
    )


if __name__ == "__main__":
    main()
