"""Many small files: 10,000 CSV files x 10 rows end to end, against the bare floor measured in the same run.

Floor (what any platform must do at least): list the landing folder, copy each
file with one ``shutil.copyfile``, read all the copies with one pyarrow dataset
read (declared types), and one pyiceberg append.

Platform, timed step by step in this process (the domain calls the Dagster
assets make, without Dagster): ``sync`` (discovery: list, diff, register the
version and its 10,000 ``raw_files`` rows), ``capture`` (copy into the raw zone
with sha256, catalog rows), ``process`` (claims, checksum checks, parsing,
Iceberg appends with markers, outcomes, audit events), ``merge`` (the version's
rows into the forensic merge table, published). Each backend (SQLite and
PostgreSQL state; the merge store on the same backend) gets a fresh state
database, raw zone and warehouse per repetition; medians of ``--repeat``.

``--cli`` also times the same four steps through the ``platform-assets``
command (``sync`` = discovery + capture, ``process``, ``merge``), each one
Dagster run in a fresh process: the figure users see, which adds the
interpreter start, imports, Definitions load and Dagster's run machinery.

Usage: ``python benchmarks/small_files.py [--files 10000] [--rows 10] [--repeat 3] [--skip-postgres] [--cli]
[--profile STEP]`` (``--profile process`` prints a cProfile of one SQLite run of that step).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.dataset as pads
from pyiceberg.catalog.sql import SqlCatalog
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.ingest import COLUMNS, PG_ADMIN, write_csvs
from benchmarks.memory import prefault
from platform_assets.config import load_config
from platform_assets.ingest.parsing import declared_arrow_schema
from platform_assets.platform import Platform
from platform_assets.storage.sql import dispose_engines
from platform_assets_tests.conftest import write_platform_config

STEPS = ("sync", "capture", "process", "merge")
CREATED: list[str] = []


def floor_run(landing: Path, work: Path) -> dict[str, float]:
    """The bare work, per part: list, copy each file, one dataset read, one Iceberg append."""
    schema = declared_arrow_schema(COLUMNS)
    catalog = SqlCatalog(
        "floor", uri=f"sqlite:///{work}/floor-{uuid.uuid4().hex}.db", warehouse=f"file://{work}/floor-warehouse"
    )
    catalog.create_namespace("floor")
    table = catalog.create_table(f"floor.t{uuid.uuid4().hex[:6]}", schema=schema)
    target = work / f"floor-raw-{uuid.uuid4().hex[:6]}"
    target.mkdir()
    prefault()
    times: dict[str, float] = {}
    started = time.perf_counter()
    names = sorted(entry.name for entry in os.scandir(landing) if entry.name.endswith(".csv"))
    times["list"] = time.perf_counter() - started
    tick = time.perf_counter()
    for name in names:
        shutil.copyfile(landing / name, target / name)
    times["copy"] = time.perf_counter() - tick
    tick = time.perf_counter()
    csv_format = pads.CsvFileFormat(
        convert_options=pacsv.ConvertOptions(column_types=dict(zip(schema.names, schema.types)))
    )
    rows = pads.dataset([str(target / name) for name in names], format=csv_format, schema=schema).to_table()
    times["read"] = time.perf_counter() - tick
    tick = time.perf_counter()
    table.append(rows.cast(schema))
    times["append"] = time.perf_counter() - tick
    times["total"] = time.perf_counter() - started
    shutil.rmtree(target, ignore_errors=True)
    return times


def fresh_db(kind: str, work: Path, label: str) -> str:
    if kind == "sqlite":
        return f"sqlite:///{work}/{label}-{uuid.uuid4().hex[:8]}.db"
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    CREATED.append(name)
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def drop_databases() -> None:
    """Drop the PostgreSQL databases this run created (names made here: hex only)."""
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        for name in CREATED:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def write_config(work: Path, landing: Path, kind: str, batch: int | None) -> tuple[Path, str]:
    folder = work / uuid.uuid4().hex[:8]
    folder.mkdir()
    products = [
        {
            "name": "bench",
            "source": {"url": f"file://{landing}", "glob": "*.csv", "format": "csv"},
            "schema": {"columns": COLUMNS, "primary_key": ["id"]},
            "mode": "snapshot",
            "milestone": "forensic",
        }
    ]
    extra: dict = {"processing": {"claim_batch_size": batch}} if batch else {}
    path = write_platform_config(
        folder,
        fresh_db(kind, work, "state"),
        f"file://{landing}",
        f"file://{folder}/raw",
        products=products,
        merge_store=fresh_db(kind, work, "merge"),
        extra_platform=extra,
    )
    return folder, path


def platform_run(
    work: Path, landing: Path, kind: str, batch: int | None, profile: str | None = None
) -> dict[str, float]:
    """Seconds of each domain step (what the Dagster assets call), in this process."""
    _, path = write_config(work, landing, kind, batch)
    platform = Platform(load_config(path), actor="bench")
    platform.catalog  # noqa: B018 (engine and migrations: set-up, not timed)
    times: dict[str, float] = {}
    state: dict[str, int] = {}

    def sync() -> None:
        registered = platform.sync("bench")
        assert registered is not None
        state["version"] = registered.number

    def capture() -> None:
        result = platform.capture("bench", state["version"])
        assert not result.failed, result.failed

    def process() -> None:
        report = platform.process("bench", state["version"])
        assert report.succeeded, report.version_failures
        state["rows"] = report.rows_written

    def merge() -> None:
        platform.merge("bench", state["version"])

    steps: dict[str, Callable[[], None]] = {"sync": sync, "capture": capture, "process": process, "merge": merge}
    for name in STEPS:
        prefault()
        profiler = cProfile.Profile() if name == profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        steps[name]()
        if profiler:
            profiler.disable()
        times[name] = time.perf_counter() - started
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    times["total"] = sum(times[name] for name in STEPS)
    dispose_engines()
    return times


def cli_run(work: Path, landing: Path, kind: str, batch: int | None) -> dict[str, float]:
    """Seconds of ``platform-assets sync``, ``process`` and ``merge``, each a Dagster run in a new process."""
    folder, path = write_config(work, landing, kind, batch)
    home = folder / "dagster_home"
    home.mkdir()
    env = {**os.environ, "DAGSTER_HOME": str(home), "PLATFORM_ACTOR": "bench"}
    times: dict[str, float] = {}
    for step in ("sync", "process", "merge"):
        started = time.perf_counter()
        done = subprocess.run(
            ["platform-assets", "--config", path, step, "bench"], env=env, capture_output=True, text=True, check=False
        )
        times[step] = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"platform-assets {step} failed:\n{done.stdout}\n{done.stderr}")
    times["total"] = sum(times.values())
    return times


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def show(label: str, times: dict[str, float], files: int, floor: float) -> None:
    parts = ", ".join(f"{key} {value:.3f}s" for key, value in times.items() if key != "total")
    total = times["total"]
    print(f"{label}: total {total:.3f}s = {files / total:,.0f} files/s, {floor / total:.2f}x floor ({parts})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--cli", action="store_true", help="also time the steps through the platform-assets command")
    parser.add_argument("--batch", type=int, default=None, help="processing.claim_batch_size (default: the config's)")
    parser.add_argument("--profile", choices=STEPS, default=None, help="cProfile one SQLite run of this step")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-small-"))
    kinds = ["sqlite"] + ([] if args.skip_postgres else ["postgres"])
    try:
        landing = work / "landing"
        write_csvs(landing, args.files, args.rows)
        print(f"{args.files:,} files x {args.rows} rows; medians of {args.repeat}; load {os.getloadavg()[0]:.1f}")
        if args.profile:
            platform_run(work, landing, "sqlite", args.batch, profile=args.profile)
            return
        # interleaved (floor, then each backend, per repetition): on a shared machine each sees the same load
        runs: dict[str, list[dict[str, float]]] = {"floor": [], **{kind: [] for kind in kinds}}
        for _ in range(args.repeat):
            runs["floor"].append(floor_run(landing, work))
            for kind in kinds:
                runs[kind].append(platform_run(work, landing, kind, args.batch))
        floor = medians(runs["floor"])
        show("floor (list + copyfile each + one dataset read + one append)", floor, args.files, floor["total"])
        for kind in kinds:
            show(f"platform, {kind} state, domain steps", medians(runs[kind]), args.files, floor["total"])
            ratios = sorted(run["total"] / own["total"] for run, own in zip(runs["floor"], runs[kind]))
            print(f"  {kind}: floor / platform per repetition: {', '.join(f'{ratio:.2f}x' for ratio in ratios)}")
        if args.cli:
            for kind in kinds:
                show(
                    f"platform-assets command (Dagster runs), {kind} state",
                    medians([cli_run(work, landing, kind, args.batch) for _ in range(args.repeat)]),
                    args.files,
                    floor["total"],
                )
        print(f"load at the end {os.getloadavg()[0]:.1f}")
    finally:
        dispose_engines()
        drop_databases()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
