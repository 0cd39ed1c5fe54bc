"""The milestoned merge: version v of a product becomes batch v of ``<product>_merge``.

Contract of :func:`merge_batch`:

- Order: batch v merges only when every version in ``earlier_batches`` (those
  below v) is committed or excluded, and no batch above v is committed;
  otherwise OutOfOrderBatch names the first blocking version. An excluded
  batch cannot be merged (ExcludedBatch). Merging a committed batch is a no-op
  (status ``noop``, zero counts).
- Forensic: a changed row is closed (``_batch_out = v - 1``) and its new
  version inserted (``_batch_in = v``, ``_batch_out = 2147483647``); a new key
  is inserted; in snapshot mode a key missing from the batch is closed;
  unchanged rows are not touched. A key that comes back after a delete starts a
  new history row.
- Live-only: changed rows are updated in place with ``_batch_id = v``; new keys
  inserted; in snapshot mode missing keys deleted; unchanged rows keep their
  ``_batch_id``.
- Incremental mode is an upsert: nothing is deleted.
- Schema evolution: when the product's columns are an accepted change of the
  stored table's (new nullable columns at the end; widened types where
  ``schema.widen_types`` is true), the table is altered and the live view made
  again inside the batch's transaction, before the rows are staged
  (:func:`platform_assets.merge.tables.evolve_product_table`); ``schema_change``
  of the result describes what changed. Any other difference fails the batch
  with MergeSchemaMismatch naming each column. Milestoning under a new column: the
  stored rows (live and closed) hold NULL in it, and rows compare NULL-safely,
  so a new column that is NULL for every existing key does not by itself open
  a new milestone (forensic) or touch a row (live-only); a row whose new column
  has a value is a change like any other (a new milestone, or an update with
  ``_batch_id = v``). A widened column compares by value: 7 as int equals 7
  as bigint.
- Exactness: keys are matched by value on every key column; non-key columns
  are compared NULL-safely (``IS DISTINCT FROM`` / ``IS NOT``), so NULL and ''
  differ and column boundaries count. NULL keys, duplicate keys, a schema
  mismatch or a tripped delete guard fail the batch: status ``failed`` with the
  message in the batch log, the merge table untouched.
- Atomicity: the staging load, every merge statement and the ``committed`` log
  row are ONE transaction (with the schema evolution, when there is one);
  readers see the old or the new state. A crash at the failpoint
  ``merge.before_commit`` (just before COMMIT) leaves the table and view as
  they were and the log at ``started``; running the merge again completes it.
- Set-based: the rows reach a staging table in bulk (COPY / executemany); each
  merge step is one SQL statement over all rows. On PostgreSQL the join reads
  only the live partition, so its cost follows the live rows and the batch, not
  the history.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
from sqlalchemy import Connection, text

from platform_assets.actions import exclude_action
from platform_assets.column_types import ColumnType
from platform_assets.config import ProductConfig
from platform_assets.failpoints import failpoint
from platform_assets.merge.batch_log import (
    BatchCounts,
    BatchLogEntry,
    batch_entry,
    batch_statuses,
    live_count_before,
    record_committed,
    record_failed,
    record_started,
)
from platform_assets.merge.dialect import MergeDialect
from platform_assets.merge.errors import DeleteGuardTripped, ExcludedBatch, MergeError, OutOfOrderBatch
from platform_assets.merge.names import quote_ident, quote_list
from platform_assets.merge.rows import check_keys, conform_rows
from platform_assets.merge.spec import LIVE_BATCH_OUT, MergeSpec, merge_spec
from platform_assets.merge.staging import load_stage
from platform_assets.merge.states import DONE, BatchResultStatus, BatchStatus
from platform_assets.merge.store import MergeStore
from platform_assets.merge.tables import (
    ACTION_COLUMN,
    create_changes_table,
    create_stage_table,
    drop_work_tables,
    evolve_product_table,
)

WORK_MEM = "256MB"
"""work_mem for the merge transaction (PostgreSQL): the batch's hash join stays in memory."""
ANALYZE_AFTER_FRACTION = 0.1
"""After a batch that changed more than this share of the live rows, refresh the planner's statistics."""

INSERT, UPDATE, DELETE = "I", "U", "D"


@dataclass(frozen=True)
class BatchResult:
    """What one :func:`merge_batch` call did. Times are seconds.

    ``schema_change``: the description of the columns this batch added or
    widened in the merge table (None when it changed none).
    """

    batch: int
    status: BatchResultStatus
    inserted: int
    updated: int
    deleted: int
    live_count: int
    duration_s: float
    load_s: float
    merge_s: float
    schema_change: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class _AlreadyCommitted(Exception):
    def __init__(self, entry: BatchLogEntry) -> None:
        super().__init__(entry.batch)
        self.entry = entry


def merge_batch(
    store: MergeStore,
    product: ProductConfig,
    batch: int,
    rows: pa.Table,
    *,
    earlier_batches: Iterable[int] = (),
    columns: Mapping[str, ColumnType] | None = None,
) -> BatchResult:
    """Merge ``rows`` (the product's columns and Arrow types) as batch ``batch``.

    ``earlier_batches``: the product's version numbers below ``batch`` that
    must be committed or excluded first (numbers >= ``batch`` are ignored).
    ``columns``: the product's columns for this batch, in order, when they are
    not the declared ones (the catalog's schema version the batch was processed
    under: it holds the columns a version's files added or widened).
    """
    started = time.monotonic()
    spec = merge_spec(product, columns)
    _check_batch_number(spec, batch)
    earlier = sorted({int(number) for number in earlier_batches if int(number) < batch})
    store.ensure_spec_tables(spec)
    with store.engine.connect() as connection:
        committed = _check_preconditions(connection, spec, batch, earlier)
    if committed is not None:
        return _noop(committed, started)
    record_started(store, spec.product, batch)
    try:
        table = conform_rows(spec, rows, batch)
        check_keys(spec, table, batch)
        return _merge_transaction(store, spec, batch, earlier, table, started)
    except _AlreadyCommitted as done:
        return _noop(done.entry, started)
    except BaseException as error:
        _record_failure(store, spec, batch, error)
        raise


def _check_batch_number(spec: MergeSpec, batch: int) -> None:
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch < LIVE_BATCH_OUT:
        raise MergeError(
            f"batch number {batch!r} of {spec.product!r} must be an integer from 1 to {LIVE_BATCH_OUT - 1}"
        )


def _record_failure(store: MergeStore, spec: MergeSpec, batch: int, error: BaseException) -> None:
    message = str(error) if isinstance(error, MergeError) else f"{type(error).__name__}: {error}"
    try:
        record_failed(store, spec.product, batch, message[:4000])
    except Exception as logging_error:  # the store itself is failing: keep the original error
        error.add_note(f"(could not record the failure in the batch log: {logging_error})")


def _check_preconditions(
    connection: Connection, spec: MergeSpec, batch: int, earlier: list[int]
) -> BatchLogEntry | None:
    """The committed log entry if ``batch`` is merged already; raise if it may not merge now."""
    statuses = batch_statuses(connection, spec.product)
    if statuses.get(batch) == BatchStatus.COMMITTED:
        return batch_entry(connection, spec.product, batch)
    if statuses.get(batch) == BatchStatus.EXCLUDED:
        entry = batch_entry(connection, spec.product, batch)
        raise ExcludedBatch(
            f"batch {batch} of {spec.product!r} is excluded ({entry.message if entry else 'no reason'}); "
            "it stays out of the merge order: merge the next version instead"
        )
    later = sorted(number for number, status in statuses.items() if number > batch and status == BatchStatus.COMMITTED)
    if later:
        raise OutOfOrderBatch(
            f"batch {batch} of {spec.product!r} cannot merge: batch {later[-1]} is committed already and batches "
            f"merge in version order; exclude version {batch} instead "
            f"(`platform-assets exclude {spec.product} {batch} --reason TEXT`)",
            product=spec.product,
            batch=batch,
            blocking=later[0],
        )
    blocking = [number for number in earlier if statuses.get(number) not in DONE]
    if blocking:
        first = blocking[0]
        state = statuses.get(first, "never merged")
        raise OutOfOrderBatch(
            f"batch {batch} of {spec.product!r} cannot merge yet: version {first} is not merged (status: {state}); "
            f"merge version {first} first, or {exclude_action(spec.product, first)}",
            product=spec.product,
            batch=batch,
            blocking=first,
        )
    return None


def _noop(entry: BatchLogEntry, started: float) -> BatchResult:
    return BatchResult(
        batch=entry.batch,
        status=BatchResultStatus.NOOP,
        inserted=0,
        updated=0,
        deleted=0,
        live_count=entry.live_count or 0,
        duration_s=time.monotonic() - started,
        load_s=0.0,
        merge_s=0.0,
    )


def _merge_transaction(
    store: MergeStore, spec: MergeSpec, batch: int, earlier: list[int], table: pa.Table, started: float
) -> BatchResult:
    """Load, classify, apply and log batch ``batch`` in ONE transaction."""
    dialect = store.dialect
    with store.engine.connect() as connection:
        transaction = connection.begin()
        try:
            dialect.set_memory(connection, "work_mem", WORK_MEM)
            dialect.lock_product(connection, spec.product)
            committed = _check_preconditions(connection, spec, batch, earlier)
            if committed is not None:
                raise _AlreadyCommitted(committed)
            change = evolve_product_table(connection, spec, dialect)
            live_before = _live_before(connection, spec, batch)
            load_started = time.monotonic()
            stage = create_stage_table(connection, spec, dialect)
            load_stage(connection, spec, stage, table, dialect)
            merge_started = time.monotonic()
            counts = _merge_staged(connection, spec, batch, stage, live_before, dialect)
            record_committed(connection, spec.product, batch, counts, dialect)
            drop_work_tables(connection, dialect)
            failpoint("merge.before_commit")
            transaction.commit()
        except BaseException:
            if transaction.is_active:
                transaction.rollback()
            raise
    finished = time.monotonic()
    _refresh_statistics(store, spec, counts, live_before)
    return BatchResult(
        batch=batch,
        status=BatchResultStatus.COMMITTED,
        inserted=counts.inserted,
        updated=counts.updated,
        deleted=counts.deleted,
        live_count=counts.live_count,
        duration_s=time.monotonic() - started,
        load_s=merge_started - load_started,
        merge_s=finished - merge_started,
        schema_change=None if change.is_empty else change.describe(),
    )


def _live_before(connection: Connection, spec: MergeSpec, batch: int) -> int:
    """Live rows before this batch: from the log, or counted when no batch is committed yet."""
    logged = live_count_before(connection, spec.product, batch)
    if logged is not None:
        return logged
    return int(connection.exec_driver_sql(f"SELECT count(*) FROM {quote_ident(spec.view)}").scalar_one())


def _merge_staged(
    connection: Connection, spec: MergeSpec, batch: int, stage: str, live_before: int, dialect: MergeDialect
) -> BatchCounts:
    """Classify the staged rows against the live rows, check the guard, apply the changes."""
    changes = create_changes_table(connection, spec, dialect)
    for statement in classify_statements(spec, stage, changes, dialect):
        connection.exec_driver_sql(statement)
    dialect.analyze(connection, changes)
    by_action = _count_actions(connection, changes)
    inserted, updated, deleted = by_action.get(INSERT, 0), by_action.get(UPDATE, 0), by_action.get(DELETE, 0)
    _check_delete_guard(spec, batch, deleted, live_before)
    if spec.forensic:
        _apply_forensic(connection, spec, batch, changes, updated + deleted, inserted + updated)
    else:
        _apply_live_only(connection, spec, batch, changes, inserted, updated, deleted)
    return BatchCounts(inserted=inserted, updated=updated, deleted=deleted, live_count=live_before + inserted - deleted)


def _live_rows_sql(spec: MergeSpec) -> str:
    table = quote_ident(spec.table)
    if not spec.forensic:
        return table
    return f'(SELECT {quote_list(spec.names)} FROM {table} WHERE "_batch_out" = {LIVE_BATCH_OUT:d})'


def _live_filter(spec: MergeSpec, alias: str) -> str:
    """`` AND <alias>._batch_out = 2147483647`` for forensic tables (a literal, so partial indexes apply)."""
    return f' AND {alias}."_batch_out" = {LIVE_BATCH_OUT:d}' if spec.forensic else ""


def _changed_sql(spec: MergeSpec, dialect: MergeDialect) -> str:
    """True when any non-key column of ``s`` and ``m`` differs, NULL-safely."""
    distinct = dialect.distinct_from
    return " OR ".join(f"s.{quote_ident(name)} {distinct} m.{quote_ident(name)}" for name in spec.non_key) or "1 = 0"


def classify_statements(spec: MergeSpec, stage: str, changes: str, dialect: MergeDialect) -> list[str]:
    """The statements that fill ``changes`` with every new (I), changed (U) and deleted (D) key.

    Each is ONE statement over all rows. With the dialect's
    ``full_join_classify`` (PostgreSQL), snapshot: one FULL JOIN of the
    staging table ``s`` with the live rows ``m`` (a hash join; only the
    live partition is read). Otherwise: a LEFT JOIN of ``s`` to the live rows
    for I and U, plus, for a snapshot, an anti-join of the live rows to ``s``
    for D (SQLite looks rows up through the key indexes, as it cannot flatten
    the live-rows subquery into a FULL JOIN). Keys match by value on every key
    column; a matched pair is a change when a non-key column differs.
    """
    if dialect.full_join_classify and spec.snapshot:
        return [_full_join_sql(spec, stage, changes, dialect)]
    statements = [_upserts_sql(spec, stage, changes, dialect)]
    if spec.snapshot:
        statements.append(_deletes_sql(spec, stage, changes))
    return statements


def _full_join_sql(spec: MergeSpec, stage: str, changes: str, dialect: MergeDialect) -> str:
    first = quote_ident(spec.key[0])
    on = _key_match("s", "m", spec)
    keys = [f"COALESCE(s.{quote_ident(name)}, m.{quote_ident(name)})" for name in spec.key]
    values = [f"s.{quote_ident(name)}" for name in spec.non_key]
    action = f"CASE WHEN m.{first} IS NULL THEN '{INSERT}' WHEN s.{first} IS NULL THEN '{DELETE}' ELSE '{UPDATE}' END"
    return (
        f"INSERT INTO {changes} ({quote_list(spec.key + spec.non_key)}, {quote_ident(ACTION_COLUMN)}) "
        f"SELECT {', '.join(keys + values)}, {action} "
        f"FROM {stage} AS s FULL JOIN {_live_rows_sql(spec)} AS m ON {on} "
        f"WHERE m.{first} IS NULL OR s.{first} IS NULL OR ({_changed_sql(spec, dialect)})"
    )


def _upserts_sql(spec: MergeSpec, stage: str, changes: str, dialect: MergeDialect) -> str:
    first = quote_ident(spec.key[0])
    on = _key_match("s", "m", spec) + _live_filter(spec, "m")
    action = f"CASE WHEN m.{first} IS NULL THEN '{INSERT}' ELSE '{UPDATE}' END"
    return (
        f"INSERT INTO {changes} ({quote_list(spec.names)}, {quote_ident(ACTION_COLUMN)}) "
        f"SELECT {quote_list(spec.names, 's.')}, {action} "
        f"FROM {stage} AS s LEFT JOIN {quote_ident(spec.table)} AS m ON {on} "
        f"WHERE m.{first} IS NULL OR ({_changed_sql(spec, dialect)})"
    )


def _deletes_sql(spec: MergeSpec, stage: str, changes: str) -> str:
    live = _live_filter(spec, "m")
    return (
        f"INSERT INTO {changes} ({quote_list(spec.key)}, {quote_ident(ACTION_COLUMN)}) "
        f"SELECT {quote_list(spec.key, 'm.')}, '{DELETE}' FROM {quote_ident(spec.table)} AS m "
        f"WHERE NOT EXISTS (SELECT 1 FROM {stage} AS s WHERE {_key_match('s', 'm', spec)}){live}"
    )


def _count_actions(connection: Connection, changes: str) -> dict[str, int]:
    action = quote_ident(ACTION_COLUMN)
    rows = connection.exec_driver_sql(f"SELECT {action}, count(*) FROM {changes} GROUP BY {action}").all()
    return {str(name): int(count) for name, count in rows}


def _check_delete_guard(spec: MergeSpec, batch: int, deleted: int, live_before: int) -> None:
    limit = spec.max_delete_fraction
    if limit is None or deleted == 0 or live_before == 0:
        return
    fraction = deleted / live_before
    if fraction <= limit:
        return
    raise DeleteGuardTripped(
        f"batch {batch} of {spec.product!r} would delete {deleted} of {live_before} live rows ({fraction:.2%}), "
        f"more than max_delete_fraction {limit:.2%} allows; the merge table is unchanged. If the source really lost "
        f"those rows, raise max_delete_fraction for {spec.product!r} in platform.yaml and merge again; if the "
        f"snapshot is incomplete, {exclude_action(spec.product, batch)} and sync again once the source is whole",
        deleted=deleted,
        live=live_before,
        limit=limit,
    )


def _key_match(left: str, right: str, spec: MergeSpec) -> str:
    return " AND ".join(f"{left}.{quote_ident(name)} = {right}.{quote_ident(name)}" for name in spec.key)


def _apply_forensic(
    connection: Connection, spec: MergeSpec, batch: int, changes: str, to_close: int, to_insert: int
) -> None:
    """Close changed and deleted rows at ``batch - 1``, then insert new and changed rows as live."""
    table = quote_ident(spec.table)
    action = quote_ident(ACTION_COLUMN)
    if to_close:
        connection.execute(
            text(
                f'UPDATE {table} AS m SET "_batch_out" = :closed FROM {changes} AS c '
                f'WHERE m."_batch_out" = {LIVE_BATCH_OUT:d} AND {_key_match("m", "c", spec)} '
                f"AND c.{action} IN ('{UPDATE}', '{DELETE}')"
            ),
            {"closed": batch - 1},
        )
    if to_insert:
        columns = quote_list(spec.names)
        connection.execute(
            text(
                f'INSERT INTO {table} ({columns}, "_batch_in", "_batch_out") '
                f"SELECT {columns}, :batch, {LIVE_BATCH_OUT:d} FROM {changes} WHERE {action} IN ('{INSERT}', "
                f"'{UPDATE}')"
            ),
            {"batch": batch},
        )


def _apply_live_only(
    connection: Connection, spec: MergeSpec, batch: int, changes: str, inserted: int, updated: int, deleted: int
) -> None:
    """Update changed rows in place, delete deleted keys, insert new keys."""
    table = quote_ident(spec.table)
    action = quote_ident(ACTION_COLUMN)
    if updated:
        assignments = [f"{quote_ident(name)} = c.{quote_ident(name)}" for name in spec.non_key]
        assignments.append('"_batch_id" = :batch')
        connection.execute(
            text(
                f"UPDATE {table} AS m SET {', '.join(assignments)} FROM {changes} AS c "
                f"WHERE {_key_match('m', 'c', spec)} AND c.{action} = '{UPDATE}'"
            ),
            {"batch": batch},
        )
    if deleted:
        keys = quote_list(spec.key)
        connection.exec_driver_sql(
            f"DELETE FROM {table} WHERE ({keys}) IN (SELECT {keys} FROM {changes} WHERE {action} = '{DELETE}')"
        )
    if inserted:
        columns = quote_list(spec.names)
        connection.execute(
            text(
                f'INSERT INTO {table} ({columns}, "_batch_id") '
                f"SELECT {columns}, :batch FROM {changes} WHERE {action} = '{INSERT}'"
            ),
            {"batch": batch},
        )


def _refresh_statistics(store: MergeStore, spec: MergeSpec, counts: BatchCounts, live_before: int) -> None:
    """ANALYZE the merge table after a batch that changed a large share of it (where the planner keeps statistics)."""
    changed = counts.inserted + counts.updated + counts.deleted
    if not store.dialect.planner_statistics or changed <= ANALYZE_AFTER_FRACTION * max(live_before, 1):
        return
    with store.engine.begin() as connection:
        store.dialect.analyze(connection, quote_ident(spec.table))
