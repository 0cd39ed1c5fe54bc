"""Bulk load of a batch's rows into the staging table, inside the merge transaction.

Contract: :func:`load_stage` puts every row of ``table`` (already conformed to
the declared schema) into the staging table, values unchanged, NULL kept apart
from ''.

- PostgreSQL: ``COPY ... FROM STDIN (FORMAT csv)`` through psycopg2's
  ``copy_expert`` from an in-memory CSV written by Arrow. Arrow quotes every
  string and writes NULL as an empty unquoted field, which is exactly how
  PostgreSQL's CSV format tells NULL from ''. Then ANALYZE, so the planner
  knows the batch's size.
- SQLite: ``executemany`` of the rows as tuples; date, timestamp and decimal
  columns become their canonical text (see :mod:`platform_assets.merge.spec`).
  NaN doubles become the text 'NaN' (SQLite would store NULL). Then a unique
  index on the key, so the merge's join can look rows up.
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import Connection

from platform_assets.column_types import DOUBLE
from platform_assets.merge.names import STAGE_TABLE, quote_ident, quote_list
from platform_assets.merge.spec import MergeSpec, is_text_on_sqlite

COPY_CHUNK_ROWS = 500_000
SQLITE_CHUNK_ROWS = 50_000


def load_stage(connection: Connection, spec: MergeSpec, stage: str, table: pa.Table, postgres: bool) -> None:
    """Bulk-load ``table`` into the staging table ``stage`` (a qualified, quoted name)."""
    if postgres:
        _copy_postgres(connection, spec, stage, table)
        connection.exec_driver_sql(f"ANALYZE {stage}")
    else:
        _insert_sqlite(connection, spec, stage, table)
        index = f"temp.{quote_ident(STAGE_TABLE + '$key')}"
        connection.exec_driver_sql(
            f"CREATE UNIQUE INDEX {index} ON {quote_ident(STAGE_TABLE)} ({quote_list(spec.key)})"
        )


def csv_bytes(table: pa.Table) -> bytes:
    """``table`` as headerless CSV: strings always quoted, NULL as an empty unquoted field."""
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return buffer.getvalue()


def _copy_postgres(connection: Connection, spec: MergeSpec, stage: str, table: pa.Table) -> None:
    statement = f"COPY {stage} ({quote_list(spec.names)}) FROM STDIN WITH (FORMAT csv)"
    cursor = connection.connection.cursor()
    try:
        for offset in range(0, table.num_rows, COPY_CHUNK_ROWS):
            cursor.copy_expert(statement, io.BytesIO(csv_bytes(table.slice(offset, COPY_CHUNK_ROWS))))
    finally:
        cursor.close()


SQLITE_NAN = "NaN"
"""SQLite turns a bound NaN into NULL; NaN is stored as this text instead (REAL affinity keeps it as text)."""


def sqlite_values(spec: MergeSpec, table: pa.Table) -> list[list[object]]:
    """The columns of ``table`` as Python lists of what SQLite stores."""
    columns = []
    for name, column_type in spec.columns:
        column = table.column(name)
        if is_text_on_sqlite(column_type):
            column = pc.cast(column, pa.string())
        values = column.to_pylist()
        if column_type == DOUBLE and pc.any(pc.is_nan(column)).as_py():
            values = [SQLITE_NAN if value != value else value for value in values]
        columns.append(values)
    return columns


def _insert_sqlite(connection: Connection, spec: MergeSpec, stage: str, table: pa.Table) -> None:
    placeholders = ", ".join("?" for _ in spec.names)
    statement = f"INSERT INTO {stage} ({quote_list(spec.names)}) VALUES ({placeholders})"
    cursor = connection.connection.cursor()
    try:
        for offset in range(0, table.num_rows, SQLITE_CHUNK_ROWS):
            columns = sqlite_values(spec, table.slice(offset, SQLITE_CHUNK_ROWS))
            cursor.executemany(statement, list(zip(*columns)))
    finally:
        cursor.close()
