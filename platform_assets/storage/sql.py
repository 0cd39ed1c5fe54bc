"""SQLAlchemy engines for every SQL database of ours: the state catalog, the merge store, the Iceberg catalog.

Contract: :func:`create_db_engine` returns an engine whose transactions are
safe for concurrent writers on both backends. On SQLite every transaction is
``BEGIN IMMEDIATE`` (one writer at a time, waiting up to ``busy_timeout``),
which is the serialized equivalent of PostgreSQL's row locks; WAL lets readers
go on meanwhile. :func:`shared_engine` keeps one engine (one pool) per URL.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

from platform_assets.storage import db_errors

SQLITE_BUSY_TIMEOUT_MS = 60_000

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def normalize_db_url(url: str) -> str:
    """Use psycopg2 for ``postgresql://`` and ``postgres://`` URLs."""
    scheme = urlsplit(url).scheme
    if scheme in ("postgres", "postgresql"):
        return "postgresql+psycopg2" + url[len(scheme) :]
    return url


def is_postgres(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return urlsplit(url).scheme.startswith("postgres")


def create_db_engine(url: str) -> Engine:
    """A new engine for ``url`` (sqlite:///path or postgresql://...).

    Failures a user can fix (unreachable, missing, read-only) are raised as the
    PlatformErrors of :mod:`platform_assets.storage.db_errors`.
    """
    url = normalize_db_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False})
        _make_sqlite_serialized(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)
    db_errors.install(engine)
    return engine


def _make_sqlite_serialized(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def shared_engine(url: str) -> Engine:
    """One engine per URL per process (pools are per engine)."""
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = create_db_engine(url)
            _engines[url] = engine
        return engine


def dispose_engines() -> None:
    """Close every shared engine (tests dropping their databases call this)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
