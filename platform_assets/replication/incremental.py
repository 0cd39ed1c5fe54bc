"""The incremental sync (X, Y]: apply what changed on the primary between two batches.

Contract of :func:`apply_delta`: in ONE transaction on the replica store, the
primary's rows that began in (X, Y], or began by X and ended in [X, Y-1], are
copied into a temporary delta table; then

- a live-only replica replaces, for every key of the delta, its row live at X
  by the row live at Y: the keys live at X but not at Y are deleted, and the
  rows live at Y are upserted by key (``_batch_id`` = the row's ``_batch_in``);
- a mirror inserts the rows that began in (X, Y] (``_batch_out`` shown as
  2147483647 when still live at Y) and closes its live rows that ended by Y-1
  (``_batch_out`` = the primary's);

and Y (with its fingerprint) becomes the last synced batch. Before the copy,
in the same transaction, the replica's table and view take the columns the
primary added and the types it widened (``spec`` holds the primary's columns,
see :mod:`.schema`; :func:`platform_assets.merge.tables.evolve_product_table`);
a difference that is not such a change is :class:`ReplicaSchemaMismatch`. The failpoint
``replicate.incremental.before_commit`` is just before COMMIT: a crash there
leaves the replica (table, view) and its state as they were.

The replica as of X holds exactly the primary's state at X, so the delta alone
says which keys change and how (a key with a row live at X has a row in the
delta's second branch): the counts come from the delta, and only the changed
keys are looked up in the replica, by its key index. Where the planner keeps
statistics (the dialect's ``planner_statistics``: PostgreSQL) a delta smaller
than ``INDEX_DRIVEN_FRACTION`` of the replica's rows is applied with hash
joins, merge joins and sequential scans off for the transaction, so
every statement is driven by the delta, also before the replica has statistics
(the first sync after a seed): the cost follows the changes, not the table.
A larger delta is applied with nested loops off (one hash or merge join).

Where the dialect has ``writable_ctes`` (PostgreSQL) a live-only replica is
brought from X to Y by ONE statement (:func:`apply_live_only_in_one_statement`):
one pass over the delta gives, per key, its row live at Y and whether it was
live at X; the keys live at both are UPDATEd in place (no index column
changes, so on the replica's fillfactor these are HOT updates), the new keys
INSERTed, the gone keys DELETEd, and the counts come from the same per-key
rows. SQLite deletes, then upserts.

Counts are changes of the live state from X to Y, per key: inserted (live at
Y, not at X), updated (live at both, another row), deleted (live at X, not at Y).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Connection, text

from platform_assets.column_types import BOOLEAN
from platform_assets.failpoints import failpoint
from platform_assets.merge.dialect import MergeDialect
from platform_assets.merge.errors import MergeSchemaMismatch
from platform_assets.merge.names import quote_ident, quote_list
from platform_assets.merge.spec import LIVE_BATCH_OUT, MergeSpec
from platform_assets.merge.store import MergeStore
from platform_assets.merge.tables import create_work_table, drop_work_tables, evolve_product_table
from platform_assets.replication.errors import ReplicaSchemaMismatch, ReplicationBusy
from platform_assets.replication.primaries import Primary
from platform_assets.replication.queries import delta_select
from platform_assets.replication.seed import column_types
from platform_assets.replication.state import Fingerprint, load_state, record_synced
from platform_assets.replication.transfer import copy_select
from platform_assets.schema_change import SchemaChange

DELTA_TABLE = "_pa_replica_delta"
DELTA_BATCH_COLUMNS = ('"_batch_in" INTEGER NOT NULL', '"_batch_out" INTEGER NOT NULL')
LIVE = f"{LIVE_BATCH_OUT:d}"
INDEX_DRIVEN_FRACTION = 0.05
SMALL_DELTA_OFF = tuple((name, "true") for name in ("enable_hashjoin", "enable_mergejoin", "enable_seqscan", "jit"))
"""Off for a small delta's transaction. ``jit``: the disabled scans' cost penalty would otherwise pass the JIT
threshold and compile every statement (≈ 0.1 s each) although each touches a few rows per changed key."""
LARGE_DELTA_OFF = (("enable_nestloop", "false"),)


@dataclass(frozen=True)
class DeltaOutcome:
    """Counts of the delta, seconds spent copying it and applying it (with the commit), the schema change made."""

    inserted: int
    updated: int
    deleted: int
    rows_copied: int
    copy_s: float
    apply_s: float
    schema_change: str | None = None


def apply_delta(
    store: MergeStore,
    primary: Primary,
    spec: MergeSpec,
    from_batch: int,
    to_batch: int,
    fingerprint: Fingerprint,
    layout: str,
) -> DeltaOutcome:
    """Apply (X, Y] = (``from_batch``, ``to_batch``] to the replica (see the module contract)."""
    dialect = store.dialect
    started = time.monotonic()
    with store.engine.connect() as connection:
        transaction = connection.begin()
        try:
            dialect.lock_product(connection, spec.product)
            _check_last_batch(connection, spec, from_batch)
            change = _follow_primary(connection, spec, dialect)
            delta = create_work_table(connection, spec, DELTA_TABLE, dialect, extra=DELTA_BATCH_COLUMNS, reuse=True)
            copied = copy_select(
                primary, delta_select(spec, from_batch, to_batch), connection, delta, dialect, column_types(spec)
            ).rows
            copied_at = time.monotonic()
            _plan_joins(connection, spec, delta, copied, dialect)
            if spec.forensic:
                counts = count_changes(connection, spec, delta, from_batch, to_batch)
                apply_mirror(connection, spec, delta, from_batch, to_batch)
            elif dialect.writable_ctes:
                counts = apply_live_only_in_one_statement(connection, spec, delta, from_batch, to_batch)
            else:
                counts = count_changes(connection, spec, delta, from_batch, to_batch)
                apply_live_only(connection, spec, delta, from_batch, to_batch)
            record_synced(connection, spec.product, primary.name, to_batch, fingerprint, layout)
            drop_work_tables(connection, dialect, (DELTA_TABLE,))
            failpoint("replicate.incremental.before_commit")
            transaction.commit()
        except BaseException:
            if transaction.is_active:
                transaction.rollback()
            raise
    inserted, updated, deleted = counts
    described = None if change.is_empty else change.describe()
    return DeltaOutcome(
        inserted, updated, deleted, copied, copied_at - started, time.monotonic() - copied_at, described
    )


def _follow_primary(connection: Connection, spec: MergeSpec, dialect: MergeDialect) -> SchemaChange:
    """Give the replica's table and view the columns of ``spec`` (the primary's); ReplicaSchemaMismatch if it cannot."""
    try:
        return evolve_product_table(connection, spec, dialect, widen_types=True)
    except MergeSchemaMismatch as error:
        raise ReplicaSchemaMismatch(
            f"replica {spec.product!r}: its table cannot take the primary's columns in place ({error}); the sync "
            "stopped and the replica is unchanged. Reseed it: move its table aside (rename or drop it deliberately) "
            "and sync again.",
            differences=[str(error)],
        ) from error


def _check_last_batch(connection: Connection, spec: MergeSpec, expected: int) -> None:
    current = load_state(connection, spec.product).last_batch
    if current != expected:
        raise ReplicationBusy(
            f"replica {spec.product!r}: its last synced batch changed from {expected} to {current} during this sync "
            "(another sync of the product ran against the same replica store); run the sync again"
        )


ROWS_ESTIMATE = (
    "SELECT COALESCE(SUM(GREATEST(c.reltuples, 0)), 0) FROM pg_class AS c WHERE c.relkind <> 'p' AND "
    "(c.oid = to_regclass(:name) OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass(:name)))"
)
"""PostgreSQL: the planner's row count of a table (the sum over its partitions when partitioned)."""


def _plan_joins(connection: Connection, spec: MergeSpec, delta: str, delta_rows: int, dialect: MergeDialect) -> None:
    """Make the apply statements' plans follow the delta's size, with or without statistics on the replica.

    With planner statistics (PostgreSQL), one statement: a delta of at most :data:`INDEX_DRIVEN_FRACTION`
    of the replica's estimated rows turns hash joins, merge joins, sequential
    scans and JIT off for the transaction, so each changed key is one
    descent of the replica's key index (never a scan of the replica, even
    when the replica was never analyzed and the planner underestimates its
    live rows); a larger delta is analyzed and nested loops are turned off, so
    the replica is joined once, by hash or merge. Otherwise (SQLite): an index on the delta.
    """
    dialect.index_work_table(connection, DELTA_TABLE, (*spec.key, "_batch_in"), unique=False)
    if not dialect.planner_statistics:
        return
    settings = ", ".join(
        f"set_config('{name}', CASE WHEN small = {small} THEN 'off' ELSE current_setting('{name}') END, true)"
        for name, small in SMALL_DELTA_OFF + LARGE_DELTA_OFF
    )
    small = connection.execute(
        text(f"SELECT small, {settings} FROM (SELECT :rows <= :fraction * ({ROWS_ESTIMATE}) AS small) AS choice"),
        {"rows": delta_rows, "fraction": INDEX_DRIVEN_FRACTION, "name": quote_ident(spec.table)},
    ).scalar_one()
    if not small:
        dialect.analyze(connection, delta)


def _key_match(left: str, right: str, spec: MergeSpec) -> str:
    return " AND ".join(f"{left}.{quote_ident(name)} = {right}.{quote_ident(name)}" for name in spec.key)


def count_changes(
    connection: Connection, spec: MergeSpec, delta: str, from_batch: int, to_batch: int
) -> tuple[int, int, int]:
    """(inserted, updated, deleted) keys between the live states at X and at Y, from the delta."""
    keys = quote_list(spec.key)
    row = connection.execute(
        text(
            "SELECT COALESCE(SUM(CASE WHEN at_y = 1 AND at_x = 0 THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN at_y = 1 AND at_x = 1 THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN at_y = 0 AND at_x = 1 THEN 1 ELSE 0 END), 0) "
            'FROM (SELECT MAX(CASE WHEN "_batch_out" >= :y THEN 1 ELSE 0 END) AS at_y, '
            f'MAX(CASE WHEN "_batch_in" <= :x THEN 1 ELSE 0 END) AS at_x FROM {delta} GROUP BY {keys}) AS per_key'
        ),
        {"x": from_batch, "y": to_batch},
    ).one()
    return int(row[0]), int(row[1]), int(row[2])


def apply_live_only(connection: Connection, spec: MergeSpec, delta: str, from_batch: int, to_batch: int) -> None:
    """Delete the keys live at X but not at Y; upsert the rows live at Y (``_batch_id`` = their ``_batch_in``).

    The upsert goes in key order: the replica was seeded in key order, so its
    key index and heap are touched in one sweep.
    """
    table, keys = quote_ident(spec.table), quote_list(spec.key)
    connection.execute(
        text(
            f"DELETE FROM {table} WHERE ({keys}) IN (SELECT {keys} FROM {delta} GROUP BY {keys} "
            'HAVING MAX(CASE WHEN "_batch_out" >= :y THEN 1 ELSE 0 END) = 0 '
            'AND MAX(CASE WHEN "_batch_in" <= :x THEN 1 ELSE 0 END) = 1)'
        ),
        {"x": from_batch, "y": to_batch},
    )
    columns = quote_list(spec.names)
    assignments = [f"{quote_ident(name)} = excluded.{quote_ident(name)}" for name in spec.non_key] + [
        '"_batch_id" = excluded."_batch_id"'
    ]
    connection.execute(
        text(
            f'INSERT INTO {table} ({columns}, "_batch_id") SELECT {columns}, "_batch_in" FROM {delta} '
            f'WHERE "_batch_out" >= :y ORDER BY {keys} ON CONFLICT ({keys}) DO UPDATE SET {", ".join(assignments)}'
        ),
        {"y": to_batch},
    )


def apply_live_only_in_one_statement(
    connection: Connection, spec: MergeSpec, delta: str, from_batch: int, to_batch: int
) -> tuple[int, int, int]:
    """The live-only apply in one statement (``writable_ctes``: PostgreSQL); (inserted, updated, deleted) keys.

    ``per_key`` groups the delta by key (one aggregate, no join of the delta
    with itself): ``at_y``, whether the key has a row live at Y (at most one: the
    primary keeps one live row per key), the values of that row (each column's
    aggregate over that one row), and ``at_x``, whether one of its rows began
    by X (the row live at X). From it: live at X and at Y -> UPDATE, at Y only
    -> INSERT, at X only -> DELETE. The three key sets are disjoint, so the
    order PostgreSQL runs the three parts in does not matter. ``per_key`` is
    in key order, so the replica (seeded in key order) is visited in one sweep
    rather than at random.
    """
    table, keys = quote_ident(spec.table), quote_list(spec.key)
    live = '"_batch_out" >= :y'
    types = dict(spec.columns)
    values = [
        f"{'bool_or' if types[name] == BOOLEAN else 'max'}({quote_ident(name)}) FILTER (WHERE {live}) AS "
        f"{quote_ident(name)}"
        for name in spec.non_key
    ]
    values.append(f'max("_batch_in") FILTER (WHERE {live}) AS "_batch_in"')
    columns = quote_list(spec.names)
    match = _key_match("t", "k", spec)
    assignments = ", ".join(
        [f"{quote_ident(name)} = k.{quote_ident(name)}" for name in spec.non_key] + ['"_batch_id" = k."_batch_in"']
    )
    statement = (
        f"WITH per_key AS MATERIALIZED (SELECT {keys}, {', '.join(values)}, "
        f'bool_or({live}) AS at_y, bool_or("_batch_in" <= :x) AS at_x FROM {delta} GROUP BY {keys} ORDER BY {keys}), '
        f"updated AS (UPDATE {table} AS t SET {assignments} FROM per_key AS k WHERE k.at_y AND k.at_x AND {match}), "
        f'inserted AS (INSERT INTO {table} ({columns}, "_batch_id") SELECT {columns}, "_batch_in" FROM per_key '
        "WHERE at_y AND NOT at_x), "
        f"deleted AS (DELETE FROM {table} AS t USING per_key AS k WHERE NOT k.at_y AND k.at_x AND {match}) "
        "SELECT count(*) FILTER (WHERE at_y AND NOT at_x), count(*) FILTER (WHERE at_y AND at_x), "
        "count(*) FILTER (WHERE at_x AND NOT at_y) FROM per_key"
    )
    row = connection.execute(text(statement), {"x": from_batch, "y": to_batch}).one()
    return int(row[0]), int(row[1]), int(row[2])


def apply_mirror(connection: Connection, spec: MergeSpec, delta: str, from_batch: int, to_batch: int) -> None:
    """Close the mirror's rows that ended by Y-1, insert the rows that began in (X, Y].

    Both go in key order: the mirror was seeded in key order, so its key index
    and live rows are visited in one sweep rather than at random.
    """
    table, keys = quote_ident(spec.table), quote_list(spec.key)
    closing = ", ".join([*(quote_ident(name) for name in spec.key), '"_batch_in"', '"_batch_out"'])
    connection.execute(
        text(
            f'UPDATE {table} AS m SET "_batch_out" = d."_batch_out" '
            f'FROM (SELECT {closing} FROM {delta} WHERE "_batch_in" <= :x ORDER BY {keys}) AS d '
            f'WHERE {_key_match("m", "d", spec)} AND m."_batch_in" = d."_batch_in" AND m."_batch_out" = {LIVE}'
        ),
        {"x": from_batch},
    )
    columns = quote_list(spec.names)
    connection.execute(
        text(
            f'INSERT INTO {table} ({columns}, "_batch_in", "_batch_out") SELECT {quote_list(spec.names, "d.")}, '
            f'd."_batch_in", CASE WHEN d."_batch_out" >= :y THEN {LIVE} ELSE d."_batch_out" END '
            f'FROM {delta} AS d WHERE d."_batch_in" > :x ORDER BY {quote_list(spec.key, "d.")}'
        ),
        {"x": from_batch, "y": to_batch},
    )
