"""Leases: a worker keeps the files it claimed while it works on them.

Contract: :class:`LeaseKeeper` renews the leases of the files it holds (and
the worker's heartbeat) every third of the lease window until stopped,
through the catalog service (see
:meth:`platform_assets.catalog.Catalog.claim_files` for how files are
claimed, why an outcome only applies while its worker owns the lease, and
how a dead holder's files are taken at once). :func:`held_advice` says who
holds a version's files when only waiting can help.
"""

from __future__ import annotations

import threading

from platform_assets.catalog import Catalog
from platform_assets.catalog.records import LeaseHolder


class LeaseKeeper:
    """Renews a worker's leases every third of the lease window until stopped."""

    def __init__(self, catalog: Catalog, worker: str, lease_seconds: int) -> None:
        self._catalog = catalog
        self._worker = worker
        self._lease_seconds = lease_seconds
        self._ids: list[int] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"lease-keeper-{worker}", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def hold(self, file_ids: list[int]) -> None:
        with self._lock:
            self._ids = list(file_ids)

    def _run(self) -> None:
        while not self._stop.wait(self._lease_seconds / 3):
            with self._lock:
                ids = list(self._ids)
            self._catalog.renew_leases(self._worker, ids, self._lease_seconds)


def held_advice(product: str, version: int, holders: list[LeaseHolder]) -> list[str]:
    """One line per live holder of the version's files: who, until when, and what to do (no ``skip``: it refuses)."""
    lines = []
    for holder in holders:
        process = f" (pid {holder.pid} on host {holder.host})" if holder.pid is not None else ""
        until = f"{holder.until:%H:%M:%S} UTC"
        files = "1 file of" if holder.files == 1 else f"{holder.files} files of"
        verb = "is" if holder.files == 1 else "are"
        lines.append(
            f"{files} v{version} {verb} held by worker {holder.worker}{process} until {until}; wait for "
            f"it, or stop it and run `platform-assets process {product} --version {version}` again: its files are "
            f"taken over as soon as it is gone, at the latest at {until}"
        )
    return lines
