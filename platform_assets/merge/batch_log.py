"""The batch log (table ``merge_batches``): one row per product and batch.

Contract: status is one of ``started`` (a merge began; a crash leaves it so),
``committed`` (written in the same transaction as the merge itself),
``failed`` (written after the merge rolled back; ``message`` says why) or
``excluded`` (taken out of the merge order by :func:`exclude_batch`;
``message`` holds the reason). Counts and ``live_count`` are set on commit.
Other platforms read :func:`latest_committed_batch`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Union

from sqlalchemy import Connection, Engine, inspect, text

from platform_assets.config import ProductConfig
from platform_assets.merge.dialect import MergeDialect
from platform_assets.merge.errors import ExcludedBatch, MergeError
from platform_assets.merge.names import BATCH_LOG_TABLE, quote_ident
from platform_assets.merge.states import BatchStatus
from platform_assets.merge.timestamps import from_db, utc_now

if TYPE_CHECKING:
    from platform_assets.merge.store import MergeStore

_LOG = quote_ident(BATCH_LOG_TABLE)
_COLUMNS = "product, batch, status, started_at, committed_at, inserted, updated, deleted, live_count, message"


@dataclass(frozen=True)
class BatchLogEntry:
    """One row of the batch log. Timestamps are timezone-aware UTC."""

    product: str
    batch: int
    status: BatchStatus
    started_at: datetime | None
    committed_at: datetime | None
    inserted: int | None
    updated: int | None
    deleted: int | None
    live_count: int | None
    message: str | None

    @property
    def reason(self) -> str | None:
        """Why the batch was excluded (None otherwise)."""
        return self.message if self.status == BatchStatus.EXCLUDED else None

    @property
    def error(self) -> str | None:
        """Why the batch failed (None otherwise)."""
        return self.message if self.status == BatchStatus.FAILED else None


@dataclass(frozen=True)
class BatchCounts:
    inserted: int
    updated: int
    deleted: int
    live_count: int


StoreOrEngine = Union["MergeStore", Engine]


def _engine(store_or_engine: StoreOrEngine) -> Engine:
    return store_or_engine if isinstance(store_or_engine, Engine) else store_or_engine.engine


def _entry(row: tuple[Any, ...]) -> BatchLogEntry:
    product, batch, status, started_at, committed_at, inserted, updated, deleted, live_count, message = row
    return BatchLogEntry(
        product=product,
        batch=int(batch),
        status=BatchStatus(status),
        started_at=from_db(started_at),
        committed_at=from_db(committed_at),
        inserted=inserted,
        updated=updated,
        deleted=deleted,
        live_count=live_count,
        message=message,
    )


def _has_log(engine: Engine) -> bool:
    return inspect(engine).has_table(BATCH_LOG_TABLE)


def batch_log(store_or_engine: StoreOrEngine, product_name: str) -> list[BatchLogEntry]:
    """Every logged batch of the product, in batch order (empty if the store has no log yet)."""
    engine = _engine(store_or_engine)
    if not _has_log(engine):
        return []
    with engine.connect() as connection:
        rows = connection.execute(
            text(f"SELECT {_COLUMNS} FROM {_LOG} WHERE product = :product ORDER BY batch"), {"product": product_name}
        ).all()
    return [_entry(tuple(row)) for row in rows]


def latest_committed_batch(store_or_engine: StoreOrEngine, product_name: str) -> int | None:
    """The highest committed batch of the product, or None (also when the store has no log yet)."""
    engine = _engine(store_or_engine)
    if not _has_log(engine):
        return None
    with engine.connect() as connection:
        return latest_committed(connection, product_name)


def latest_committed(connection: Connection, product_name: str) -> int | None:
    """The highest committed batch of the product, or None; one query (the store must have a batch log)."""
    value = connection.execute(
        text(f"SELECT max(batch) FROM {_LOG} WHERE product = :product AND status = :status"),
        {"product": product_name, "status": BatchStatus.COMMITTED},
    ).scalar()
    return None if value is None else int(value)


def batch_statuses(connection: Connection, product_name: str) -> dict[int, BatchStatus]:
    """batch -> status for every logged batch of the product."""
    rows = connection.execute(
        text(f"SELECT batch, status FROM {_LOG} WHERE product = :product"), {"product": product_name}
    ).all()
    return {int(batch): BatchStatus(status) for batch, status in rows}


def committed_times(connection: Connection, product_name: str) -> dict[int, datetime | None]:
    """batch -> commit time (aware UTC) of every committed batch of the product, in one query."""
    rows = connection.execute(
        text(f"SELECT batch, committed_at FROM {_LOG} WHERE product = :product AND status = :status"),
        {"product": product_name, "status": BatchStatus.COMMITTED},
    ).all()
    return {int(batch): from_db(committed_at) for batch, committed_at in rows}


def batch_entry(connection: Connection, product_name: str, batch: int) -> BatchLogEntry | None:
    row = connection.execute(
        text(f"SELECT {_COLUMNS} FROM {_LOG} WHERE product = :product AND batch = :batch"),
        {"product": product_name, "batch": batch},
    ).first()
    return None if row is None else _entry(tuple(row))


def live_count_before(connection: Connection, product_name: str, batch: int) -> int | None:
    """``live_count`` of the latest committed batch below ``batch``; None if there is none."""
    value = connection.execute(
        text(
            f"SELECT live_count FROM {_LOG} WHERE product = :product AND status = :status AND batch < :batch "
            "ORDER BY batch DESC LIMIT 1"
        ),
        {"product": product_name, "status": BatchStatus.COMMITTED, "batch": batch},
    ).first()
    return None if value is None else int(value[0])


def record_started(store: MergeStore, product_name: str, batch: int) -> None:
    """Log ``started`` in its own transaction (unless the batch is committed or excluded already)."""
    with store.engine.begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO {_LOG} (product, batch, status, started_at) VALUES (:product, :batch, :status, :now) "
                "ON CONFLICT (product, batch) DO UPDATE SET status = excluded.status, started_at = "
                "excluded.started_at, "
                "committed_at = NULL, inserted = NULL, updated = NULL, deleted = NULL, live_count = NULL, message = "
                "NULL "
                f"WHERE {_LOG}.status IN (:started, :failed)"
            ),
            {
                "product": product_name,
                "batch": batch,
                "status": BatchStatus.STARTED,
                "now": store.dialect.to_db(utc_now()),
                "started": BatchStatus.STARTED,
                "failed": BatchStatus.FAILED,
            },
        )


def record_committed(
    connection: Connection, product_name: str, batch: int, counts: BatchCounts, dialect: MergeDialect
) -> None:
    """Log ``committed`` with the counts, inside the merge's own transaction."""
    now = dialect.to_db(utc_now())
    connection.execute(
        text(
            f"INSERT INTO {_LOG} ({_COLUMNS}) "
            "VALUES (:product, :batch, :status, :now, :now, :inserted, :updated, :deleted, :live_count, NULL) "
            "ON CONFLICT (product, batch) DO UPDATE SET status = excluded.status, committed_at = "
            "excluded.committed_at, "
            "inserted = excluded.inserted, updated = excluded.updated, deleted = excluded.deleted, "
            "live_count = excluded.live_count, message = NULL"
        ),
        {
            "product": product_name,
            "batch": batch,
            "status": BatchStatus.COMMITTED,
            "now": now,
            "inserted": counts.inserted,
            "updated": counts.updated,
            "deleted": counts.deleted,
            "live_count": counts.live_count,
        },
    )


def record_failed(store: MergeStore, product_name: str, batch: int, message: str) -> None:
    """Log ``failed`` with ``message`` in its own transaction (never over committed or excluded)."""
    with store.engine.begin() as connection:
        connection.execute(
            text(
                f"INSERT INTO {_LOG} (product, batch, status, started_at, message) "
                "VALUES (:product, :batch, :status, :now, :message) "
                "ON CONFLICT (product, batch) DO UPDATE SET status = excluded.status, message = excluded.message "
                f"WHERE {_LOG}.status IN (:started, :failed)"
            ),
            {
                "product": product_name,
                "batch": batch,
                "status": BatchStatus.FAILED,
                "now": store.dialect.to_db(utc_now()),
                "message": message,
                "started": BatchStatus.STARTED,
                "failed": BatchStatus.FAILED,
            },
        )


def exclude_batch(store: MergeStore, product: ProductConfig | str, batch: int, reason: str) -> None:
    """Record ``batch`` as excluded so later batches may merge; batch ids keep the gap.

    Raises ExcludedBatch if the batch is committed already (excluding it would
    not take its rows out), MergeError if ``reason`` is empty. Excluding an
    excluded batch again updates the reason.
    """
    name = product if isinstance(product, str) else product.name
    if not reason or not reason.strip():
        raise MergeError(f"excluding batch {batch} of {name!r} needs a reason (what is wrong with the version)")
    store.ensure_store_tables()
    with store.engine.begin() as connection:
        store.dialect.lock_product(connection, name)
        entry = batch_entry(connection, name, batch)
        if entry is not None and entry.status == BatchStatus.COMMITTED:
            raise ExcludedBatch(
                f"batch {batch} of {name!r} is committed (at {entry.committed_at}); excluding it now would not "
                "take its rows out of the merge table. Fix the data with a later version instead."
            )
        connection.execute(
            text(
                f"INSERT INTO {_LOG} (product, batch, status, started_at, message) "
                "VALUES (:product, :batch, :status, :now, :reason) "
                "ON CONFLICT (product, batch) DO UPDATE SET status = excluded.status, started_at = "
                "excluded.started_at, "
                "committed_at = NULL, inserted = NULL, updated = NULL, deleted = NULL, live_count = NULL, "
                "message = excluded.message"
            ),
            {
                "product": name,
                "batch": batch,
                "status": BatchStatus.EXCLUDED,
                "now": store.dialect.to_db(utc_now()),
                "reason": reason.strip(),
            },
        )
