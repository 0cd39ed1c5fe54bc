"""Benchmark: merging a 1,000,000-row product's second snapshot on PostgreSQL.

Product: id text (key), name text, amount numeric(12,2), updated date.
Snapshot 2 changes 1% of the rows, deletes 0.5% and adds 0.5%.

In one run of this script, on the same PostgreSQL server:

- merge: ``merge_batch`` of snapshot 2 as batch 2 (forensic, snapshot mode)
  into a merge table that holds snapshot 1 as batch 1. Reported: load + merge
  (the whole call: checks, COPY into staging, merge, commit) and the merge
  alone (classification + apply + log + commit, without the load).
- dbt: ``dbt snapshot`` (dbt-postgres, strategy check on all columns,
  ``hard_deletes: invalidate``) of the same two snapshots loaded into a source
  table: snapshot 1 is loaded and snapshotted, snapshot 2 is loaded, then the
  second ``dbt snapshot`` is timed (wall time of the command).
- floor: COPY of the 1,000,000 rows (CSV written by Arrow) into an empty table.

Both targets get a VACUUM ANALYZE after snapshot 1 (the steady state
autovacuum would reach). Medians over ``--runs`` runs; ratios against dbt's
median wall time of the same run.

Usage::

    python benchmarks/merge.py [--rows 1000000] [--runs 3] [--dbt benchmarks/.work/dbt-venv/bin/dbt]
    python benchmarks/merge.py --curve 1000000:3,3000000:3,10000000:1

``--curve SIZE:RUNS,...`` measures only the cost curve (no dbt): batch 2 at each size, the
same change mix, fresh databases per run (dropped after each size), reported as seconds per
million rows against the first size's figure (target: within 1.5x), with the COPY floor of
each size for reference.

dbt lives in its own venv so it cannot disturb the project's pins::

    python -m venv benchmarks/.work/dbt-venv
    benchmarks/.work/dbt-venv/bin/pip install "dbt-core>=1.9,<1.11" "dbt-postgres>=1.9,<1.10.99"
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from platform_assets.config import ProductConfig
from platform_assets.merge import MergeStore, merge_batch
from platform_assets.storage.sql import create_db_engine, dispose_engines

HERE = Path(__file__).resolve().parent
DEFAULT_DBT = HERE / ".work" / "dbt-venv" / "bin" / "dbt"
ADMIN_URL = os.environ.get("PLATFORM_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SCHEMA = {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"}


def product(name: str = "bench") -> ProductConfig:
    return ProductConfig(
        name=name,
        source={"url": "file:///unused"},
        schema_={"columns": SCHEMA, "primary_key": ["id"]},
        mode="snapshot",
        milestone="forensic",
    )


def _names(rng: np.random.Generator, count: int) -> pa.Array:
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    raw = letters[rng.integers(0, 26, size=(count, 12))]
    return pa.array(raw.view("S12").ravel().astype(str), pa.string())


def _amounts(rng: np.random.Generator, count: int) -> pa.Array:
    cents = rng.integers(0, 10_000_000, size=count)
    text_values = [f"{value // 100}.{value % 100:02d}" for value in cents.tolist()]
    return pa.array(text_values, pa.string()).cast(pa.decimal128(12, 2))


def _dates(rng: np.random.Generator, count: int) -> pa.Array:
    return pa.array(rng.integers(18_000, 20_000, size=count).astype(np.int32), pa.int32()).cast(pa.date32())


def _ids(start: int, count: int) -> pa.Array:
    return pa.array([f"c{number:09d}" for number in range(start, start + count)], pa.string())


def make_snapshots(rows: int, seed: int = 7) -> tuple[pa.Table, pa.Table]:
    """Snapshot 1 (``rows`` rows) and snapshot 2 (1% changed, 0.5% deleted, 0.5% added), shuffled."""
    rng = np.random.default_rng(seed)
    first = pa.table(
        {"id": _ids(0, rows), "name": _names(rng, rows), "amount": _amounts(rng, rows), "updated": _dates(rng, rows)}
    )
    order = rng.permutation(rows)
    changed, deleted = order[: rows // 100], order[rows // 100 : rows // 100 + rows // 200]
    keep = np.ones(rows, dtype=bool)
    keep[deleted] = False
    is_changed = np.zeros(rows, dtype=bool)
    is_changed[changed] = True
    new_names = _names(rng, rows)
    second = first.set_column(1, "name", pc.if_else(pa.array(is_changed), new_names, first.column("name")))
    second = second.filter(pa.array(keep))
    added_count = rows // 200
    added = pa.table(
        {
            "id": _ids(rows, added_count),
            "name": _names(rng, added_count),
            "amount": _amounts(rng, added_count),
            "updated": _dates(rng, added_count),
        }
    )
    second = pa.concat_tables([second, added])
    second = second.take(pa.array(rng.permutation(second.num_rows)))
    first = first.take(pa.array(rng.permutation(first.num_rows)))
    return first, second


class Databases:
    """Fresh PostgreSQL databases for the benchmark, dropped at the end."""

    def __init__(self, admin_url: str) -> None:
        self.admin = create_db_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
        self.base = admin_url.rsplit("/", 1)[0]
        self.created: list[str] = []

    def new(self, prefix: str) -> str:
        name = f"bench_{prefix}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return f"{self.base}/{name}"

    def drop_all(self) -> None:
        dispose_engines()
        with self.admin.connect() as connection:
            for name in self.created:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin.dispose()


def vacuum_analyze(url: str, table: str) -> None:
    engine = create_db_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.exec_driver_sql(f"VACUUM ANALYZE {table}")
    engine.dispose()


def run_merge(databases: Databases, first: pa.Table, second: pa.Table) -> dict[str, float]:
    url = databases.new("merge")
    store = MergeStore(url)
    spec = product()
    started = time.perf_counter()
    merge_batch(store, spec, 1, first)
    initial = time.perf_counter() - started
    vacuum_analyze(url, '"bench_merge"')
    started = time.perf_counter()
    result = merge_batch(store, spec, 2, second, earlier_batches=[1])
    wall = time.perf_counter() - started
    expected = (first.num_rows // 100, first.num_rows // 200, first.num_rows // 200)
    got = (result.updated, result.deleted, result.inserted)
    if got != expected:
        raise SystemExit(f"merge counts {got} differ from the expected {expected}")
    return {
        "initial": initial,
        "wall": wall,
        "load": result.load_s,
        "merge": result.merge_s,
        "duration": result.duration_s,
    }


def copy_into(url: str, table: str, rows: pa.Table) -> float:
    """COPY ``rows`` (CSV written by Arrow, in memory) into ``table``; seconds taken."""
    import psycopg2

    connection = psycopg2.connect(url)
    try:
        started = time.perf_counter()
        buffer = io.BytesIO()
        pa_csv.write_csv(rows, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
        buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.copy_expert(f"COPY {table} (id, name, amount, updated) FROM STDIN WITH (FORMAT csv)", buffer)
        connection.commit()
        return time.perf_counter() - started
    finally:
        connection.close()


def run_floor(databases: Databases, first: pa.Table) -> float:
    url = databases.new("floor")
    engine = create_db_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE floor (id text, name text, amount numeric(12,2), updated date)")
    engine.dispose()
    return copy_into(url, "floor", first)


DBT_PROJECT = """name: merge_bench
version: "1.0"
config-version: 2
profile: merge_bench
snapshot-paths: ["snapshots"]
"""
DBT_SNAPSHOT = """sources:
  - name: bench
    schema: public
    tables:
      - name: src
snapshots:
  - name: snap
    relation: source('bench', 'src')
    config:
      schema: snapshots
      unique_key: id
      strategy: check
      check_cols: all
      hard_deletes: invalidate
"""


def _dbt_profile(url: str) -> str:
    parts = urlsplit(url)
    return (
        "merge_bench:\n  target: bench\n  outputs:\n    bench:\n      type: postgres\n"
        f"      host: {parts.hostname}\n      port: {parts.port or 5432}\n      user: {parts.username or 'postgres'}\n"
        f'      password: "{parts.password or ""}"\n      dbname: {parts.path.lstrip("/")}\n'
        "      schema: public\n      threads: 1\n"
    )


def _dbt(dbt: Path, project: Path) -> float:
    started = time.perf_counter()
    completed = subprocess.run(
        [str(dbt), "snapshot", "--project-dir", str(project), "--profiles-dir", str(project)],
        capture_output=True,
        text=True,
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"},
    )
    elapsed = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"dbt snapshot failed:\n{completed.stdout}\n{completed.stderr}")
    return elapsed


def run_dbt(databases: Databases, dbt: Path, first: pa.Table, second: pa.Table) -> dict[str, float]:
    url = databases.new("dbt")
    engine = create_db_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE src (id text PRIMARY KEY, name text, amount numeric(12,2), updated date)"
        )
    engine.dispose()
    project = Path(tempfile.mkdtemp(prefix="dbt_bench_", dir=HERE / ".work"))
    try:
        (project / "snapshots").mkdir()
        (project / "dbt_project.yml").write_text(DBT_PROJECT)
        (project / "profiles.yml").write_text(_dbt_profile(url))
        (project / "snapshots" / "snap.yml").write_text(DBT_SNAPSHOT)
        copy_into(url, "src", first)
        initial = _dbt(dbt, project)
        engine = create_db_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("TRUNCATE src")
        engine.dispose()
        copy_into(url, "src", second)
        vacuum_analyze(url, "src")
        snapshot_table = _dbt_table(url)
        vacuum_analyze(url, snapshot_table)
        wall = _dbt(dbt, project)
        _check_dbt(url, snapshot_table, first.num_rows)
        return {"initial": initial, "wall": wall}
    finally:
        shutil.rmtree(project, ignore_errors=True)


def _dbt_table(url: str) -> str:
    """The snapshot table dbt built (its schema name depends on dbt's generate_schema_name)."""
    engine = create_db_engine(url)
    with engine.connect() as connection:
        schema = connection.execute(
            text("SELECT table_schema FROM information_schema.tables WHERE table_name = 'snap'")
        ).scalar_one()
    engine.dispose()
    return f'"{schema}"."snap"'


def _check_dbt(url: str, snapshot_table: str, rows: int) -> None:
    engine = create_db_engine(url)
    with engine.connect() as connection:
        live = connection.execute(
            text(f"SELECT count(*) FROM {snapshot_table} WHERE dbt_valid_to IS NULL")
        ).scalar_one()
    engine.dispose()
    expected = rows - rows // 200 + rows // 200
    if live != expected:
        raise SystemExit(f"dbt snapshot has {live} current rows, expected {expected}")


def machine() -> dict[str, str]:
    engine = create_db_engine(ADMIN_URL)
    with engine.connect() as connection:
        version = connection.exec_driver_sql("SHOW server_version").scalar_one()
        settings = {
            name: connection.exec_driver_sql(f"SHOW {name}").scalar_one()
            for name in ("shared_buffers", "work_mem", "temp_buffers", "max_parallel_workers_per_gather")
        }
    engine.dispose()
    return {
        "nproc": subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip(),
        "python": platform.python_version(),
        "postgres": version,
        "pg_settings": ", ".join(f"{key}={value}" for key, value in settings.items()),
        "platform": platform.platform(),
    }


def median(values: list[float]) -> float:
    return statistics.median(values)


def parse_curve(value: str) -> list[tuple[int, int]]:
    """``"1000000:3,3000000:1"`` -> ``[(1000000, 3), (3000000, 1)]`` (runs default to 1)."""
    sizes = []
    for item in value.split(","):
        rows, _, runs = item.partition(":")
        sizes.append((int(rows), int(runs or 1)))
    return sizes


def cost_curve(sizes: list[tuple[int, int]]) -> None:
    """Batch 2 at each size (medians of its runs): seconds per million rows, against the first size's."""
    baseline: dict[str, float] = {}
    for rows, runs in sizes:
        started = time.perf_counter()
        first, second = make_snapshots(rows)
        print(f"curve {rows:,} rows: snapshots generated in {time.perf_counter() - started:.1f} s", flush=True)
        databases = Databases(ADMIN_URL)
        merges: list[dict[str, float]] = []
        floors: list[float] = []
        try:
            for run in range(1, runs + 1):
                merges.append(run_merge(databases, first, second))
                floors.append(run_floor(databases, first))
                print(f"curve {rows:,} run {run}: merge {merges[-1]}, floor {floors[-1]:.3f}", flush=True)
        finally:
            databases.drop_all()
        millions = rows / 1_000_000
        per_million = {
            "load + merge": median([item["wall"] for item in merges]) / millions,
            "merge alone": median([item["merge"] for item in merges]) / millions,
            "load": median([item["load"] for item in merges]) / millions,
            "initial batch 1": median([item["initial"] for item in merges]) / millions,
            "COPY floor": median(floors) / millions,
        }
        baseline = baseline or per_million
        figures = ", ".join(
            f"{name} {value:.3f} s/M ({value / baseline[name]:.2f}x)" for name, value in per_million.items()
        )
        print(f"curve {rows:,} rows, medians of {runs}: {figures}", flush=True)
        del first, second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--dbt", type=Path, default=DEFAULT_DBT)
    parser.add_argument("--skip-dbt", action="store_true")
    parser.add_argument("--curve", type=parse_curve, help="only the cost curve: SIZE:RUNS,... (no dbt)")
    args = parser.parse_args()

    print(f"machine: {machine()}")
    if args.curve:
        cost_curve(args.curve)
        return
    started = time.perf_counter()
    first, second = make_snapshots(args.rows)
    print(f"snapshots: {first.num_rows} and {second.num_rows} rows, generated in {time.perf_counter() - started:.1f} s")
    databases = Databases(ADMIN_URL)
    merges: list[dict[str, float]] = []
    dbts: list[dict[str, float]] = []
    floors: list[float] = []
    try:
        for run in range(1, args.runs + 1):
            merges.append(run_merge(databases, first, second))
            floors.append(run_floor(databases, first))
            if not args.skip_dbt:
                dbts.append(run_dbt(databases, args.dbt, first, second))
            print(f"run {run}: merge {merges[-1]}, floor {floors[-1]:.3f}, dbt {dbts[-1] if dbts else '-'}", flush=True)
    finally:
        databases.drop_all()

    merge_wall = median([item["wall"] for item in merges])
    merge_alone = median([item["merge"] for item in merges])
    load = median([item["load"] for item in merges])
    floor = median(floors)
    print("\nmedians over", args.runs, "runs (seconds):")
    print(f"  merge batch 2, load + merge (merge_batch wall): {merge_wall:.3f}")
    print(f"  merge batch 2, bulk load into staging:          {load:.3f}")
    print(f"  merge batch 2, merge alone:                     {merge_alone:.3f}")
    print(f"  merge batch 1 (initial 1M rows):                {median([item['initial'] for item in merges]):.3f}")
    print(f"  floor: COPY {args.rows} rows into an empty table: {floor:.3f}")
    if dbts:
        dbt_wall = median([item["wall"] for item in dbts])
        print(f"  dbt snapshot, second snapshot (wall):           {dbt_wall:.3f}")
        print(f"  dbt snapshot, initial (wall):                   {median([item['initial'] for item in dbts]):.3f}")
        print(f"  ratio merge alone / dbt:   {merge_alone / dbt_wall:.2f}  (target <= 0.5)")
        print(f"  ratio load+merge / dbt:    {merge_wall / dbt_wall:.2f}  (target <= 0.7)")
        print(f"  ratio load+merge / floor:  {merge_wall / floor:.2f}")


if __name__ == "__main__":
    main()
