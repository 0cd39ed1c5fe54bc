"""Bulk load of a batch's rows into the staging table, inside the merge transaction.

Contract: :func:`load_stage` puts every row of ``table`` (already conformed to
the declared schema) into the staging table, values unchanged, NULL kept apart
from '', through the store's dialect (:mod:`platform_assets.merge.dialect`):
``COPY ... FROM STDIN (FORMAT csv)`` on PostgreSQL, then ANALYZE, so the
planner knows the batch's size; ``executemany`` of the rows as SQLite stores
them on SQLite, then a unique index on the key, so the merge's join can look
rows up.
"""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import Connection

from platform_assets.merge.dialect import MergeDialect
from platform_assets.merge.names import STAGE_TABLE
from platform_assets.merge.spec import MergeSpec


def load_stage(connection: Connection, spec: MergeSpec, stage: str, table: pa.Table, dialect: MergeDialect) -> None:
    """Bulk-load ``table`` into the staging table ``stage`` (a qualified, quoted name)."""
    dialect.bulk_load(connection, stage, spec.names, table, [column_type for _, column_type in spec.columns])
    dialect.analyze(connection, stage)
    dialect.index_work_table(connection, STAGE_TABLE, spec.key, unique=True)
