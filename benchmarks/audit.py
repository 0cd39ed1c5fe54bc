"""Audit chain benchmark: what the hash chain costs the bulk writers of audit events.

Measures, in one run and on one machine, on SQLite and PostgreSQL, each twice:
with the chain (the real ``catalog/queries/audit.py``: queue, lock the chain's
head at commit, hash in one pass, one executemany, move the head) and without
it (the same queued rows inserted, in the same executemany, into a table shaped
like ``audit_events`` before the chain: no link columns, no (chain, seq) index).
- capture's catalog write: ``Catalog.record_copies`` of a version of N files
  (N raw_files updates and N audit events, one transaction), as capture does;
- ``record_many`` of N events in one transaction, nothing else (the chain's
  whole cost, the worst case);
- with ``--capture``: the whole capture of a version of N tiny local files
  (``Platform.capture``: copies, sha256, catalog writes, events), a fresh
  state database and raw zone per run;
- with ``--process``: the whole processing of such a version (``Platform.process``:
  claims, parsing, the Iceberg append, outcomes and their events), captured first,
  outside the timing.
The two modes alternate within each repeat; medians of ``--repeat`` runs.
Usage: ``python benchmarks/audit.py [--files 10000] [--repeat 5] [--backend sqlite|postgres|both] [--capture]
[--process]``
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    insert,
    text,
)
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from platform_assets.catalog import Catalog
from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import UTCDateTime
from platform_assets.catalog.queries import audit
from platform_assets.catalog.records import CopiedFile
from platform_assets.catalog.states import CaptureMode
from platform_assets.config import load_config
from platform_assets.platform import Platform
from platform_assets.storage.object_store import ObjectInfo
from platform_assets.storage.sql import dispose_engines
from platform_assets_tests.conftest import write_csv, write_platform_config

PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
_PLAIN_COLUMNS = ("entity_type", "entity_id", "action", "actor", "at", "change", "dagster_run_id")
_plain = MetaData()
PLAIN = Table(
    "audit_events_plain",  # audit_events as migration 0008 left it: no chain
    _plain,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("entity_type", String(32), nullable=False),
    Column("entity_id", Text, nullable=False),
    Column("action", String(64), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("change", JSON, nullable=False),
    Column("dagster_run_id", String(64)),
    Index("ix_audit_events_plain_entity", "entity_type", "entity_id"),
)


def _plain_link(session: Session) -> None:
    """The unchained writer: the queued rows, as they are, in one executemany into the plain table."""
    rows = session.info.pop("audit_pending", None) or []
    if rows:
        session.connection().execute(insert(PLAIN), [{name: row[name] for name in _PLAIN_COLUMNS} for row in rows])


@contextmanager
def chain_mode(chained: bool) -> Iterator[None]:
    real = audit.link_pending
    if not chained:
        audit.link_pending = _plain_link
    try:
        yield
    finally:
        audit.link_pending = real


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def capture_write(catalog: Catalog, files: int) -> Callable[[], object]:
    """A registered version of ``files`` files whose copies are all done; the write that records them."""
    product = f"p{uuid.uuid4().hex[:10]}"
    now = datetime.now(UTC)
    listing = [ObjectInfo(f"region/part-{n:06d}.csv", 1000 + n, f"etag{n}", now) for n in range(files)]
    number = catalog.register_version(product, CaptureMode.SNAPSHOT, listing, "bench")
    assert number is not None
    outcomes = [
        CopiedFile(p.id, p.key, f"file:///raw/{product}/v1/{p.key}", 1000, "ab" * 32)
        for p in catalog.pending_copies(product, number.number)
    ]
    return lambda: catalog.record_copies(product, number.number, outcomes, "bench")


def events_write(catalog: Catalog, files: int) -> Callable[[], object]:
    product = f"p{uuid.uuid4().hex[:10]}"
    rows = [
        {
            "entity_type": "raw_file",
            "entity_id": f"{product}/1/region/part-{n:06d}.csv",
            "action": "captured",
            "change": {"from": "DISCOVERED", "to": "CAPTURED", "size": 1000, "sha256": "ab" * 32},
        }
        for n in range(files)
    ]

    def write() -> None:
        with transaction(catalog.engine) as session:
            audit.record_many(session, rows, "bench")

    return write


def measure(url: str, files: int, repeat: int) -> dict[str, dict[str, float]]:
    catalog = Catalog(url)
    catalog.ready()
    _plain.create_all(catalog.engine)
    times: dict[str, dict[str, list[float]]] = {
        name: {"chained": [], "plain": []} for name in ("record_copies", "record_many")
    }
    for index in range(repeat):
        order = (True, False) if index % 2 == 0 else (False, True)
        for chained in order:
            mode = "chained" if chained else "plain"
            for name, setup in (("record_copies", capture_write), ("record_many", events_write)):
                action = setup(catalog, files)
                with chain_mode(chained):
                    times[name][mode].append(timed(action))
    return {name: {mode: statistics.median(values) for mode, values in modes.items()} for name, modes in times.items()}


def measure_step(backend: str, files: int, repeat: int, folder: Path, step: str = "capture") -> dict[str, float]:
    """Median seconds of a whole capture (``step`` "capture") or processing ("process") of a version of ``files``
    files, chained and plain (fresh state, raw zone and warehouse each)."""
    landing = folder / "landing"
    for n in range(files):
        write_csv(landing / "region" / f"part-{n:06d}.csv", [(str(n), "n", "1.00", "2026-01-01")])
    times: dict[str, list[float]] = {"chained": [], "plain": []}
    for index in range(repeat):
        for chained in (True, False) if index % 2 == 0 else (False, True):
            with database(backend) as url:
                run = folder / uuid.uuid4().hex[:8]
                run.mkdir()
                path = write_platform_config(run, url, f"file://{landing}", f"file://{run}/raw")
                _plain.create_all(Catalog(url).engine)
                platform = Platform(load_config(path), actor="bench")
                registered = platform.sync("customers")
                assert registered is not None
                capture = functools.partial(platform.capture, "customers", registered.number)
                if step == "process":
                    capture()
                timed_step = functools.partial(platform.process, "customers", registered.number)
                with chain_mode(chained):
                    times["chained" if chained else "plain"].append(timed(timed_step if step == "process" else capture))
                dispose_engines()
    return {mode: statistics.median(values) for mode, values in times.items()}


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/state.db"
        return
    name = f"pa_bench_audit_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        dispose_engines()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--capture", action="store_true", help="also time whole captures of --files files")
    parser.add_argument("--process", action="store_true", help="also time whole processing of --files files")
    args = parser.parse_args()
    backends = ("sqlite", "postgres") if args.backend == "both" else (args.backend,)
    print(f"{args.files} events per write, median of {args.repeat}")
    print(f"{'backend':<10} {'write':<14} {'plain s':>8} {'chained s':>10} {'ratio':>6} {'extra':>7}")
    for backend in backends:
        with database(backend) as url:
            results: dict[str, Any] = measure(url, args.files, args.repeat)
        if args.capture:
            with tempfile.TemporaryDirectory() as folder:
                results["capture"] = measure_step(backend, args.files, args.repeat, Path(folder))
        if args.process:
            with tempfile.TemporaryDirectory() as folder:
                results["process"] = measure_step(backend, args.files, args.repeat, Path(folder), "process")
        for name, modes in results.items():
            plain, chained = modes["plain"], modes["chained"]
            print(
                f"{backend:<10} {name:<14} {plain:>8.3f} {chained:>10.3f} {chained / plain:>6.2f} "
                f"{(chained - plain) / args.files * 1e6:>5.1f}us"
            )


if __name__ == "__main__":
    main()
