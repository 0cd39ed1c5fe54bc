"""Benchmark: replicating a 1,000,000-row forensic primary between two PostgreSQL databases.

Product: id text (key), name text, amount numeric(12,2), updated date. The
primary's merge store holds batch 1 (the rows) in its forensic merge table;
each later batch changes 1% of the rows (0.8% updated, 0.1% deleted, 0.1% new).

The primary is a database of the shared server (``PLATFORM_BENCH_PG``, by
default 127.0.0.1:5432). The replica platform's merge store is, with
``--replica-server``:

- ``own`` (default): a PostgreSQL server of its own, as a replica platform's
  merge store normally is (another platform, another database server). The
  script runs ``initdb`` into a temporary directory, starts the server on
  ``--replica-port`` (trust auth, 127.0.0.1 only) with the settings of
  :data:`REPLICA_SERVER_SETTINGS` (a replica server sized for this machine:
  shared_buffers 25% of RAM, and so on), and stops and removes it at the end,
  also on errors. As root, the server runs as the ``postgres`` user.
- ``shared``: another database of the primary's server (its settings
  unchanged), as before: the replica competes with the primary for that
  server's shared buffers.
- ``both``: the two setups in one run, interleaved, against the same primary.

Per setup, in one run of this script:

- floor: ``COPY (SELECT <columns>, _batch_in FROM bench_merge WHERE live ORDER BY id)
  TO STDOUT`` on the primary piped, while it runs, into ``COPY floor FROM STDIN``
  (text format) on another database, into an unindexed table; a thread writes
  the pipe. No chunks, no state, no indexes: the speed of the copy itself.
  The targets are against this floor.
- binary floor (a reference, no target): the same pipe in COPY binary format,
  which the seed uses between two PostgreSQL servers; it shows how much of
  the seed's speed comes from the format rather than from the rest.
- seed: ``replicate`` of a new replica as of batch 1 (``chunk_size`` rows per
  chunk, each its own transaction into the shadow table, its progress saved
  with it, then the key index and the switch), for a live-only replica and a
  mirror. Time of the whole call.
- incremental: after the primary merged one more batch (1% of the rows
  changed), ``replicate`` of the replica from X to X+1 (one transaction:
  delta copy, apply, state). Time of the whole call.

The floor's target database is on the replica's server of the setup; its
table has autovacuum off (it is never read again). Each replica gets a
``VACUUM ANALYZE`` right after its seed, untimed: what autovacuum would do to
it, done before anything else is timed rather than in the background of
later timings (on either server). Every timed step (floors, seeds,
incrementals) starts right after ``benchmarks.memory.prefault`` (untimed;
``--prefault-gib 0`` turns it off; see that module).

Medians over ``--runs`` runs (the floor and the seeds interleaved, each on a
fresh database; one incremental per run and form). Ratios: seed rows/s over
the floor's rows/s; incremental time over the seed time, per setup.

Usage::

    python benchmarks/replication.py [--rows 1000000] [--runs 3] [--chunk-size 50000]
        [--replica-server own|shared|both] [--replica-port 55432] [--prefault-gib 1.5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.memory import DEFAULT_GIB, prefault
from benchmarks.merge import ADMIN_URL, SCHEMA, Databases, machine, vacuum_analyze
from platform_assets.config import PlatformConfig, ProductConfig, parse_config
from platform_assets.merge import MergeStore, merge_batch
from platform_assets.merge.spec import LIVE_BATCH_OUT
from platform_assets.replication import SyncMode, dispose_primary_engines, replicate
from platform_assets.storage.sql import create_db_engine

PRODUCT = "bench"
FORMS = ("live_only", "forensic")


def primary_product() -> ProductConfig:
    return ProductConfig(
        name=PRODUCT,
        source={"url": "file:///unused"},
        schema_={"columns": SCHEMA, "primary_key": ["id"]},
        mode="snapshot",
        milestone="forensic",
        primary_platforms=["beta"],
    )


def replica_config(
    replica_url: str, primary_url: str, milestone: str, chunk_size: int, workdir: Path
) -> PlatformConfig:
    """The replica platform ``alpha``: its merge store, the primary ``beta``, the product."""
    document = {
        "platform": {"name": "alpha", "state_db": f"sqlite:///{workdir / 'state.db'}", "merge_store": replica_url},
        "platforms": {"beta": {"merge_store": primary_url}},
        "products": [
            {
                "name": PRODUCT,
                "source": {"url": "file:///unused"},
                "schema": {"columns": SCHEMA, "primary_key": ["id"]},
                "milestone": milestone,
                "primary_platforms": ["beta"],
                "replication": {"chunk_size": chunk_size, "max_batches_per_sync": 100, "max_lag_batches": 5},
            }
        ],
    }
    return parse_config(document, "benchmark")


def _names(rng: np.random.Generator, count: int) -> pa.Array:
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    return pa.array(letters[rng.integers(0, 26, size=(count, 12))].view("S12").ravel().astype(str), pa.string())


def _amounts(rng: np.random.Generator, count: int) -> pa.Array:
    cents = rng.integers(0, 10_000_000, size=count).tolist()
    return pa.array([f"{value // 100}.{value % 100:02d}" for value in cents], pa.string()).cast(pa.decimal128(12, 2))


def _dates(rng: np.random.Generator, count: int) -> pa.Array:
    return pa.array(rng.integers(18_000, 20_000, size=count).astype(np.int32), pa.int32()).cast(pa.date32())


def _ids(start: int, count: int) -> pa.Array:
    return pa.array([f"c{number:09d}" for number in range(start, start + count)], pa.string())


def first_snapshot(rows: int, rng: np.random.Generator) -> pa.Table:
    return pa.table(
        {"id": _ids(0, rows), "name": _names(rng, rows), "amount": _amounts(rng, rows), "updated": _dates(rng, rows)}
    )


@dataclass(frozen=True)
class Changes:
    """What one batch changed: the updated rows (new values), the deleted keys, the new rows."""

    updated: pa.Table
    deleted: pa.Array
    added: pa.Table


def next_snapshot(current: pa.Table, rows: int, next_id: int, rng: np.random.Generator) -> tuple[pa.Table, Changes]:
    """``current`` with 1% of ``rows`` changed (0.8% updated, 0.1% deleted, 0.1% new keys), and the changes."""
    count = current.num_rows
    order = rng.permutation(count)
    updated, deleted = order[: rows * 8 // 1000], order[rows * 8 // 1000 : rows * 9 // 1000]
    keep = np.ones(count, dtype=bool)
    keep[deleted] = False
    is_updated = np.zeros(count, dtype=bool)
    is_updated[updated] = True
    changed = current.set_column(
        1, "name", pc.if_else(pa.array(is_updated), _names(rng, count), current.column("name"))
    )
    added = rows // 1000
    new = pa.table(
        {
            "id": _ids(next_id, added),
            "name": _names(rng, added),
            "amount": _amounts(rng, added),
            "updated": _dates(rng, added),
        }
    )
    changes = Changes(
        changed.take(pa.array(np.sort(updated))),
        current.column("id").take(pa.array(np.sort(deleted))).combine_chunks(),
        new,
    )
    return pa.concat_tables([changed.filter(pa.array(keep)), new]), changes


def run_floor(primary_url: str, floor_url: str, binary: bool = False) -> tuple[float, int]:
    """Piped COPY of the live rows, ordered by key, into an unindexed table (text or binary format); (seconds, rows)."""
    engine = create_db_engine(floor_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE IF EXISTS floor")
        connection.exec_driver_sql(
            "CREATE TABLE floor (id text, name text, amount numeric(12,2), updated date, _batch_id integer) WITH "
            "(autovacuum_enabled = off)"
        )
    engine.dispose()
    import psycopg2

    source, target = psycopg2.connect(primary_url), psycopg2.connect(floor_url)
    try:
        started = time.perf_counter()
        read_end, write_end = os.pipe()
        option = " (FORMAT binary)" if binary else ""
        copy_out = (
            f'COPY (SELECT id, name, amount, updated, "_batch_in" FROM "{PRODUCT}_merge" '
            f'WHERE "_batch_out" = 2147483647 ORDER BY id) TO STDOUT{option}'
        )

        def produce() -> None:
            with os.fdopen(write_end, "wb", buffering=1 << 16) as sink, source.cursor() as cursor:
                cursor.copy_expert(copy_out, sink)

        thread = threading.Thread(target=produce)
        thread.start()
        with os.fdopen(read_end, "rb", buffering=0) as pipe, target.cursor() as cursor:
            cursor.copy_expert(f"COPY floor FROM STDIN{option}", pipe, size=1 << 20)
            rows = cursor.rowcount
        thread.join()
        target.commit()
        return time.perf_counter() - started, rows
    finally:
        source.close()
        target.close()


def run_seed(
    primary_url: str, replica_url: str, milestone: str, chunk_size: int, workdir: Path
) -> tuple[float, int, int, dict[str, float]]:
    """(seconds, rows, chunks, phase seconds) of a seed into a new replica."""
    config = replica_config(replica_url, primary_url, milestone, chunk_size, workdir)
    started = time.perf_counter()
    result = replicate(config, config.products[0], to_batch=1, actor="benchmark")
    elapsed = time.perf_counter() - started
    if result.mode != SyncMode.SEED or result.to_batch != 1:
        raise SystemExit(f"expected a seed to batch 1, got {result}")
    return elapsed, result.inserted, result.chunks, result.timings


def run_incremental(
    primary_url: str, replica_url: str, milestone: str, chunk_size: int, workdir: Path, expected: tuple[int, int, int]
) -> tuple[float, dict[str, float]]:
    config = replica_config(replica_url, primary_url, milestone, chunk_size, workdir)
    started = time.perf_counter()
    result = replicate(config, config.products[0], actor="benchmark")
    elapsed = time.perf_counter() - started
    got = (result.updated, result.deleted, result.inserted)
    if result.mode != SyncMode.INCREMENTAL or got != expected:
        raise SystemExit(f"incremental sync counts {got} ({result.mode}) differ from the expected {expected}")
    rest = elapsed - sum(result.timings.values())
    return elapsed, {**result.timings, "other_s": rest}


def _tsv(table: pa.Table) -> bytes:
    """COPY text of ``table`` (the benchmark's values need no escaping)."""
    columns = [column.to_pylist() for column in table.columns]
    return "".join(
        "\t".join("\\N" if value is None else str(value) for value in row) + "\n" for row in zip(*columns)
    ).encode()


def bare_apply(
    replica_url: str, form: str, changes: Changes, from_batch: int, to_batch: int, prefault_gib: float
) -> tuple[float, float]:
    """PostgreSQL's own floor for applying ``changes`` to a replica: (seconds to load, seconds to apply).

    The changes are COPYed from this process's memory into temp tables of the
    replica (no primary, no per-key work: "load"), then only the statements
    no incremental sync can do without run, by key ("apply"): live-only,
    UPDATE the updated keys, DELETE the deleted ones, INSERT the new ones;
    mirror, close the live rows of the updated and deleted keys, INSERT the
    new versions and the new keys. Then ROLLBACK, so the replica is as it was
    (a commit would cost 1-3 ms more). Starts after a prefault, like every step.
    """
    import psycopg2

    updated, added = changes.updated.sort_by("id"), changes.added.sort_by("id")
    closing = (
        changes.deleted
        if form == "live_only"
        else pa.concat_arrays([updated.column("id").combine_chunks(), changes.deleted])
    )
    closing = closing.take(pc.array_sort_indices(closing))
    table = f'"{PRODUCT}_merge"'
    connection = psycopg2.connect(replica_url)
    try:
        cursor = connection.cursor()
        prefault(prefault_gib)
        started = time.perf_counter()
        for name, columns, rows in (
            ("bare_updated", "id text, name text, amount numeric(12,2), updated date", updated),
            ("bare_added", "id text, name text, amount numeric(12,2), updated date", added),
            ("bare_closing", "id text", pa.table({"id": closing})),
        ):
            cursor.execute(f"CREATE TEMP TABLE {name} ({columns}) ON COMMIT DROP")
            cursor.copy_expert(f"COPY {name} FROM STDIN", io.BytesIO(_tsv(rows)))
        loaded = time.perf_counter()
        if form == "live_only":
            assignments = "name = r.name, amount = r.amount, updated = r.updated, _batch_id = %s"
            cursor.execute(
                f"UPDATE {table} AS t SET {assignments} FROM bare_updated AS r WHERE t.id = r.id", (to_batch,)
            )
            cursor.execute(f"DELETE FROM {table} AS t USING bare_closing AS k WHERE t.id = k.id")
            cursor.execute(
                f"INSERT INTO {table} (id, name, amount, updated, _batch_id) SELECT *, %s FROM bare_added", (to_batch,)
            )
        else:
            cursor.execute(
                f"UPDATE {table} AS t SET _batch_out = %s FROM bare_closing AS k WHERE t.id = k.id AND t._batch_out "
                f"= {LIVE_BATCH_OUT}",
                (from_batch,),
            )
            new_rows = "SELECT * FROM bare_updated UNION ALL SELECT * FROM bare_added"
            cursor.execute(
                f"INSERT INTO {table} (id, name, amount, updated, _batch_in, _batch_out) SELECT *, %s, "
                f"{LIVE_BATCH_OUT} FROM ({new_rows}) AS r",
                (to_batch,),
            )
        applied = time.perf_counter()
        connection.rollback()
        return loaded - started, applied - loaded
    finally:
        connection.close()


def medians(phases: list[dict[str, float]]) -> str:
    return ", ".join(f"{name} {statistics.median(p[name] for p in phases):.3f}" for name in phases[0])


# --- the replica's own PostgreSQL server -----------------------------------------------------------

REPLICA_SERVER_SETTINGS: dict[str, str] = {
    "shared_buffers": "6GB",  # 25% of the machine's 24 GiB (PostgreSQL's guidance for a dedicated server)
    "effective_cache_size": "18GB",  # 75% of RAM: what the OS cache adds
    "maintenance_work_mem": "1GB",
    "work_mem": "32MB",
    "wal_buffers": "16MB",
    "max_wal_size": "4GB",  # a server that takes bulk loads: fewer forced checkpoints
    "min_wal_size": "1GB",
    "checkpoint_timeout": "15min",
    "checkpoint_completion_target": "0.9",
    "random_page_cost": "1.1",  # SSD
    "effective_io_concurrency": "200",
    "listen_addresses": "'127.0.0.1'",
}
"""Settings of the replica's own server: those a tuning guide (pgtune, "mixed" workload) gives a
24 GiB, 2-core machine with SSD storage. Durability is PostgreSQL's default, as on the shared
server: fsync, synchronous_commit and full_page_writes on; autovacuum on (the default)."""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _as_postgres_user(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when this process is root (PostgreSQL refuses root)."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _pg_binary(name: str) -> str:
    found = shutil.which(name) or f"/usr/lib/postgresql/15/bin/{name}"
    if not Path(found).exists():
        raise SystemExit(f"{name} not found: install PostgreSQL's server binaries or run with --replica-server shared")
    return found


@contextlib.contextmanager
def own_server(port: int) -> Iterator[str]:
    """A new PostgreSQL server for the replica on ``port``: its admin URL; stopped and removed on exit."""
    if not _port_free(port):
        raise SystemExit(f"port {port} is in use: pass another --replica-port")
    folder = Path(tempfile.mkdtemp(prefix="replica_pg_"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    started = False
    try:
        subprocess.run(
            _as_postgres_user(
                [
                    _pg_binary("initdb"),
                    "-D",
                    str(data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        with open(data / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
            conf.writelines(f"{name} = {value}\n" for name, value in REPLICA_SERVER_SETTINGS.items())
        options = f"-p {port} -k {folder}"
        log = folder / "server.log"
        command = [_pg_binary("pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "start"]
        if subprocess.run(_as_postgres_user(command), capture_output=True).returncode != 0:
            raise SystemExit(f"the replica's server did not start:\n{log.read_text() if log.exists() else ''}")
        started = True
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run(
                _as_postgres_user([_pg_binary("pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
                capture_output=True,
            )
        shutil.rmtree(folder, ignore_errors=True)


def server_settings(admin_url: str) -> str:
    names = (
        "shared_buffers",
        "work_mem",
        "maintenance_work_mem",
        "max_wal_size",
        "checkpoint_timeout",
        "autovacuum",
        "synchronous_commit",
    )
    engine = create_db_engine(admin_url)
    with engine.connect() as connection:
        values = {name: connection.exec_driver_sql(f"SHOW {name}").scalar_one() for name in names}
    engine.dispose()
    return ", ".join(f"{name}={value}" for name, value in values.items())


# --- one setup: where the replica's databases live -------------------------------------------------


@dataclass
class Setup:
    """The replica's server of one setup and what was measured on it."""

    name: str
    databases: Databases
    floors: list[float] = field(default_factory=list)
    binary_floors: list[float] = field(default_factory=list)
    seeds: dict[str, list[float]] = field(default_factory=lambda: {form: [] for form in FORMS})
    seed_phases: dict[str, list[dict[str, float]]] = field(default_factory=lambda: {form: [] for form in FORMS})
    increments: dict[str, list[float]] = field(default_factory=lambda: {form: [] for form in FORMS})
    increment_phases: dict[str, list[dict[str, float]]] = field(default_factory=lambda: {form: [] for form in FORMS})
    bare: dict[str, list[dict[str, float]]] = field(default_factory=lambda: {form: [] for form in FORMS})
    replicas: dict[str, str] = field(default_factory=dict)


def measure_copies(
    setup: Setup, primary_url: str, run: int, chunk_size: int, workdir: Path, prefault_gib: float
) -> None:
    """One run's floor, binary floor and seeds (both forms) into new databases of ``setup``'s server.

    Each timed step starts right after :func:`benchmarks.memory.prefault` (untimed).
    """
    label = f"run {run + 1} [{setup.name}]"
    floor_url = setup.databases.new("floor")
    prefault(prefault_gib)
    seconds, rows = run_floor(primary_url, floor_url)
    setup.floors.append(seconds)
    print(f"{label}: floor {seconds:.3f} s ({rows} rows, {rows / seconds:,.0f} rows/s)")
    floor_url = setup.databases.new("floor_binary")
    prefault(prefault_gib)
    seconds, rows = run_floor(primary_url, floor_url, binary=True)
    setup.binary_floors.append(seconds)
    print(f"{label}: binary floor {seconds:.3f} s ({rows} rows, {rows / seconds:,.0f} rows/s)")
    for form in FORMS:
        setup.replicas[form] = setup.databases.new(f"replica_{form}")
        prefault(prefault_gib)
        seconds, rows, chunks, phases = run_seed(primary_url, setup.replicas[form], form, chunk_size, workdir)
        setup.seeds[form].append(seconds)
        setup.seed_phases[form].append(phases)
        print(f"{label}: seed {form} {seconds:.3f} s ({rows} rows, {chunks} chunks, {rows / seconds:,.0f} rows/s)")
        vacuum_analyze(setup.replicas[form], f'"{PRODUCT}_merge"')  # untimed: what autovacuum would do, done now


def measure_increments(
    setup: Setup, primary_url: str, run: int, chunk_size: int, changes: Changes, workdir: Path, prefault_gib: float
) -> None:
    """One run's incremental sync of ``setup``'s live-only replica and mirror from batch run+1 to run+2 (each after a
    prefault), each preceded by PostgreSQL's bare apply of the same changes on the same replica (rolled back)."""
    expected = (changes.updated.num_rows, len(changes.deleted), changes.added.num_rows)
    for form in FORMS:
        load_s, apply_s = bare_apply(setup.replicas[form], form, changes, run + 1, run + 2, prefault_gib)
        setup.bare[form].append({"load_s": load_s, "apply_s": apply_s})
        prefault(prefault_gib)
        seconds, phases = run_incremental(primary_url, setup.replicas[form], form, chunk_size, workdir, expected)
        setup.increments[form].append(seconds)
        setup.increment_phases[form].append(phases)
        print(f"run {run + 1} [{setup.name}]: incremental {form} batch {run + 1} -> {run + 2}: {seconds:.3f} s")


def report(setup: Setup, rows: int) -> None:
    floor = statistics.median(setup.floors)
    binary_floor = statistics.median(setup.binary_floors)
    print(
        f"\n[{setup.name}] floor (piped COPY, ordered by key, unindexed target): median {floor:.3f} s, "
        f"{rows / floor:,.0f} rows/s"
    )
    print(
        f"[{setup.name}] binary floor (the same in COPY binary format, reference): median {binary_floor:.3f} s, "
        f"{rows / binary_floor:,.0f} rows/s"
    )
    for form in FORMS:
        seed = statistics.median(setup.seeds[form])
        increment = statistics.median(setup.increments[form])
        print(
            f"[{setup.name}] {form}: seed median {seed:.3f} s, {rows / seed:,.0f} rows/s = {floor / seed:.2f}x the "
            "floor's rows/s "
            f"(target >= 0.6), {binary_floor / seed:.2f}x the binary floor's; "
            f"1% incremental median {increment:.3f} s = {increment / seed:.1%} of the seed (target <= 5%)"
        )
        print(f"  seed phases (medians, s): {medians(setup.seed_phases[form])}")
        print(f"  incremental phases (medians, s): {medians(setup.increment_phases[form])}")
        print(f"  incrementals (s): {', '.join(f'{value:.3f}' for value in setup.increments[form])}")
        bare_apply_s = statistics.median(phase["apply_s"] for phase in setup.bare[form])
        bare_total_s = statistics.median(phase["apply_s"] + phase["load_s"] for phase in setup.bare[form])
        print(
            f"  PostgreSQL's bare apply of the same changes (statements only / with loading them from memory): "
            f"{bare_apply_s:.3f} s = {bare_apply_s / seed:.1%} / {bare_total_s:.3f} s = {bare_total_s / seed:.1%} of "
            "the seed"
        )


def benchmark(setups: list[Setup], args: argparse.Namespace, workdir: Path) -> None:
    """Primary batch 1; per run, every setup's floors and seeds; per run, one more batch and the incrementals."""
    shared = Databases(ADMIN_URL)
    try:
        rng = np.random.default_rng(11)
        primary_url = shared.new("primary")
        primary = MergeStore(primary_url)
        snapshot = first_snapshot(args.rows, rng)
        started = time.perf_counter()
        merge_batch(primary, primary_product(), 1, snapshot)
        vacuum_analyze(primary_url, f'"{PRODUCT}_merge"')
        print(f"primary batch 1: {args.rows} rows merged in {time.perf_counter() - started:.1f} s")
        for run in range(args.runs):
            for setup in setups[run % 2 :] + setups[: run % 2]:
                measure_copies(setup, primary_url, run, args.chunk_size, workdir, args.prefault_gib)
        next_id = args.rows
        for run in range(args.runs):
            snapshot, changes = next_snapshot(snapshot, args.rows, next_id, rng)
            next_id += args.rows // 1000
            merge_batch(primary, primary_product(), run + 2, snapshot, earlier_batches=range(1, run + 2))
            for setup in setups[run % 2 :] + setups[: run % 2]:
                measure_increments(setup, primary_url, run, args.chunk_size, changes, workdir, args.prefault_gib)
        print(f"load average at the end: {os.getloadavg()[0]:.2f} (1 min), {os.getloadavg()[1]:.2f} (5 min)")
        for setup in setups:
            report(setup, args.rows)
    finally:
        dispose_primary_engines()
        for setup in setups:
            setup.databases.drop_all()
        shared.drop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunk-size", type=int, default=50_000)
    parser.add_argument("--replica-server", choices=("own", "shared", "both"), default="own")
    parser.add_argument("--replica-port", type=int, default=55432)
    parser.add_argument(
        "--prefault-gib",
        type=float,
        default=DEFAULT_GIB,
        help="memory touched and freed before each timed step (0: none); see benchmarks/memory.py",
    )
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the cleanup (databases, the replica's server) on kill
    workdir = Path(__file__).resolve().parent / ".work" / "replication"
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print(f"shared server (primary): {server_settings(ADMIN_URL)}")
    with contextlib.ExitStack() as stack:
        setups = []
        if args.replica_server in ("shared", "both"):
            setups.append(Setup("shared", Databases(ADMIN_URL)))
        if args.replica_server in ("own", "both"):
            own_url = stack.enter_context(own_server(args.replica_port))
            print(f"replica's own server (port {args.replica_port}): {server_settings(own_url)}")
            setups.append(Setup("own", Databases(own_url)))
        benchmark(setups, args, workdir)


if __name__ == "__main__":
    main()
