"""DDL of the merge store: merge tables, live views, batch log, store meta, work tables.

Contracts (docs/architecture.md, "Contracts users rely on"):

- ``<product>_merge``, forensic: the product's columns + ``_batch_in``,
  ``_batch_out`` (integer, live rows at 2147483647). On PostgreSQL it is
  partitioned by range of ``_batch_out`` into ``<product>_merge$live`` and
  ``<product>_merge$hist``, so a merge reads the live rows only, whatever the
  length of the history; a unique index on the live partition's key keeps one
  live row per key. On SQLite it is one table with a unique partial index on
  the key ``WHERE _batch_out = 2147483647``. (Which one: the dialect's
  ``partitioned_forensic``, see :mod:`platform_assets.merge.dialect`.)
- ``<product>_merge``, live-only: the product's columns + ``_batch_id``,
  primary key = the product's key.
- ``<product>_live``: the live rows, product columns only.
- ``merge_batches``: the batch log, one row per (product, batch).
- ``merge_store_meta``: (key, value); ``epoch`` is a UUID set once.

Every ``ensure_*`` function is idempotent and runs inside the caller's
transaction. An existing merge table whose columns differ from the product's
declaration by an accepted schema change (columns added at the end; widened
types where the spec's ``widen_types`` allows; see
:mod:`platform_assets.merge.evolution`) is left for
:func:`evolve_product_table`, which the batch that first merges under the new
columns runs in its transaction; any other difference raises
:class:`MergeSchemaMismatch` naming each column and the config change that would
accept it. A table ahead of the spec (it holds columns a version's files added
or widened, which the config does not declare) is left as it is.

:func:`evolve_product_table` (inside the caller's transaction): drops the live
view (when it exists), adds the new columns (``ALTER TABLE ... ADD COLUMN``:
NULL in every stored row, history included), widens the widened ones (the
dialect's :meth:`~platform_assets.merge.dialect.MergeDialect.widen_columns`:
``ALTER COLUMN ... TYPE`` on PostgreSQL's partitioned table, a rebuild that
copies the stored values unchanged on SQLite), then creates the view again
with the spec's columns. A rollback leaves the old table and view.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Connection, text

from platform_assets.merge.dialect import MergeDialect
from platform_assets.merge.evolution import table_change
from platform_assets.merge.names import (
    BATCH_LOG_TABLE,
    CHANGES_TABLE,
    META_TABLE,
    STAGE_TABLE,
    history_partition,
    index_name,
    live_partition,
    quote_ident,
    quote_list,
)
from platform_assets.merge.spec import LIVE_BATCH_OUT, MergeSpec
from platform_assets.merge.states import BatchStatus
from platform_assets.schema_change import SchemaChange

EPOCH_KEY = "epoch"
ACTION_COLUMN = "_action"


def ensure_store_tables(connection: Connection, dialect: MergeDialect) -> None:
    """Create the batch log and the meta table (with its epoch) if missing."""
    dialect.lock_ddl(connection)
    stamp = dialect.timestamp_type
    statuses = ", ".join(f"'{status}'" for status in BatchStatus)
    connection.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {quote_ident(BATCH_LOG_TABLE)} ("
        " product TEXT NOT NULL, batch INTEGER NOT NULL,"
        f" status TEXT NOT NULL CHECK (status IN ({statuses})),"
        f" started_at {stamp}, committed_at {stamp},"
        " inserted BIGINT, updated BIGINT, deleted BIGINT, live_count BIGINT, message TEXT,"
        " PRIMARY KEY (product, batch))"
    )
    connection.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {quote_ident(META_TABLE)} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
    )
    connection.execute(
        text(f"INSERT INTO {quote_ident(META_TABLE)} (key, value) VALUES (:key, :value) ON CONFLICT (key) DO NOTHING"),
        {"key": EPOCH_KEY, "value": str(uuid.uuid4())},
    )


def read_epoch(connection: Connection) -> str:
    """The store's epoch (``ensure_store_tables`` must have run)."""
    return connection.execute(
        text(f"SELECT value FROM {quote_ident(META_TABLE)} WHERE key = :key"), {"key": EPOCH_KEY}
    ).scalar_one()


def expected_columns(spec: MergeSpec, dialect: MergeDialect) -> list[tuple[str, str]]:
    """(name, type) of the product's merge table, in order, as the catalog reports them."""
    columns = [(name, dialect.column_type(column_type)) for name, column_type in spec.columns]
    batch_columns = ["_batch_in", "_batch_out"] if spec.forensic else ["_batch_id"]
    return columns + [(name, dialect.integer_type) for name in batch_columns]


def ensure_product_tables(
    connection: Connection, spec: MergeSpec, dialect: MergeDialect, *, batch_indexes: bool = True
) -> None:
    """Create the product's merge table, its indexes and live view if missing; check an existing one first.

    ``batch_indexes=False`` leaves out the indexes on the batch columns
    (``_batch_id``; ``_batch_in`` and ``_batch_out``), keeping the key's: for
    replicas, which never look rows up by batch (see ``platform_assets.replication.shadow``).
    """
    dialect.lock_ddl(connection)
    change = table_change(connection, spec, dialect, ahead_ok=True)
    if change is not None and not change.is_empty:
        return  # an accepted evolution: the batch that merges under the new columns runs evolve_product_table
    if not spec.forensic:
        _create_live_only_table(connection, spec, dialect, batch_indexes)
    elif dialect.partitioned_forensic:
        _create_partitioned_forensic_table(connection, spec, dialect, batch_indexes)
    else:
        _create_single_forensic_table(connection, spec, dialect, batch_indexes)
    _create_live_view(connection, spec, dialect)


def _column_definitions(spec: MergeSpec, dialect: MergeDialect) -> str:
    parts = []
    for name, column_type in expected_columns(spec, dialect):
        not_null = " NOT NULL" if name in spec.key or name.startswith("_batch") else ""
        parts.append(f"{quote_ident(name)} {column_type}{not_null}")
    return ", ".join(parts)


def table_definition(spec: MergeSpec, dialect: MergeDialect) -> str:
    """The column list of ``CREATE TABLE <product>_merge (...)``: columns, and a live-only table's primary key."""
    columns = _column_definitions(spec, dialect)
    return columns if spec.forensic else f"{columns}, PRIMARY KEY ({quote_list(spec.key)})"


def _create_live_only_table(
    connection: Connection, spec: MergeSpec, dialect: MergeDialect, batch_indexes: bool
) -> None:
    """Live-only: primary key = the product's key, an index on ``_batch_id`` (unless ``batch_indexes`` is False)."""
    table = quote_ident(spec.table)
    by_batch = index_name(spec.product, "bid")
    dialect.create_if_missing(
        connection, spec.table, f"CREATE TABLE IF NOT EXISTS {table} ({table_definition(spec, dialect)})"
    )
    if batch_indexes:
        dialect.create_if_missing(
            connection, by_batch, f'CREATE INDEX IF NOT EXISTS {quote_ident(by_batch)} ON {table} ("_batch_id")'
        )


def _create_partitioned_forensic_table(
    connection: Connection, spec: MergeSpec, dialect: MergeDialect, batch_indexes: bool
) -> None:
    """Forensic, partitioned: live and closed-row partitions; one live row per key; batch indexes unless told not."""
    table = quote_ident(spec.table)
    columns = _column_definitions(spec, dialect)
    live_name, hist_name = live_partition(spec.product), history_partition(spec.product)
    live, hist = quote_ident(live_name), quote_ident(hist_name)
    key_index, in_index, out_index = (index_name(spec.product, purpose) for purpose in ("key", "bin", "bout"))
    statements = [
        (spec.table, f'CREATE TABLE IF NOT EXISTS {table} ({columns}) PARTITION BY RANGE ("_batch_out")'),
        (
            live_name,
            f"CREATE TABLE IF NOT EXISTS {live} PARTITION OF {table} FOR VALUES FROM ({LIVE_BATCH_OUT:d}) TO "
            "(MAXVALUE)",
        ),
        (
            hist_name,
            f"CREATE TABLE IF NOT EXISTS {hist} PARTITION OF {table} FOR VALUES FROM (MINVALUE) TO "
            f"({LIVE_BATCH_OUT:d})",
        ),
        (key_index, f"CREATE UNIQUE INDEX IF NOT EXISTS {quote_ident(key_index)} ON {live} ({quote_list(spec.key)})"),
    ]
    if batch_indexes:
        statements += [
            (in_index, f'CREATE INDEX IF NOT EXISTS {quote_ident(in_index)} ON {table} ("_batch_in")'),
            (out_index, f'CREATE INDEX IF NOT EXISTS {quote_ident(out_index)} ON {hist} ("_batch_out")'),
        ]
    for name, statement in statements:
        dialect.create_if_missing(connection, name, statement)


def _create_single_forensic_table(
    connection: Connection, spec: MergeSpec, dialect: MergeDialect, batch_indexes: bool
) -> None:
    """Forensic, one table: a unique partial index on the live rows' key; batch indexes unless told not to."""
    table = quote_ident(spec.table)
    key_index, in_index, out_index = (index_name(spec.product, purpose) for purpose in ("key", "bin", "bout"))
    statements = [
        (spec.table, f"CREATE TABLE IF NOT EXISTS {table} ({table_definition(spec, dialect)})"),
        (
            key_index,
            f"CREATE UNIQUE INDEX IF NOT EXISTS {quote_ident(key_index)} ON {table} "
            f'({quote_list(spec.key)}) WHERE "_batch_out" = {LIVE_BATCH_OUT:d}',
        ),
    ]
    if batch_indexes:
        statements += [
            (in_index, f'CREATE INDEX IF NOT EXISTS {quote_ident(in_index)} ON {table} ("_batch_in")'),
            (
                out_index,
                f'CREATE INDEX IF NOT EXISTS {quote_ident(out_index)} ON {table} ("_batch_out") '
                f'WHERE "_batch_out" < {LIVE_BATCH_OUT:d}',
            ),
        ]
    for name, statement in statements:
        dialect.create_if_missing(connection, name, statement)


def _create_live_view(connection: Connection, spec: MergeSpec, dialect: MergeDialect) -> None:
    where = f' WHERE "_batch_out" = {LIVE_BATCH_OUT:d}' if spec.forensic else ""
    dialect.create_view(connection, spec.view, f"SELECT {quote_list(spec.names)} FROM {quote_ident(spec.table)}{where}")


def evolve_product_table(
    connection: Connection, spec: MergeSpec, dialect: MergeDialect, *, widen_types: bool | None = None
) -> SchemaChange:
    """Bring an existing merge table (and its view) to the spec's columns; the change made (see the module contract).

    Empty when the table has the spec's columns (or does not exist);
    MergeSchemaMismatch when the difference is not an accepted change.
    ``widen_types`` overrides the spec's.
    """
    change = table_change(connection, spec, dialect, widen_types=widen_types)
    if change is None or change.is_empty:
        return change or SchemaChange()
    dialect.lock_ddl(connection)
    had_view = dialect.view_exists(connection, spec.view)
    connection.exec_driver_sql(f"DROP VIEW IF EXISTS {quote_ident(spec.view)}")
    dialect.add_columns(
        connection,
        spec.table,
        [f"{quote_ident(column.name)} {dialect.column_type(column.column_type)}" for column in change.added],
    )
    if change.widened:
        widened = {column.name: dialect.column_type(column.new) for column in change.widened}
        dialect.widen_columns(connection, spec.table, widened, table_definition(spec, dialect))
    if had_view:
        _create_live_view(connection, spec, dialect)
    return change


def create_stage_table(connection: Connection, spec: MergeSpec, dialect: MergeDialect) -> str:
    """A temporary table for the batch's rows (dropped at commit on PostgreSQL); returns its name."""
    return create_work_table(connection, spec, STAGE_TABLE, dialect)


def create_changes_table(connection: Connection, spec: MergeSpec, dialect: MergeDialect) -> str:
    """A temporary table for the classified changes: product columns + ``_action`` (I, U, D)."""
    return create_work_table(
        connection, spec, CHANGES_TABLE, dialect, extra=(f"{quote_ident(ACTION_COLUMN)} TEXT NOT NULL",)
    )


def create_work_table(
    connection: Connection,
    spec: MergeSpec,
    name: str,
    dialect: MergeDialect,
    extra: tuple[str, ...] = (),
    *,
    reuse: bool = False,
) -> str:
    """An empty temporary table ``name`` (the product's columns, then the ``extra`` column definitions).

    Returns its qualified name.

    PostgreSQL drops it at commit (``ON COMMIT DROP``). With ``reuse``, it is
    instead kept by the session and emptied at each commit (``ON COMMIT DELETE
    ROWS``; a rollback takes back its rows too), so a pooled session creates it
    once rather than once per transaction (no catalog rows written and deleted
    again); its name then carries a hash of its columns, so two layouts never
    share one. SQLite keeps temporary tables per connection, so an earlier one
    of the same name is dropped first and the caller drops it when done
    (:func:`drop_work_tables`).
    """
    columns = [f"{quote_ident(column)} {dialect.column_type(column_type)}" for column, column_type in spec.columns]
    return dialect.create_work_table(connection, name, ", ".join(columns + list(extra)), reuse=reuse)


def drop_work_tables(
    connection: Connection, dialect: MergeDialect, names: Sequence[str] = (STAGE_TABLE, CHANGES_TABLE)
) -> None:
    """Drop the work tables ``names`` (SQLite keeps temp tables per connection; PostgreSQL drops them at commit)."""
    dialect.drop_work_tables(connection, names)
