"""The state catalog's database: migrated on first use, one transaction per unit of work.

Contract: :func:`open_catalog` returns the shared engine for the catalog's URL
(see :mod:`platform_assets.storage.sql`), with every pending migration
applied; :func:`transaction` commits on success and rolls back on any error.
Only :mod:`platform_assets.catalog` uses these.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from platform_assets.catalog.migrate import upgrade
from platform_assets.storage.sql import shared_engine

_migrated: set[str] = set()


def open_catalog(url: str) -> Engine:
    """The shared engine for the state catalog at ``url``, migrated to the newest schema."""
    engine = shared_engine(url)
    if url not in _migrated:
        upgrade(engine)
        _migrated.add(url)
    return engine


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session in one transaction: committed on success, rolled back on any error."""
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
