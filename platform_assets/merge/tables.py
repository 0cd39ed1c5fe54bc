"""DDL of the merge store: merge tables, live views, batch log, store meta, work tables.

Contracts (design.md, "Tables users query"):

- ``<product>_merge``, forensic: the product's columns + ``_batch_in``,
  ``_batch_out`` (integer, live rows at 2147483647). On PostgreSQL it is
  partitioned by range of ``_batch_out`` into ``<product>_merge$live`` and
  ``<product>_merge$hist``, so a merge reads the live rows only, whatever the
  length of the history; a unique index on the live partition's key keeps one
  live row per key. On SQLite it is one table with a unique partial index on
  the key ``WHERE _batch_out = 2147483647``.
- ``<product>_merge``, live-only: the product's columns + ``_batch_id``,
  primary key = the product's key.
- ``<product>_live``: the live rows, product columns only.
- ``merge_batches``: the batch log, one row per (product, batch).
- ``merge_store_meta``: (key, value); ``epoch`` is a UUID set once.

Every ``ensure_*`` function is idempotent and runs inside the caller's
transaction. An existing merge table whose columns differ from the product's
declaration raises :class:`SchemaMismatch` (the store does not migrate).
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import Connection, text

from platform_assets.merge.errors import SchemaMismatch
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
from platform_assets.merge.spec import LIVE_BATCH_OUT, MergeSpec, sql_type
from platform_assets.merge.states import BatchStatus

EPOCH_KEY = "epoch"
ACTION_COLUMN = "_action"
_PG_DDL_LOCK = 7_341_926_001  # advisory lock id serializing merge-store DDL on PostgreSQL


def ensure_store_tables(connection: Connection, postgres: bool) -> None:
    """Create the batch log and the meta table (with its epoch) if missing."""
    if postgres:
        connection.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _PG_DDL_LOCK})
    stamp = "timestamp with time zone" if postgres else "TEXT"
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


def missing_tables(connection: Connection, names: tuple[str, ...], postgres: bool) -> list[str]:
    """Those of ``names`` (tables of the connection's default schema / main database) that do not exist; one query."""
    if postgres:
        checks = ", ".join(f"to_regclass(:t{index}) IS NOT NULL" for index in range(len(names)))
        found = connection.execute(
            text(f"SELECT {checks}"), {f"t{index}": quote_ident(name) for index, name in enumerate(names)}
        ).one()
        return [name for name, exists in zip(names, found) if not exists]
    existing = set(connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars())
    return [name for name in names if name not in existing]


def expected_columns(spec: MergeSpec, postgres: bool) -> list[tuple[str, str]]:
    """(name, type) of the product's merge table, in order, as the catalog reports them."""
    columns = [(name, sql_type(column_type, postgres)) for name, column_type in spec.columns]
    integer = "integer" if postgres else "INTEGER"
    batch_columns = ["_batch_in", "_batch_out"] if spec.forensic else ["_batch_id"]
    return columns + [(name, integer) for name in batch_columns]


def ensure_product_tables(
    connection: Connection, spec: MergeSpec, postgres: bool, *, batch_indexes: bool = True
) -> None:
    """Create the product's merge table, its indexes and live view if missing; check an existing one first.

    ``batch_indexes=False`` leaves out the indexes on the batch columns
    (``_batch_id``; ``_batch_in`` and ``_batch_out``), keeping the key's: for
    replicas, which never look rows up by batch (see ``platform_assets.replication.shadow``).
    """
    if postgres:
        connection.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": _PG_DDL_LOCK})
    _check_columns(connection, spec, postgres)
    if not spec.forensic:
        _create_live_only_table(connection, spec, postgres, batch_indexes)
    elif postgres:
        _create_postgres_forensic_table(connection, spec, batch_indexes)
    else:
        _create_sqlite_forensic_table(connection, spec, batch_indexes)
    _create_live_view(connection, spec, postgres)


def _column_definitions(spec: MergeSpec, postgres: bool) -> str:
    parts = []
    for name, column_type in expected_columns(spec, postgres):
        not_null = " NOT NULL" if name in spec.key or name.startswith("_batch") else ""
        parts.append(f"{quote_ident(name)} {column_type}{not_null}")
    return ", ".join(parts)


def _exists(connection: Connection, name: str) -> bool:
    return connection.execute(text("SELECT to_regclass(:name)"), {"name": quote_ident(name)}).scalar() is not None


def _create(connection: Connection, postgres: bool, name: str, statement: str) -> None:
    """Run ``statement`` (a ``CREATE ... IF NOT EXISTS`` of ``name``) unless ``name`` exists.

    On PostgreSQL, ``CREATE INDEX IF NOT EXISTS`` still takes a SHARE lock on
    its table before it notices the index exists, which can deadlock with a
    merge in flight; looking the name up first (under the DDL advisory lock)
    keeps :func:`ensure_product_tables` lock-free once the tables exist.
    """
    if postgres and _exists(connection, name):
        return
    connection.exec_driver_sql(statement)


def _create_live_only_table(
    connection: Connection, spec: MergeSpec, postgres: bool, batch_indexes: bool = True
) -> None:
    """Live-only: primary key = the product's key, an index on ``_batch_id`` (unless ``batch_indexes`` is False)."""
    table = quote_ident(spec.table)
    columns = _column_definitions(spec, postgres)
    by_batch = index_name(spec.product, "bid")
    _create(
        connection,
        postgres,
        spec.table,
        f"CREATE TABLE IF NOT EXISTS {table} ({columns}, PRIMARY KEY ({quote_list(spec.key)}))",
    )
    if batch_indexes:
        _create(
            connection,
            postgres,
            by_batch,
            f'CREATE INDEX IF NOT EXISTS {quote_ident(by_batch)} ON {table} ("_batch_id")',
        )


def _create_postgres_forensic_table(connection: Connection, spec: MergeSpec, batch_indexes: bool = True) -> None:
    """Forensic on PostgreSQL: live and closed-row partitions; one live row per key; batch indexes unless told not."""
    table = quote_ident(spec.table)
    columns = _column_definitions(spec, postgres=True)
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
        _create(connection, True, name, statement)


def _create_sqlite_forensic_table(connection: Connection, spec: MergeSpec, batch_indexes: bool = True) -> None:
    """Forensic on SQLite: one table, a unique partial index on the live rows' key; batch indexes unless told not to."""
    table = quote_ident(spec.table)
    columns = _column_definitions(spec, postgres=False)
    key_index, in_index, out_index = (quote_ident(index_name(spec.product, p)) for p in ("key", "bin", "bout"))
    connection.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
    connection.exec_driver_sql(
        f"CREATE UNIQUE INDEX IF NOT EXISTS {key_index} ON {table} "
        f'({quote_list(spec.key)}) WHERE "_batch_out" = {LIVE_BATCH_OUT:d}'
    )
    if not batch_indexes:
        return
    connection.exec_driver_sql(f'CREATE INDEX IF NOT EXISTS {in_index} ON {table} ("_batch_in")')
    connection.exec_driver_sql(
        f'CREATE INDEX IF NOT EXISTS {out_index} ON {table} ("_batch_out") WHERE "_batch_out" < {LIVE_BATCH_OUT:d}'
    )


def _create_live_view(connection: Connection, spec: MergeSpec, postgres: bool) -> None:
    view = quote_ident(spec.view)
    where = f' WHERE "_batch_out" = {LIVE_BATCH_OUT:d}' if spec.forensic else ""
    body = f"SELECT {quote_list(spec.names)} FROM {quote_ident(spec.table)}{where}"
    if not postgres:
        connection.exec_driver_sql(f"CREATE VIEW IF NOT EXISTS {view} AS {body}")
        return
    if not _exists(connection, spec.view):
        connection.exec_driver_sql(f"CREATE VIEW {view} AS {body}")


def existing_columns(connection: Connection, table: str, postgres: bool) -> list[tuple[str, str]]:
    """(name, type) of an existing table's columns in order; empty if it does not exist."""
    if postgres:
        rows = connection.execute(
            text(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass(:name) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
            ),
            {"name": quote_ident(table)},
        ).all()
    else:
        rows = connection.execute(text("SELECT name, type FROM pragma_table_info(:name)"), {"name": table}).all()
    return [(str(name), str(column_type)) for name, column_type in rows]


def _normalized(columns: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, column_type.replace(" ", "").lower()) for name, column_type in columns]


def _check_columns(connection: Connection, spec: MergeSpec, postgres: bool) -> None:
    """SchemaMismatch if the merge table exists with other columns than the product needs."""
    expected = expected_columns(spec, postgres)
    actual = existing_columns(connection, spec.table, postgres)
    if not actual or _normalized(actual) == _normalized(expected):
        return
    raise SchemaMismatch(
        f"merge table {spec.table!r} exists with columns {actual} but product {spec.product!r} "
        f"(milestone {spec.milestone}) needs {expected}. The merge store does not migrate tables: "
        f"declare the schema the table was built with, or move the table aside (rename or drop it "
        f"deliberately) and merge the versions again."
    )


def work_table(name: str, postgres: bool) -> str:
    """A session-private work table, schema-qualified (pg_temp / temp)."""
    return f"{'pg_temp' if postgres else 'temp'}.{quote_ident(name)}"


def create_stage_table(connection: Connection, spec: MergeSpec, postgres: bool) -> str:
    """A temporary table for the batch's rows (dropped at commit on PostgreSQL); returns its name."""
    return create_work_table(connection, spec, STAGE_TABLE, postgres)


def create_changes_table(connection: Connection, spec: MergeSpec, postgres: bool) -> str:
    """A temporary table for the classified changes: product columns + ``_action`` (I, U, D)."""
    return create_work_table(
        connection, spec, CHANGES_TABLE, postgres, extra=(f"{quote_ident(ACTION_COLUMN)} TEXT NOT NULL",)
    )


def create_work_table(
    connection: Connection,
    spec: MergeSpec,
    name: str,
    postgres: bool,
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
    columns = [f"{quote_ident(column)} {sql_type(column_type, postgres)}" for column, column_type in spec.columns]
    definition = ", ".join(columns + list(extra))
    if postgres and reuse:
        name = f"{name}_{hashlib.sha1(definition.encode()).hexdigest()[:12]}"
        connection.exec_driver_sql(
            f"CREATE TEMP TABLE IF NOT EXISTS {quote_ident(name)} ({definition}) ON COMMIT DELETE ROWS"
        )
    elif postgres:
        connection.exec_driver_sql(f"CREATE TEMP TABLE {quote_ident(name)} ({definition}) ON COMMIT DROP")
    else:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {work_table(name, postgres)}")
        connection.exec_driver_sql(f"CREATE TEMP TABLE {quote_ident(name)} ({definition})")
    return work_table(name, postgres)


def drop_work_tables(
    connection: Connection, postgres: bool, names: tuple[str, ...] = (STAGE_TABLE, CHANGES_TABLE)
) -> None:
    """Drop the work tables ``names`` (SQLite keeps temp tables per connection; PostgreSQL drops them at commit)."""
    if postgres:
        return
    for name in names:
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {work_table(name, postgres)}")
