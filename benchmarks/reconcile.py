"""Reconciliation of 100,000 raw files on a local-folder raw zone, against the bare listing of the same prefix.

Setup (not timed): one version of ``customers`` with ``--files`` files, registered
in the catalog in bulk through the catalog API (``register_version`` with a
listing, ``record_copies`` in chunks, ``settle_capture``), each raw copy written
straight into ``<raw>/customers/v1/part-NNN/file-NNNNNN.csv`` (1,000 files per
folder).

Timed in the same process, alternating, medians of ``--repeat``:

- ``listing``: the bare listing, the raw zone store's own lister
  (``LocalStore.iter_objects("customers/**")``, which reconcile uses), keys and sizes;
- ``scandir``: a plain ``os.scandir`` walk of the same folder with a ``stat`` per file (for reference);
- ``reconcile``: ``versions.reconciliation.reconcile`` (no deep, no repair): the listing,
  the one bulk catalog read, the comparison and its audit event.

The ratio is reconcile / listing (the issue asks for at most 2x), by wall time and by this
process's CPU time (steadier on a shared machine). ``--deep`` also
times one deep reconcile (every copy hashed). Never run this against moto: its
listing is quadratic.

Usage: ``python benchmarks/reconcile.py [--files 100000] [--repeat 3] [--backend sqlite|postgres|both] [--deep]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform as host
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from platform_assets.catalog.records import CopiedFile
from platform_assets.catalog.states import CaptureMode
from platform_assets.config import load_config
from platform_assets.platform import Platform
from platform_assets.storage.local_store import LocalStore
from platform_assets.storage.object_store import ObjectInfo
from platform_assets.storage.sql import dispose_engines
from platform_assets.versions.reconciliation import ReconcileOptions, reconcile
from platform_assets_tests.conftest import write_platform_config

T = TypeVar("T")

PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
PER_FOLDER = 1000
RECORD_CHUNK = 10_000


def _key(index: int) -> str:
    return f"part-{index // PER_FOLDER:03d}/file-{index:06d}.csv"


def build(folder: Path, state_db: str, files: int) -> Platform:
    """A platform whose customers v1 holds ``files`` captured files, registered in bulk."""
    path = write_platform_config(folder, state_db, f"file://{folder}/landing", f"file://{folder}/raw")
    platform = Platform(load_config(path), actor="bench")
    catalog = platform.catalog
    now = datetime.now(UTC)
    raw = folder / "raw" / "customers" / "v1"
    payloads = {}
    listing = []
    for index in range(files):
        data = f"id,name,amount,updated\n{index},n{index},1.00,2026-01-01\n".encode()
        payloads[_key(index)] = data
        listing.append(ObjectInfo(_key(index), len(data), f"etag-{index}", now))
    registered = catalog.register_version("customers", CaptureMode.SNAPSHOT, listing, "bench")
    assert registered is not None and registered.number == 1
    pending = catalog.pending_copies("customers", 1)
    store = platform.services.raw_zone
    for start in range(0, len(pending), RECORD_CHUNK):
        copies = []
        for item in pending[start : start + RECORD_CHUNK]:
            target = raw / item.key
            target.parent.mkdir(parents=True, exist_ok=True)
            data = payloads[item.key]
            target.write_bytes(data)
            sha = hashlib.sha256(data).hexdigest()
            copies.append(CopiedFile(item.id, item.key, store.uri(f"customers/v1/{item.key}"), len(data), sha))
        catalog.record_copies("customers", 1, copies, "bench")
    catalog.settle_capture("customers", 1, "bench")
    return platform


def bare_listing(store: LocalStore) -> int:
    return sum(1 for _ in store.iter_objects("customers/**"))


def scandir_walk(root: str) -> int:
    count = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    entry.stat()
                    count += 1
    return count


def timed(function: Callable[[], T]) -> tuple[float, float, T]:
    """Wall and CPU seconds of ``function()`` (CPU time: this process's, less swayed by other load), and its result."""
    start, cpu = time.perf_counter(), time.process_time()
    result = function()
    return time.perf_counter() - start, time.process_time() - cpu, result


def run(backend: str, files: int, repeat: int, deep: bool) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as work:
        folder = Path(work)
        state_db, drop = _state_db(backend, folder)
        try:
            started = time.perf_counter()
            platform = build(folder, state_db, files)
            setup_s = time.perf_counter() - started
            services, product = platform.services, platform.product("customers")
            store = services.raw_zone
            assert isinstance(store, LocalStore)
            times: dict[str, list[float]] = {"listing": [], "scandir": [], "reconcile": []}
            cpu: dict[str, list[float]] = {name: [] for name in times}
            details = []
            for _ in range(repeat):
                seconds, used, listed = timed(lambda: bare_listing(store))
                times["listing"].append(seconds)
                cpu["listing"].append(used)
                seconds, used, walked = timed(lambda: scandir_walk(str(folder / "raw" / "customers")))
                times["scandir"].append(seconds)
                cpu["scandir"].append(used)
                seconds, used, report = timed(lambda: reconcile(services, product, ReconcileOptions()))
                times["reconcile"].append(seconds)
                cpu["reconcile"].append(used)
                assert listed == walked == files, (listed, walked)
                assert report.ok and report.copies_checked == files, report.counts
                details.append(report)
            medians = {name: statistics.median(values) for name, values in times.items()}
            cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
            last = details[-1]
            result: dict[str, object] = {
                "backend": backend,
                "files": files,
                "setup_s": round(setup_s, 1),
                **{f"{name}_s": round(value, 3) for name, value in medians.items()},
                "ratio": round(medians["reconcile"] / medians["listing"], 2),
                **{f"{name}_cpu_s": round(value, 3) for name, value in cpu_medians.items()},
                "cpu_ratio": round(cpu_medians["reconcile"] / cpu_medians["listing"], 2),
                "reconcile_parts_s": {
                    "listing": round(last.listing_s, 3),
                    "catalog": round(last.catalog_s, 3),
                },
                "all": {name: [round(value, 3) for value in values] for name, values in times.items()},
            }
            if deep:
                seconds, _, _ = timed(lambda: reconcile(services, product, ReconcileOptions(deep=True)))
                result["deep_s"] = round(seconds, 3)
            return result
        finally:
            dispose_engines()
            drop()


def _state_db(backend: str, folder: Path) -> tuple[str, Callable[[], None]]:
    if backend == "sqlite":
        return f"sqlite:///{folder}/state.db", lambda: None
    name = f"bench_reconcile_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--deep", action="store_true")
    args = parser.parse_args()
    print(f"machine: {host.node()} {host.machine()}, {os.cpu_count()} cpus, Python {host.python_version()}")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        print(run(backend, args.files, args.repeat, args.deep), flush=True)


if __name__ == "__main__":
    main()
