"""The shadow table a seed fills, and the switch that makes it the replica.

Contract:

- The shadow of product ``p`` is the merge table of the product ``p$s``
  (``p$s_merge``, on PostgreSQL with its partitions ``p$s_merge$live`` and
  ``p$s_merge$hist`` when forensic), created by the merge module's own DDL
  (:func:`platform_assets.merge.tables.ensure_product_tables`), so it has
  exactly the columns, types and partitioning of a merge table of the
  replica's milestone. Its view is dropped, and its indexes too while chunks
  are loaded (a bulk load into an unindexed table, then one index build, is
  faster than keeping indexes up to date row by row); nobody reads a shadow.
  Where the store's dialect cannot build indexes after the load
  (``builds_indexes_after_load`` false: SQLite, whose primary keys are part of
  the table), a live-only shadow keeps its key.
- :func:`prepare_swap` (``builds_indexes_after_load``: PostgreSQL) builds the
  shadow's indexes (the merge DDL's named indexes, and the primary key of a
  live-only table) in its own transaction, so the switch itself is only
  renames. Statistics are left to autovacuum, which analyzes a freshly loaded
  table on its own.
- A replica differs from a merge table of its milestone in physical details
  only, none in its columns, key or view: it has its key's index and no index
  on the batch columns (a live-only replica no ``_batch_id`` index, a mirror no
  ``_batch_in`` / ``_batch_out`` index; see :data:`MIRROR_BATCH_INDEXES`). A
  replica never looks rows up by batch: the incremental sync works by key
  (see :mod:`.incremental`), and a replica is never a primary. On PostgreSQL a
  live-only replica's fillfactor is :data:`LIVE_ONLY_FILLFACTOR`, so the
  incremental sync's updates, which then change no indexed column, can stay
  on their page (HOT updates: no new index entry, and no full-page image of
  an index page after a checkpoint).
- :func:`swap_in_shadow` runs inside the caller's transaction: it drops the
  replica's live view and merge table and renames the shadow's objects to the
  replica's names, then lets the merge DDL recreate the view (and, on SQLite,
  which cannot rename indexes, the indexes). Readers see the old replica or the
  new one, never a half-filled table.
"""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Connection, text

from platform_assets.merge.dialect import MergeDialect
from platform_assets.merge.names import history_partition, index_name, live_partition, quote_ident, quote_list
from platform_assets.merge.spec import MergeSpec
from platform_assets.merge.tables import ensure_product_tables
from platform_assets.replication.state import shadow_product

INDEX_PURPOSES = ("key", "bin", "bout", "bid")
"""Suffixes of the merge table's named indexes (see ``merge.tables``)."""
INDEX_BUILD_MEMORY = "256MB"
"""maintenance_work_mem for the index builds of a seed: the sorts stay in memory, parallel workers may help."""
MIRROR_BATCH_INDEXES = False
"""Whether a mirror gets a forensic merge table's ``_batch_in`` / ``_batch_out`` indexes.

Off: nothing in replication uses them (they cost a mirror's seed about a third
of its index build and every incremental sync their upkeep); a user's query by
batch on a mirror scans the table instead.
"""
LIVE_ONLY_FILLFACTOR = 90
"""Free space left in each page of a live-only replica for HOT updates (PostgreSQL)."""


def _batch_indexes(spec: MergeSpec) -> bool:
    """Whether the replica's tables get the batch columns' indexes (see the module contract)."""
    return MIRROR_BATCH_INDEXES and spec.forensic


def shadow_spec(spec: MergeSpec) -> MergeSpec:
    """The MergeSpec whose tables are the shadow of ``spec``'s."""
    return replace(spec, product=shadow_product(spec.product))


def drop_shadow(connection: Connection, spec: MergeSpec) -> None:
    """Drop the shadow's view and table (partitions and indexes go with it) if they exist."""
    shadow = shadow_spec(spec)
    connection.exec_driver_sql(f"DROP VIEW IF EXISTS {quote_ident(shadow.view)}")
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {quote_ident(shadow.table)}")


def create_shadow(connection: Connection, spec: MergeSpec, dialect: MergeDialect) -> None:
    """A new, empty shadow without its view and secondary indexes (an old one is dropped first)."""
    shadow = shadow_spec(spec)
    drop_shadow(connection, spec)
    ensure_product_tables(connection, shadow, dialect, batch_indexes=_batch_indexes(spec))
    connection.exec_driver_sql(f"DROP VIEW IF EXISTS {quote_ident(shadow.view)}")
    if not spec.forensic:
        dialect.set_fillfactor(connection, shadow.table, LIVE_ONLY_FILLFACTOR)
    for purpose in INDEX_PURPOSES:
        connection.exec_driver_sql(f"DROP INDEX IF EXISTS {quote_ident(index_name(shadow.product, purpose))}")
    if dialect.builds_indexes_after_load:
        name = _primary_key_name(connection, shadow.table)
        if name is not None:
            connection.exec_driver_sql(f"ALTER TABLE {quote_ident(shadow.table)} DROP CONSTRAINT {quote_ident(name)}")


def shadow_exists(connection: Connection, spec: MergeSpec, dialect: MergeDialect) -> bool:
    return not dialect.missing_tables(connection, (shadow_spec(spec).table,))


def prepare_swap(connection: Connection, spec: MergeSpec, dialect: MergeDialect) -> None:
    """Build the shadow's indexes before the switch (no-op without ``builds_indexes_after_load``: SQLite)."""
    if not dialect.builds_indexes_after_load:
        return
    shadow = shadow_spec(spec)
    dialect.set_memory(connection, "maintenance_work_mem", INDEX_BUILD_MEMORY)
    if not spec.forensic and _primary_key_name(connection, shadow.table) is None:
        table = quote_ident(shadow.table)
        constraint = quote_ident(f"{shadow.table}_pkey")
        connection.exec_driver_sql(
            f"ALTER TABLE {table} ADD CONSTRAINT {constraint} PRIMARY KEY ({quote_list(spec.key)})"
        )
    ensure_product_tables(connection, shadow, dialect, batch_indexes=_batch_indexes(spec))
    connection.exec_driver_sql(f"DROP VIEW IF EXISTS {quote_ident(shadow.view)}")


def swap_in_shadow(connection: Connection, spec: MergeSpec, dialect: MergeDialect) -> None:
    """Replace the replica's merge table and view by the shadow (inside the caller's transaction)."""
    shadow = shadow_spec(spec)
    connection.exec_driver_sql(f"DROP VIEW IF EXISTS {quote_ident(spec.view)}")
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {quote_ident(spec.table)}")
    _rename_table(connection, shadow.table, spec.table)
    if dialect.builds_indexes_after_load:
        if dialect.partitioned_forensic and spec.forensic:
            _rename_table(connection, live_partition(shadow.product), live_partition(spec.product))
            _rename_table(connection, history_partition(shadow.product), history_partition(spec.product))
        for purpose in INDEX_PURPOSES:
            old, new = quote_ident(index_name(shadow.product, purpose)), quote_ident(index_name(spec.product, purpose))
            connection.exec_driver_sql(f"ALTER INDEX IF EXISTS {old} RENAME TO {new}")
        _rename_primary_key(connection, spec.table)
    ensure_product_tables(connection, spec, dialect, batch_indexes=_batch_indexes(spec))


def _rename_table(connection: Connection, old: str, new: str) -> None:
    connection.exec_driver_sql(f"ALTER TABLE {quote_ident(old)} RENAME TO {quote_ident(new)}")


def _primary_key_name(connection: Connection, table: str) -> str | None:
    """The name of ``table``'s primary-key constraint, None if it has none (``builds_indexes_after_load`` only)."""
    return connection.execute(
        text("SELECT conname FROM pg_constraint WHERE conrelid = to_regclass(:name) AND contype = 'p'"),
        {"name": quote_ident(table)},
    ).scalar()


def _rename_primary_key(connection: Connection, table: str) -> None:
    """Name the primary-key constraint after the table, as CREATE TABLE would have (``builds_indexes_after_load``)."""
    current = _primary_key_name(connection, table)
    wanted = f"{table}_pkey"
    if current is not None and current != wanted:
        connection.exec_driver_sql(
            f"ALTER TABLE {quote_ident(table)} RENAME CONSTRAINT {quote_ident(current)} TO {quote_ident(wanted)}"
        )
