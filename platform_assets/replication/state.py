"""The replica's sync state, kept in the replica's own merge store (table ``replica_state``).

One row per replicated product:

- the last synced batch X of the primary it follows, that primary's name, and
  X's fingerprint (X's commit time in the primary's batch log + the primary
  store's epoch), so a rebuilt primary is noticed;
- the layout the replica's table has (milestone, columns, key), so a changed
  declaration reseeds instead of failing on the old table, except a change
  the replica follows in place (:func:`follows_in_place`: columns added,
  types widened);
- an unfinished seed: its primary, its batch Y and Y's fingerprint, the part
  of the seed and the last key copied, rows and chunks so far, and why it
  started. The shadow table's name follows from the product
  (:func:`shadow_product`).

Contract: every function runs inside the caller's transaction on the replica
store, so a chunk and its progress, or a delta and the new X, commit together.
Text timestamps are ISO 8601 UTC with microseconds on both backends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, text

from platform_assets.column_types import ColumnType
from platform_assets.merge.names import quote_ident
from platform_assets.merge.spec import MergeSpec
from platform_assets.merge.timestamps import utc_now
from platform_assets.schema_change import schema_change

STATE_TABLE = "replica_state"
SHADOW_SUFFIX = "$s"
"""Shadow objects are those of product ``<product>$s`` (``customers$s_merge``): no product can be called so."""

_TABLE = quote_ident(STATE_TABLE)
_COLUMNS = (
    "product, layout, primary_name, last_batch, last_committed_at, last_epoch, synced_at, "
    "seed_primary, seed_batch, seed_committed_at, seed_epoch, seed_layout, seed_part, seed_last_key, "
    "seed_rows, seed_chunks, seed_reason, seed_started_at"
)


@dataclass(frozen=True)
class Fingerprint:
    """Identifies batch X of one primary store: X's commit time and the store's epoch."""

    committed_at: str
    epoch: str


@dataclass(frozen=True)
class SeedProgress:
    """An unfinished seed: as of batch ``batch`` of ``primary``; ``part`` and ``last_key`` say where to go on."""

    primary: str
    batch: int
    fingerprint: Fingerprint
    layout: str
    part: int = 0
    last_key: list[Any] | None = None
    rows: int = 0
    chunks: int = 0
    reason: str | None = None
    started_at: str | None = None


@dataclass(frozen=True)
class ReplicaState:
    """The sync state of one product's replica (all None before the first seed)."""

    product: str
    layout: str | None = None
    primary: str | None = None
    last_batch: int | None = None
    fingerprint: Fingerprint | None = None
    synced_at: str | None = None
    seed: SeedProgress | None = None


def stamp(value: datetime | None = None) -> str:
    """An ISO 8601 UTC text timestamp with microseconds (now when ``value`` is None)."""
    moment = value or utc_now()
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def layout_of(spec: MergeSpec) -> str:
    """The replica's layout signature: milestone, columns and their types, key."""
    return json.dumps(
        {
            "milestone": spec.milestone,
            "columns": [[name, str(column_type)] for name, column_type in spec.columns],
            "key": list(spec.key),
        }
    )


def follows_in_place(old_layout: str, new_layout: str) -> bool:
    """True when a replica of ``old_layout`` takes ``new_layout`` by altering its table: the same milestone and key,
    and columns only added or widened (:func:`platform_assets.schema_change.schema_change`, widenings allowed)."""
    try:
        old, new = json.loads(old_layout), json.loads(new_layout)
        if old["milestone"] != new["milestone"] or old["key"] != new["key"]:
            return False
        change = schema_change(_columns(old), _columns(new), widen_types=True, key=new["key"])
    except (ValueError, KeyError, TypeError):  # not a layout this module wrote
        return False
    return change.accepted


def _columns(layout: dict[str, Any]) -> dict[str, ColumnType]:
    return {name: ColumnType.parse(column_type) for name, column_type in layout["columns"]}


def shadow_product(product: str) -> str:
    """The name whose merge-table objects hold a seed in progress (``<product>$s``)."""
    return product + SHADOW_SUFFIX


def ensure_state_table(connection: Connection) -> None:
    """Create ``replica_state`` if missing (idempotent)."""
    connection.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {_TABLE} ("
        " product TEXT PRIMARY KEY, layout TEXT, primary_name TEXT, last_batch INTEGER,"
        " last_committed_at TEXT, last_epoch TEXT, synced_at TEXT,"
        " seed_primary TEXT, seed_batch INTEGER, seed_committed_at TEXT, seed_epoch TEXT, seed_layout TEXT,"
        " seed_part INTEGER, seed_last_key TEXT, seed_rows BIGINT, seed_chunks INTEGER, seed_reason TEXT,"
        " seed_started_at TEXT)"
    )


def load_state(connection: Connection, product: str) -> ReplicaState:
    """The product's state (empty when it was never synced). ``ensure_state_table`` must have run."""
    row = connection.execute(
        text(f"SELECT {_COLUMNS} FROM {_TABLE} WHERE product = :product"), {"product": product}
    ).first()
    if row is None:
        return ReplicaState(product=product)
    values = row._mapping
    fingerprint = None
    if values["last_batch"] is not None:
        fingerprint = Fingerprint(values["last_committed_at"], values["last_epoch"])
    seed = None
    if values["seed_batch"] is not None:
        seed = SeedProgress(
            primary=values["seed_primary"],
            batch=int(values["seed_batch"]),
            fingerprint=Fingerprint(values["seed_committed_at"], values["seed_epoch"]),
            layout=values["seed_layout"],
            part=int(values["seed_part"] or 0),
            last_key=json.loads(values["seed_last_key"]) if values["seed_last_key"] else None,
            rows=int(values["seed_rows"] or 0),
            chunks=int(values["seed_chunks"] or 0),
            reason=values["seed_reason"],
            started_at=values["seed_started_at"],
        )
    return ReplicaState(
        product=product,
        layout=values["layout"],
        primary=values["primary_name"],
        last_batch=None if values["last_batch"] is None else int(values["last_batch"]),
        fingerprint=fingerprint,
        synced_at=values["synced_at"],
        seed=seed,
    )


def _ensure_row(connection: Connection, product: str) -> None:
    connection.execute(
        text(f"INSERT INTO {_TABLE} (product) VALUES (:product) ON CONFLICT (product) DO NOTHING"), {"product": product}
    )


def start_seed(connection: Connection, product: str, seed: SeedProgress) -> None:
    """Record a new seed (replacing any unfinished one); the last synced batch stays as it is."""
    _ensure_row(connection, product)
    connection.execute(
        text(
            f"UPDATE {_TABLE} SET seed_primary = :primary, seed_batch = :batch, seed_committed_at = :committed_at, "
            "seed_epoch = :epoch, seed_layout = :layout, seed_part = 0, seed_last_key = NULL, seed_rows = 0, "
            "seed_chunks = 0, seed_reason = :reason, seed_started_at = :started_at WHERE product = :product"
        ),
        {
            "product": product,
            "primary": seed.primary,
            "batch": seed.batch,
            "committed_at": seed.fingerprint.committed_at,
            "epoch": seed.fingerprint.epoch,
            "layout": seed.layout,
            "reason": seed.reason,
            "started_at": seed.started_at or stamp(),
        },
    )


def advance_seed(
    connection: Connection, product: str, part: int, last_key: list[Any] | None, rows: int, chunks: int
) -> None:
    """Save where the seed goes on: ``part``, the last key copied (None at a part's start), the running totals."""
    connection.execute(
        text(
            f"UPDATE {_TABLE} SET seed_part = :part, seed_last_key = :last_key, seed_rows = :rows, seed_chunks = "
            ":chunks "
            "WHERE product = :product"
        ),
        {
            "product": product,
            "part": part,
            "last_key": None if last_key is None else json.dumps(last_key),
            "rows": rows,
            "chunks": chunks,
        },
    )


def record_synced(
    connection: Connection, product: str, primary: str, batch: int, fingerprint: Fingerprint, layout: str
) -> None:
    """Batch ``batch`` of ``primary`` is now the last synced batch; any seed progress is cleared.

    One statement when the product has its row already (every sync after the first seed started).
    """
    if _update_synced(connection, product, primary, batch, fingerprint, layout) == 0:
        _ensure_row(connection, product)
        _update_synced(connection, product, primary, batch, fingerprint, layout)


def _update_synced(
    connection: Connection, product: str, primary: str, batch: int, fingerprint: Fingerprint, layout: str
) -> int:
    """The UPDATE of :func:`record_synced`; the rows it changed (0 or 1)."""
    return connection.execute(
        text(
            f"UPDATE {_TABLE} SET layout = :layout, primary_name = :primary, last_batch = :batch, "
            "last_committed_at = :committed_at, last_epoch = :epoch, synced_at = :synced_at, seed_primary = NULL, "
            "seed_batch = NULL, seed_committed_at = NULL, seed_epoch = NULL, seed_layout = NULL, seed_part = NULL, "
            "seed_last_key = NULL, seed_rows = NULL, seed_chunks = NULL, seed_reason = NULL, seed_started_at = NULL "
            "WHERE product = :product"
        ),
        {
            "product": product,
            "layout": layout,
            "primary": primary,
            "batch": batch,
            "committed_at": fingerprint.committed_at,
            "epoch": fingerprint.epoch,
            "synced_at": stamp(),
        },
    ).rowcount


def set_seed_layout(connection: Connection, product: str, layout: str) -> None:
    """The unfinished seed's shadow now has ``layout`` (it took the primary's added or widened columns)."""
    connection.execute(
        text(f"UPDATE {_TABLE} SET seed_layout = :layout WHERE product = :product"),
        {"product": product, "layout": layout},
    )


def clear_seed(connection: Connection, product: str) -> None:
    """Forget an unfinished seed (its shadow is dropped by the caller in the same transaction)."""
    connection.execute(
        text(
            f"UPDATE {_TABLE} SET seed_primary = NULL, seed_batch = NULL, seed_committed_at = NULL, seed_epoch = NULL, "
            "seed_layout = NULL, seed_part = NULL, seed_last_key = NULL, seed_rows = NULL, seed_chunks = NULL, "
            "seed_reason = NULL, seed_started_at = NULL WHERE product = :product"
        ),
        {"product": product},
    )
