"""Workers: the processes behind lease owners, and telling a dead lease holder from a live one.

Contract:
- A worker registers its process (:mod:`platform_assets.catalog.processes`)
  under its name, the ``lease_owner`` of the files it claims. On PostgreSQL
  it also holds a session advisory lock, keys (:data:`LOCK_CLASS`, its id),
  on a connection of its own for as long as it lives: the lock is free once
  its session ended, whatever host it ran on.
- A holder is gone when its row says it stopped, when
  :func:`~platform_assets.catalog.processes.is_gone` proves its process ended
  (its PostgreSQL session may outlive it for a moment), or when its advisory
  lock is free. A holder without a row, or that cannot be proven gone, is
  alive until its lease expires.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, delete, func, select, text, update
from sqlalchemy.orm import Session

from platform_assets.catalog.models import RawFile, Worker, utc_now
from platform_assets.catalog.processes import ProcessIdentity, is_gone
from platform_assets.catalog.records import LeaseHolder, ProductRef
from platform_assets.catalog.states import FileStatus

LOCK_CLASS = 0x504C  # first key of every worker's advisory lock; the second is its id
STOPPED_ROWS_KEPT = timedelta(days=1)

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:lock_class, :worker_id)")
_UNLOCK = text("SELECT pg_advisory_unlock(:lock_class, :worker_id)")
_HELD_LOCKS = text(
    "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND classid = :lock_class AND objid IN :worker_ids"
).bindparams(bindparam("worker_ids", expanding=True))


def register(session: Session, name: str, identity: ProcessIdentity) -> int:
    """Insert (or take over) the row of worker ``name`` for the process ``identity``; returns its id.

    Rows of workers stopped more than :data:`STOPPED_ROWS_KEPT` ago go (their leases expired when they stopped).
    """
    now = utc_now()
    session.execute(delete(Worker).where(Worker.stopped_at < now - STOPPED_ROWS_KEPT, Worker.name != name))
    worker = session.scalars(select(Worker).where(Worker.name == name).with_for_update()).one_or_none()
    if worker is None:
        worker = Worker(name=name)
        session.add(worker)
    worker.host, worker.pid, worker.pid_namespace = identity.host, identity.pid, identity.pid_namespace
    worker.process_token, worker.process_started_at = identity.token, identity.started_at
    worker.advisory_lock = False
    worker.started_at = worker.heartbeat_at = now
    worker.stopped_at = worker.stop_reason = None
    session.flush()
    return worker.id


def take_session_lock(connection: Connection, worker_id: int) -> bool:
    """Take the worker's advisory lock for the life of ``connection``'s session (PostgreSQL)."""
    return bool(connection.scalar(_TRY_LOCK, {"lock_class": LOCK_CLASS, "worker_id": worker_id}))


def release_session_lock(connection: Connection, worker_id: int) -> None:
    connection.execute(_UNLOCK, {"lock_class": LOCK_CLASS, "worker_id": worker_id})


def mark_locked(session: Session, worker_id: int) -> None:
    session.execute(update(Worker).where(Worker.id == worker_id).values(advisory_lock=True))


def heartbeat(session: Session, name: str) -> None:
    session.execute(update(Worker).where(Worker.name == name).values(heartbeat_at=utc_now()))


def stop(session: Session, name: str, reason: str) -> None:
    """The worker ended: its row says so, and the leases it still holds expire now (others may take them)."""
    now = utc_now()
    stopping = update(Worker).where(Worker.name == name, Worker.stopped_at.is_(None))
    session.execute(stopping.values(stopped_at=now, stop_reason=reason))
    session.execute(
        update(RawFile)
        .where(RawFile.lease_owner == name, RawFile.status == FileStatus.PROCESSING)
        .values(lease_expires_at=now)
    )


def _held_by_others(session: Session, product: ProductRef, version: int, now: datetime, worker: str) -> list[str]:
    query = select(RawFile.lease_owner).where(
        RawFile.product_id == product.id,
        RawFile.version == version,
        RawFile.status == FileStatus.PROCESSING,
        RawFile.lease_expires_at >= now,
        RawFile.lease_owner != worker,
    )
    return sorted({name for name in session.scalars(query.distinct()) if name})


def _locked_ids(session: Session, worker_ids: Collection[int]) -> set[int]:
    if not worker_ids:
        return set()
    rows = session.scalars(_HELD_LOCKS, {"lock_class": LOCK_CLASS, "worker_ids": sorted(worker_ids)})
    return {int(objid) for objid in rows}


def _why_gone(worker: Worker, locked: set[int], postgres: bool) -> str | None:
    """Why ``worker`` is provably gone, or None while it may be alive."""
    if worker.stopped_at is not None:
        return f"it stopped at {worker.stopped_at:%Y-%m-%d %H:%M:%S} UTC"
    identity = ProcessIdentity(
        worker.host, worker.pid, worker.pid_namespace, worker.process_token, worker.process_started_at
    )
    if is_gone(identity):
        return f"process {worker.pid} on {worker.host} is gone"
    if postgres and worker.advisory_lock and worker.id not in locked:
        return "its session lock on the state database is free: its session ended"
    return None


def gone_holders(session: Session, product: ProductRef, version: int, worker: str, postgres: bool) -> dict[str, str]:
    """The workers but ``worker`` that hold live leases on the version's files and are provably gone, with why.

    It reads only (claimers never wait for each other here); the claim's audit event records the verdicts.
    """
    names = _held_by_others(session, product, version, utc_now(), worker)
    if not names:
        return {}
    rows = list(session.scalars(select(Worker).where(Worker.name.in_(names))))
    locked = _locked_ids(session, [row.id for row in rows if row.advisory_lock]) if postgres else set()
    return {row.name: reason for row in rows if (reason := _why_gone(row, locked, postgres)) is not None}


def lease_holders(session: Session, product: ProductRef, version: int) -> list[LeaseHolder]:
    """Who holds live leases on the version's files: each worker with its process, file count and last expiry."""
    now = utc_now()
    rows = session.execute(
        select(RawFile.lease_owner, func.count(), func.max(RawFile.lease_expires_at))
        .where(
            RawFile.product_id == product.id,
            RawFile.version == version,
            RawFile.status == FileStatus.PROCESSING,
            RawFile.lease_expires_at >= now,
        )
        .group_by(RawFile.lease_owner)
        .order_by(RawFile.lease_owner)
    ).all()
    names = [name for name, _, _ in rows if name]
    known = {row.name: row for row in session.scalars(select(Worker).where(Worker.name.in_(names)))}
    holders = []
    for name, count, until in rows:
        found = known.get(name or "")
        holders.append(
            LeaseHolder(
                worker=name or "",
                files=count,
                until=until or now,  # never None: the rows have leases from now on
                host=found.host if found else None,
                pid=found.pid if found else None,
            )
        )
    return holders


def holder_gone(session: Session, name: str, postgres: bool) -> str | None:
    """Why the lease holder ``name`` is provably gone, or None while it may be alive (no row: may be alive)."""
    worker = session.scalars(select(Worker).where(Worker.name == name)).one_or_none()
    if worker is None:
        return None
    locked = _locked_ids(session, [worker.id]) if postgres and worker.advisory_lock else set()
    return _why_gone(worker, locked, postgres)


def describe(session: Session, name: str) -> str:
    """``worker W (pid P on host H)``, or ``worker W`` when its process is not known."""
    worker = session.scalars(select(Worker).where(Worker.name == name)).one_or_none()
    return f"worker {name} (pid {worker.pid} on host {worker.host})" if worker else f"worker {name}"
