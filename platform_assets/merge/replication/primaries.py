"""Primary platforms of a replicated product: read-only connections, probing and failover.

Contract:

- A replica never writes to a primary. :func:`primary_engine` opens every
  primary merge store read-only: SQLite as ``file:...?mode=ro`` (a missing file
  is an error, never a new empty store), PostgreSQL with
  ``default_transaction_read_only=on`` and a connect timeout, so an unreachable
  host costs seconds, not minutes.
- :func:`choose_primary` tries ``product.primary_platforms`` in their order and
  returns the first one that answers, with its latest committed batch and its
  epoch, plus the reasons the earlier ones were skipped (each also logged as a
  warning). A primary "answers" when its merge store can be read and holds a
  batch log, a store epoch and at least one committed batch of the product.
  When none answers, :class:`NoPrimaryAvailable` lists every primary and its
  error.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, inspect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from platform_assets.catalog.db import is_postgres, normalize_db_url
from platform_assets.config import PlatformConfig, ProductConfig, mask_url
from platform_assets.merge.batch_log import COMMITTED, batch_entry, batch_statuses, latest_committed_batch
from platform_assets.merge.names import BATCH_LOG_TABLE, META_TABLE
from platform_assets.merge.replication.errors import NoPrimaryAvailable
from platform_assets.merge.replication.state import Fingerprint, stamp
from platform_assets.merge.tables import read_epoch

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
APPLICATION_NAME = "platform_assets_replica"

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Primary:
    """A primary that answered: its read-only engine, latest committed batch and store epoch."""

    name: str
    url: str
    engine: Engine
    postgres: bool
    latest: int
    epoch: str

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)


class PrimaryUnusable(Exception):
    """A primary answered but cannot serve the product (no batch log, no epoch, nothing committed)."""


def primary_engine(url: str) -> Engine:
    """A read-only engine on the merge store at ``url`` (one per URL per process)."""
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _create_read_only_engine(url)
            _engines[url] = engine
        return engine


def dispose_primary_engines() -> None:
    """Close every primary engine (tests that drop databases call this)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def _create_read_only_engine(url: str) -> Engine:
    if is_postgres(url):
        options = "-c default_transaction_read_only=on"
        return create_engine(
            normalize_db_url(url),
            pool_pre_ping=True,
            pool_size=2,
            max_overflow=2,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "options": options, "application_name": APPLICATION_NAME},
        )
    path = make_url(url).database
    if not path or path == ":memory:":
        raise PrimaryUnusable(f"{url!r} is not a SQLite file")
    from pathlib import Path

    absolute = quote(str(Path(path).resolve()))
    read_only = URL.create("sqlite", database=f"file:{absolute}", query={"mode": "ro", "uri": "true"})
    return create_engine(read_only, connect_args={"timeout": 60, "check_same_thread": False})


def primary_urls(config: PlatformConfig, product: ProductConfig) -> list[tuple[str, str | None]]:
    """(name, merge-store URL or None when ``platforms:`` does not list it) in ``primary_platforms`` order."""
    return [
        (name, config.platforms[name].merge_store if name in config.platforms else None)
        for name in product.primary_platforms
    ]


def probe_primary(name: str, url: str, product_name: str) -> Primary:
    """Connect to one primary and read its latest committed batch and epoch; raise if it cannot serve."""
    engine = primary_engine(url)
    tables = set(inspect(engine).get_table_names())
    missing = [table for table in (BATCH_LOG_TABLE, META_TABLE) if table not in tables]
    if missing:
        raise PrimaryUnusable(f"its merge store has no {' or '.join(missing)} table (nothing was ever merged there)")
    latest = latest_committed_batch(engine, product_name)
    if latest is None:
        raise PrimaryUnusable(f"no committed batch of {product_name!r} in its batch log yet")
    with engine.connect() as connection:
        epoch = read_epoch(connection)
    return Primary(name=name, url=url, engine=engine, postgres=is_postgres(url), latest=latest, epoch=epoch)


def describe_error(error: BaseException) -> str:
    """One line for an error of a primary (driver errors without their SQL and background link)."""
    if isinstance(error, SQLAlchemyError) and getattr(error, "orig", None) is not None:
        text = str(error.orig)  # type: ignore[attr-defined]
    else:
        text = str(error)
    first = " ".join(text.strip().split())
    return f"{type(error).__name__}: {first[:300]}" if not isinstance(error, PrimaryUnusable) else first[:300]


def _probe(name: str, url: str | None, product_name: str) -> Primary | str:
    """The Primary when it answers, else one line saying why not."""
    if url is None:
        return f"platforms: in the config has no entry for {name!r} (its merge_store URL)"
    try:
        return probe_primary(name, url, product_name)
    except (SQLAlchemyError, PrimaryUnusable, OSError) as error:
        return f"{mask_url(url)}: {describe_error(error)}"


def probe_all(config: PlatformConfig, product: ProductConfig) -> dict[str, Primary | str]:
    """Every primary of ``product``, in order: the Primary when it answers, else why not (status, sensors)."""
    return {name: _probe(name, url, product.name) for name, url in primary_urls(config, product)}


def choose_primary(config: PlatformConfig, product: ProductConfig) -> tuple[Primary, dict[str, str]]:
    """The first primary that answers, in ``primary_platforms`` order, and the skipped ones with their errors."""
    skipped: dict[str, str] = {}
    for name, url in primary_urls(config, product):
        found = _probe(name, url, product.name)
        if isinstance(found, Primary):
            for other, reason in skipped.items():
                log.warning("replica %s: primary %s skipped (%s); using %s", product.name, other, reason, name)
            return found, skipped
        skipped[name] = found
    listed = "; ".join(f"{name}: {reason}" for name, reason in skipped.items()) or "primary_platforms is empty"
    raise NoPrimaryAvailable(
        f"replica {product.name!r}: no primary platform answered, the replica stays as it was. {listed}. "
        "Check that the primaries are up and that platforms: in platform.yaml gives their merge_store URLs "
        "(and the secrets they use), then run the sync again.",
        errors=skipped,
    )


def batch_fingerprint(primary: Primary, product_name: str, batch: int) -> Fingerprint | None:
    """Batch ``batch``'s fingerprint on ``primary`` (commit time + store epoch); None unless it is committed."""
    with primary.engine.connect() as connection:
        entry = batch_entry(connection, product_name, batch)
    if entry is None or entry.status != COMMITTED or entry.committed_at is None:
        return None
    return Fingerprint(stamp(entry.committed_at), primary.epoch)


def committed_batches(primary: Primary, product_name: str) -> list[int]:
    """The product's committed batch numbers on ``primary``, ascending."""
    with primary.engine.connect() as connection:
        statuses = batch_statuses(connection, product_name)
    return sorted(batch for batch, status in statuses.items() if status == COMMITTED)
