"""One sync per product and replica store at a time.

Contract: :func:`replica_lock` holds, for the whole sync, a session-level
advisory lock (keyed by the product) where the store's dialect has them
(PostgreSQL) or, for a SQLite store, an exclusive ``flock`` on
``<store file>.replica-<product>.lock``. Both vanish with the process, so a
crashed sync never blocks the next one. A second sync of the same product
fails at once with :class:`ReplicationBusy`.

On PostgreSQL the lock's session is in autocommit mode (taking and releasing
the lock costs one statement each, no transaction) and :func:`replica_lock`
yields it: the sync may read through it (each statement its own
transaction) rather than check out another session. On SQLite it yields None.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from platform_assets.merge.store import MergeStore
from platform_assets.replication.errors import ReplicationBusy

REPLICA_LOCK_CLASS = (
    7_341_926_003 % 2**31
)  # PostgreSQL advisory lock class (pg_locks.classid): one replication sync per product


def _busy(product: str) -> ReplicationBusy:
    return ReplicationBusy(
        f"replica {product!r}: another sync of it is running against this replica store; "
        "wait for it to finish (its run or command), then sync again if needed"
    )


@contextmanager
def replica_lock(store: MergeStore, product: str) -> Iterator[Connection | None]:
    """Hold the product's replication lock for the ``with`` block; ReplicationBusy if it is taken.

    Yields the lock's autocommit session on PostgreSQL, None on SQLite (see the module contract).
    """
    if store.dialect.advisory_locks:
        with _advisory_lock(store, product) as session:
            yield session
    else:
        with _file_lock(store, product):
            yield None


@contextmanager
def _advisory_lock(store: MergeStore, product: str) -> Iterator[Connection]:
    params = {"lock_class": REPLICA_LOCK_CLASS, "product": product}
    with store.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        taken = connection.execute(
            text("SELECT pg_try_advisory_lock(:lock_class, hashtext(:product))"), params
        ).scalar_one()
        if not taken:
            raise _busy(product)
        try:
            yield connection
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:lock_class, hashtext(:product))"), params)


@contextmanager
def _file_lock(store: MergeStore, product: str) -> Iterator[None]:
    import fcntl

    database = make_url(store.url).database
    if not database or database == ":memory:":
        yield
        return
    path = Path(f"{database}.replica-{product}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(product) from None
        yield
    finally:
        os.close(descriptor)
