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
- :func:`probe_primary` reads, in one session and four queries (no schema
  reflection), everything a sync decides on: the product's committed batches
  with their commit times (so the latest, the sync point and the fingerprints
  of X and Y need no further reads), the epoch, and the columns of the
  product's merge table (for the drift check). :func:`batch_fingerprint`
  reads one batch's fingerprint afresh (a seed checks Y again before its
  switch).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError, StatementError

from platform_assets.config import PlatformConfig, ProductConfig, mask_url
from platform_assets.merge.batch_log import batch_entry, committed_times, latest_committed
from platform_assets.merge.dialect import POSTGRESQL, MergeDialect, dialect_for
from platform_assets.merge.names import BATCH_LOG_TABLE, META_TABLE, merge_table
from platform_assets.merge.states import BatchStatus
from platform_assets.merge.tables import read_epoch
from platform_assets.replication.errors import NoPrimaryAvailable
from platform_assets.replication.state import Fingerprint, stamp
from platform_assets.storage.sql import normalize_db_url

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10
SESSION_SETTINGS = (
    "default_transaction_read_only=on",
    "client_encoding=UTF8",
    "DateStyle=ISO,YMD",
    "extra_float_digits=3",
)
"""Every session on a PostgreSQL primary: read-only, and text output (COPY text format, keys) that reads back
exactly on the replica whatever the servers' defaults: UTF-8, ISO dates, exact floats. Set at connect, so no
statement per copy."""
APPLICATION_NAME = "platform_assets_replica"

_engines: dict[str, Engine] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class Primary:
    """A primary that answered: its read-only engine, committed batches and store epoch.

    ``commit_times``: the product's committed batches (never empty: a primary
    without one is unusable) and their commit times (ISO text, see
    :func:`.state.stamp`) as the probe read them; ``columns``: (name, type) of
    the product's merge table then (empty when it has none).
    """

    name: str
    url: str
    engine: Engine
    dialect: MergeDialect
    epoch: str
    commit_times: Mapping[int, str | None]
    columns: tuple[tuple[str, str], ...] = ()

    @property
    def latest(self) -> int:
        """The product's latest committed batch as of the probe."""
        return max(self.commit_times)

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def committed(self) -> list[int]:
        """The product's committed batch numbers as of the probe, ascending."""
        return sorted(self.commit_times)

    def fingerprint(self, batch: int) -> Fingerprint | None:
        """Batch ``batch``'s fingerprint as of the probe (commit time + epoch); None unless it was committed."""
        committed_at = self.commit_times.get(batch)
        return None if committed_at is None else Fingerprint(committed_at, self.epoch)


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
    if dialect_for(url) is POSTGRESQL:
        options = " ".join(f"-c {setting}" for setting in SESSION_SETTINGS)
        return create_engine(
            normalize_db_url(url),
            pool_pre_ping=True,
            pool_size=2,
            max_overflow=2,
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT_S,
                "options": options,
                "application_name": APPLICATION_NAME,
            },
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
    """Connect to one primary and read what a sync decides on (see the module contract); raise if it cannot serve."""
    engine = primary_engine(url)
    dialect = dialect_for(url)
    with engine.connect() as connection:
        missing = dialect.missing_tables(connection, (BATCH_LOG_TABLE, META_TABLE))
        if missing:
            raise PrimaryUnusable(
                f"its merge store has no {' or '.join(missing)} table (nothing was ever merged there)"
            )
        times = committed_times(connection, product_name)
        if not times:
            raise PrimaryUnusable(f"no committed batch of {product_name!r} in its batch log yet")
        epoch = read_epoch(connection)
        columns = tuple(dialect.existing_columns(connection, merge_table(product_name)))
    commit_times = {batch: _stamp_or_none(committed_at) for batch, committed_at in times.items()}
    return Primary(name, url, engine, dialect, epoch, commit_times, columns)


def _stamp_or_none(value: datetime | None) -> str | None:
    return None if value is None else stamp(value)


def read_latest(primary: Primary, product_name: str) -> int:
    """The product's latest committed batch on ``primary`` now (one query); the probe's when it cannot be read.

    For the lag a sync reports after it ran: a failure here must not fail a sync that succeeded.
    """
    try:
        with primary.engine.connect() as connection:
            value = latest_committed(connection, product_name)
    except (SQLAlchemyError, OSError) as error:
        log.warning(
            "replica %s: could not read primary %s's latest batch after the sync (%s)",
            product_name,
            primary.name,
            describe_error(error),
        )
        return primary.latest
    return primary.latest if value is None else value


def describe_error(error: BaseException) -> str:
    """One line for an error of a primary (driver errors without their SQL and background link)."""
    if isinstance(error, StatementError) and error.orig is not None:
        text = str(error.orig)
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
    """Batch ``batch``'s fingerprint on ``primary`` read now (commit time + store epoch); None unless committed."""
    with primary.engine.connect() as connection:
        entry = batch_entry(connection, product_name, batch)
    if entry is None or entry.status != BatchStatus.COMMITTED or entry.committed_at is None:
        return None
    return Fingerprint(stamp(entry.committed_at), primary.epoch)
