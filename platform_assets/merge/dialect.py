"""How each merge-store backend spells what the merge and replication need: one dialect object per store.

Contract: :func:`dialect_for` picks the dialect of a URL once (``MergeStore``
keeps it as ``store.dialect``, a replica's ``Primary`` as ``primary.dialect``);
code below it asks the dialect rather than the URL, and chooses on the
dialect's capabilities (the one exception: a primary's read-only engine takes
driver options, chosen by ``dialect is POSTGRESQL``). A dialect holds

- capabilities, as class attributes that say what the backend can do (the
  choice between two strategies is made on them): :attr:`~MergeDialect.distinct_from`,
  :attr:`~MergeDialect.partitioned_forensic`, :attr:`~MergeDialect.full_join_classify`,
  :attr:`~MergeDialect.copy_protocol`, :attr:`~MergeDialect.keyset_as_text`,
  :attr:`~MergeDialect.planner_statistics`, :attr:`~MergeDialect.advisory_locks`,
  :attr:`~MergeDialect.writable_ctes`, :attr:`~MergeDialect.builds_indexes_after_load`,
  :attr:`~MergeDialect.alters_column_types`;
- operations whose SQL differs (types, locks, DDL, schema changes, work
  tables, bulk load, planner statistics and memory); an operation the backend
  does not need is a no-op there, and its docstring says so.

Column types: :meth:`~MergeDialect.column_type` spells the table in
:mod:`platform_assets.merge.spec` (PostgreSQL's types; SQLite's canonical
text for date, timestamp and decimal); :meth:`~MergeDialect.declared_type` reads a
stored type back. SQLite stores a NaN double as the text
'NaN' (it would store a bound NaN as NULL); :meth:`SQLiteDialect.arrow_column`
reads it back as NaN.

The merge store's own timestamps (batch log) are ``timestamp with time zone``
on PostgreSQL and ISO 8601 text with an explicit ``+00:00`` on SQLite; both
read back through :func:`platform_assets.merge.timestamps.from_db`.
"""

from __future__ import annotations

import hashlib
import io
import re
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import Connection, Engine, text

from platform_assets.column_types import BIGINT, BOOLEAN, DATE, DOUBLE, INT, SIMPLE_TYPES, STRING, TIMESTAMP, ColumnType
from platform_assets.merge.errors import MergeError
from platform_assets.merge.names import quote_ident, quote_list
from platform_assets.merge.spec import arrow_type
from platform_assets.merge.timestamps import as_utc
from platform_assets.storage.sql import is_postgres

MIN_SQLITE_VERSION = (3, 39, 0)  # FULL OUTER JOIN (3.39), UPDATE ... FROM (3.33)
COPY_CHUNK_ROWS = 500_000
SQLITE_CHUNK_ROWS = 50_000
SQLITE_NAN = "NaN"
"""SQLite turns a bound NaN into NULL; NaN is stored as this text instead (REAL affinity keeps it as text)."""
DDL_LOCK = 7_341_926_001
"""PostgreSQL advisory lock id serializing merge-store DDL."""
PRODUCT_LOCK_CLASS = 7_341_926_002 % 2**31
"""PostgreSQL advisory lock class (pg_locks.classid): one merge-store writer per product."""

_POSTGRESQL_TYPES = {
    STRING: "text",
    INT: "integer",
    BIGINT: "bigint",
    DOUBLE: "double precision",
    BOOLEAN: "boolean",
    DATE: "date",
    TIMESTAMP: "timestamp with time zone",
}
_SQLITE_TYPES = {
    STRING: "TEXT",
    INT: "INTEGER",
    BIGINT: "BIGINT",
    DOUBLE: "REAL",
    BOOLEAN: "BOOLEAN",
    DATE: "DATE_TEXT",
    TIMESTAMP: "TIMESTAMP_TEXT",
}


class MergeDialect(ABC):
    """One backend of the merge store (see the module contract)."""

    name: ClassVar[str]
    distinct_from: ClassVar[str]
    """The NULL-safe "differs" operator (NULL and '' differ, two NULLs do not)."""
    integer_type: ClassVar[str]
    """The batch columns' type, as the catalog reports it."""
    timestamp_type: ClassVar[str]
    """The type of the batch log's timestamps."""
    partitioned_forensic: ClassVar[bool]
    """A forensic merge table is partitioned into its live rows and its closed rows (see ``merge.tables``)."""
    full_join_classify: ClassVar[bool]
    """A snapshot's changes are classified in ONE FULL JOIN of the batch with the live rows (a hash join)."""
    copy_protocol: ClassVar[bool]
    """COPY ... TO STDOUT / FROM STDIN: two such stores stream rows from one to the other."""
    keyset_as_text: ClassVar[bool]
    """A keyset's values travel as text and are bound back with ``CAST(:k AS type)``."""
    planner_statistics: ClassVar[bool]
    """The planner keeps statistics (ANALYZE) and takes per-transaction settings."""
    advisory_locks: ClassVar[bool]
    """Session-level advisory locks exist (otherwise a lock file stands in)."""
    writable_ctes: ClassVar[bool]
    """One statement may UPDATE, INSERT and DELETE through data-modifying WITH clauses."""
    builds_indexes_after_load: ClassVar[bool]
    """A table can be bulk-loaded without its primary key and indexes, built and renamed afterwards."""
    alters_column_types: ClassVar[bool]
    """``ALTER TABLE ... ALTER COLUMN ... TYPE`` exists (otherwise :meth:`widen_columns` rebuilds the table)."""
    stored_decimal: ClassVar[re.Pattern[str]]
    """A decimal column's type as the catalog reports it, normalized (no spaces, lower case): precision, scale."""

    @abstractmethod
    def column_type(self, declared: ColumnType) -> str:
        """The store's type for a declared column type (the table in :mod:`platform_assets.merge.spec`)."""

    def declared_type(self, stored: str) -> ColumnType | None:
        """The declared type whose column this backend reports as ``stored`` (case and spaces ignored); else None."""
        normalized = _normalized_type(stored)
        for declared in SIMPLE_TYPES:
            if _normalized_type(self.column_type(declared)) == normalized:
                return declared
        match = self.stored_decimal.match(normalized)
        if match is None:
            return None
        try:
            return ColumnType.decimal(int(match.group(1)), int(match.group(2)))
        except ValueError:
            return None

    @abstractmethod
    def to_db(self, value: datetime) -> datetime | str:
        """A bind value for an aware timestamp; ValueError if it is naive."""

    @abstractmethod
    def lock_ddl(self, connection: Connection) -> None:
        """Serialize merge-store DDL until the transaction ends (no-op where every transaction is exclusive)."""

    @abstractmethod
    def lock_product(self, connection: Connection, product: str) -> None:
        """Serialize merge-store writers of one product until the transaction ends (readers are not blocked)."""

    @abstractmethod
    def missing_tables(self, connection: Connection, names: Sequence[str]) -> list[str]:
        """Those of ``names`` (tables of the default schema / main database) that do not exist; one query."""

    @abstractmethod
    def existing_columns(self, connection: Connection, table: str) -> list[tuple[str, str]]:
        """(name, type) of an existing table's columns in order; empty if it does not exist."""

    @abstractmethod
    def create_if_missing(self, connection: Connection, name: str, statement: str) -> None:
        """Run ``statement`` (a ``CREATE ... IF NOT EXISTS`` of table or index ``name``) unless ``name`` exists."""

    @abstractmethod
    def create_view(self, connection: Connection, name: str, query: str) -> None:
        """Create view ``name`` as ``query`` unless it exists."""

    @abstractmethod
    def view_exists(self, connection: Connection, name: str) -> bool:
        """True when view ``name`` exists."""

    @abstractmethod
    def add_columns(self, connection: Connection, table: str, definitions: Sequence[str]) -> None:
        """``ALTER TABLE table ADD COLUMN`` each of ``definitions`` (``"name" type``): NULL in every row."""

    @abstractmethod
    def widen_columns(self, connection: Connection, table: str, types: dict[str, str], definition: str) -> None:
        """Give the columns of ``types`` (name -> store type) their wider types, keeping every stored value.

        ``definition`` is the table's whole column list after the change (what
        ``CREATE TABLE table (...)`` would take), for a backend that must
        rebuild the table (no :attr:`alters_column_types`). Indexes stay.
        Inside the caller's transaction; no view may depend on the table.
        """

    @abstractmethod
    def work_table(self, name: str) -> str:
        """A session-private work table's name, schema-qualified and quoted."""

    @abstractmethod
    def create_work_table(self, connection: Connection, name: str, definition: str, *, reuse: bool = False) -> str:
        """An empty temporary table ``name`` with the column ``definition``; returns its qualified name.

        See :func:`platform_assets.merge.tables.create_work_table` for ``reuse``.
        """

    @abstractmethod
    def drop_work_tables(self, connection: Connection, names: Sequence[str]) -> None:
        """Drop the work tables ``names`` (no-op where they are dropped at commit)."""

    @abstractmethod
    def index_work_table(self, connection: Connection, name: str, columns: Sequence[str], *, unique: bool) -> None:
        """Index work table ``name`` on ``columns`` for the joins that look its rows up.

        No-op where those joins hash the work table instead (after :meth:`analyze`).
        """

    @abstractmethod
    def bulk_load(
        self, connection: Connection, table: str, columns: Sequence[str], rows: pa.Table, types: Sequence[ColumnType]
    ) -> None:
        """Put every row of ``rows`` (Arrow, of the declared ``types``) into ``table`` (qualified, quoted).

        Values unchanged, NULL kept apart from ''; inside the caller's transaction.
        """

    @abstractmethod
    def arrow_column(self, values: list[Any], declared: ColumnType) -> pa.Array:
        """``values`` of one column, as this backend returns them, as an Arrow array of the declared type."""

    @abstractmethod
    def analyze(self, connection: Connection, table: str) -> None:
        """Refresh the planner's statistics of ``table`` (qualified, quoted); no-op without planner statistics."""

    @abstractmethod
    def set_memory(self, connection: Connection, setting: str, amount: str) -> None:
        """Set a memory ``setting`` (``work_mem``, ``maintenance_work_mem``) for the transaction; no-op without."""

    @abstractmethod
    def set_fillfactor(self, connection: Connection, table: str, percent: int) -> None:
        """Leave ``100 - percent`` of each page of ``table`` free for in-place updates; no-op where pages do not."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SQLiteDialect(MergeDialect):
    """The embedded default: every transaction is BEGIN IMMEDIATE (see ``catalog.db``), so writers are serialized."""

    name = "sqlite"
    distinct_from = "IS NOT"
    integer_type = "INTEGER"
    timestamp_type = "TEXT"
    partitioned_forensic = False
    full_join_classify = False
    copy_protocol = False
    keyset_as_text = False
    planner_statistics = False
    advisory_locks = False
    writable_ctes = False
    builds_indexes_after_load = False
    alters_column_types = False
    stored_decimal = re.compile(r"^decimal_text\((\d+),(\d+)\)$")

    def column_type(self, declared: ColumnType) -> str:
        if declared.is_decimal:
            return f"DECIMAL_TEXT({declared.precision},{declared.scale})"
        return _SQLITE_TYPES[declared]

    def to_db(self, value: datetime) -> str:
        return as_utc(value).isoformat(timespec="microseconds")

    def lock_ddl(self, connection: Connection) -> None:
        """No-op: the transaction holds SQLite's write lock already."""

    def lock_product(self, connection: Connection, product: str) -> None:
        """No-op: the transaction holds SQLite's write lock already."""

    def missing_tables(self, connection: Connection, names: Sequence[str]) -> list[str]:
        existing = set(connection.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars())
        return [name for name in names if name not in existing]

    def existing_columns(self, connection: Connection, table: str) -> list[tuple[str, str]]:
        rows = connection.execute(text("SELECT name, type FROM pragma_table_info(:name)"), {"name": table}).all()
        return [(str(name), str(column_type)) for name, column_type in rows]

    def create_if_missing(self, connection: Connection, name: str, statement: str) -> None:
        connection.exec_driver_sql(statement)

    def create_view(self, connection: Connection, name: str, query: str) -> None:
        connection.exec_driver_sql(f"CREATE VIEW IF NOT EXISTS {quote_ident(name)} AS {query}")

    def view_exists(self, connection: Connection, name: str) -> bool:
        found = connection.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'view' AND name = :name"), {"name": name}
        )
        return found.first() is not None

    def add_columns(self, connection: Connection, table: str, definitions: Sequence[str]) -> None:
        """One ``ALTER TABLE ... ADD COLUMN`` per column (SQLite takes one per statement)."""
        for definition in definitions:
            connection.exec_driver_sql(f"ALTER TABLE {quote_ident(table)} ADD COLUMN {definition}")

    def widen_columns(self, connection: Connection, table: str, types: dict[str, str], definition: str) -> None:
        """SQLite has no ALTER COLUMN TYPE: the table is rebuilt, SQLite's documented way to other schema changes.

        A new table of ``definition`` receives every row (``INSERT ... SELECT``
        of every column: the stored values themselves, so canonical text such as
        a decimal's ``'12.30'`` stays exactly that text; the widenings keep the
        column's affinity, INTEGER for int and bigint, TEXT for DECIMAL_TEXT),
        the old table is dropped, the new one takes its name, and the old
        table's indexes are created again from their stored SQL. It costs a
        copy of the table, once per widening.
        """
        quoted = quote_ident(table)
        work = quote_ident(f"{table}$widen")
        indexes = connection.execute(
            text("SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = :name AND sql IS NOT NULL"),
            {"name": table},
        ).scalars()
        index_statements = [str(statement) for statement in indexes]
        columns = quote_list([name for name, _ in self.existing_columns(connection, table)])
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {work}")
        connection.exec_driver_sql(f"CREATE TABLE {work} ({definition})")
        connection.exec_driver_sql(f"INSERT INTO {work} ({columns}) SELECT {columns} FROM {quoted}")
        connection.exec_driver_sql(f"DROP TABLE {quoted}")
        connection.exec_driver_sql(f"ALTER TABLE {work} RENAME TO {quoted}")
        for statement in index_statements:
            connection.exec_driver_sql(statement)

    def work_table(self, name: str) -> str:
        return f"temp.{quote_ident(name)}"

    def create_work_table(self, connection: Connection, name: str, definition: str, *, reuse: bool = False) -> str:
        """SQLite keeps temporary tables per connection: an earlier one of the same name is dropped first."""
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.work_table(name)}")
        connection.exec_driver_sql(f"CREATE TEMP TABLE {quote_ident(name)} ({definition})")
        return self.work_table(name)

    def drop_work_tables(self, connection: Connection, names: Sequence[str]) -> None:
        for name in names:
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {self.work_table(name)}")

    def index_work_table(self, connection: Connection, name: str, columns: Sequence[str], *, unique: bool) -> None:
        index = f"temp.{quote_ident(name + '$key')}"
        kind = "UNIQUE INDEX" if unique else "INDEX"
        connection.exec_driver_sql(f"CREATE {kind} {index} ON {quote_ident(name)} ({quote_list(columns)})")

    def bulk_load(
        self, connection: Connection, table: str, columns: Sequence[str], rows: pa.Table, types: Sequence[ColumnType]
    ) -> None:
        """``executemany`` of the rows as SQLite stores them (see the module contract)."""
        placeholders = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {table} ({quote_list(columns)}) VALUES ({placeholders})"
        cursor = connection.connection.cursor()
        try:
            for offset in range(0, rows.num_rows, SQLITE_CHUNK_ROWS):
                stored = self.stored_columns(rows.slice(offset, SQLITE_CHUNK_ROWS), types)
                cursor.executemany(statement, list(zip(*stored)))
        finally:
            cursor.close()

    def stored_columns(self, rows: pa.Table, types: Sequence[ColumnType]) -> list[list[Any]]:
        """The columns of ``rows`` as Python lists of what SQLite stores (canonical text, 'NaN')."""
        columns = []
        for index, declared in enumerate(types):
            column = rows.column(index)
            if self.stores_as_text(declared):
                column = pc.cast(column, pa.string())
            values = column.to_pylist()
            if declared == DOUBLE and pc.any(pc.is_nan(column)).as_py():
                values = [SQLITE_NAN if value != value else value for value in values]
            columns.append(values)
        return columns

    def arrow_column(self, values: list[Any], declared: ColumnType) -> pa.Array:
        """Canonical text and 'NaN' text parsed, 0/1 booleans cast."""
        wanted = arrow_type(declared)
        if self.stores_as_text(declared):
            return pc.cast(pa.array(values, pa.string()), wanted)
        if declared == BOOLEAN:
            return pc.cast(pa.array(values, pa.int64()), wanted)
        if declared == DOUBLE:
            return pa.array([float(value) if isinstance(value, str) else value for value in values], wanted)
        return pa.array(values, wanted)

    @staticmethod
    def stores_as_text(declared: ColumnType) -> bool:
        """True where SQLite stores the declared type as canonical text (date, timestamp, decimal)."""
        return declared in (DATE, TIMESTAMP) or declared.is_decimal

    def analyze(self, connection: Connection, table: str) -> None:
        """No-op: the merge's joins look rows up through indexes (see :meth:`index_work_table`)."""

    def set_memory(self, connection: Connection, setting: str, amount: str) -> None:
        """No-op."""

    def set_fillfactor(self, connection: Connection, table: str, percent: int) -> None:
        """No-op."""


class PostgreSQLDialect(MergeDialect):
    """A PostgreSQL merge store, through psycopg2."""

    name = "postgresql"
    distinct_from = "IS DISTINCT FROM"
    integer_type = "integer"
    timestamp_type = "timestamp with time zone"
    partitioned_forensic = True
    full_join_classify = True
    copy_protocol = True
    keyset_as_text = True
    planner_statistics = True
    advisory_locks = True
    writable_ctes = True
    builds_indexes_after_load = True
    alters_column_types = True
    stored_decimal = re.compile(r"^numeric\((\d+),(\d+)\)$")

    def column_type(self, declared: ColumnType) -> str:
        if declared.is_decimal:
            return f"numeric({declared.precision},{declared.scale})"
        return _POSTGRESQL_TYPES[declared]

    def to_db(self, value: datetime) -> datetime:
        return as_utc(value)

    def lock_ddl(self, connection: Connection) -> None:
        connection.execute(text("SELECT pg_advisory_xact_lock(:lock)"), {"lock": DDL_LOCK})

    def lock_product(self, connection: Connection, product: str) -> None:
        """A transaction-scoped advisory lock per product."""
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:lock_class, hashtext(:product))"),
            {"lock_class": PRODUCT_LOCK_CLASS, "product": product},
        )

    def missing_tables(self, connection: Connection, names: Sequence[str]) -> list[str]:
        checks = ", ".join(f"to_regclass(:t{index}) IS NOT NULL" for index in range(len(names)))
        found = connection.execute(
            text(f"SELECT {checks}"), {f"t{index}": quote_ident(name) for index, name in enumerate(names)}
        ).one()
        return [name for name, exists in zip(names, found) if not exists]

    def existing_columns(self, connection: Connection, table: str) -> list[tuple[str, str]]:
        rows = connection.execute(
            text(
                "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass(:name) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
            ),
            {"name": quote_ident(table)},
        ).all()
        return [(str(name), str(column_type)) for name, column_type in rows]

    def create_if_missing(self, connection: Connection, name: str, statement: str) -> None:
        """``CREATE INDEX IF NOT EXISTS`` still takes a SHARE lock on its table before it notices the index
        exists, which can deadlock with a merge in flight; looking the name up first (under the DDL lock) keeps
        ``ensure_product_tables`` lock-free once the tables exist."""
        if not self._exists(connection, name):
            connection.exec_driver_sql(statement)

    def create_view(self, connection: Connection, name: str, query: str) -> None:
        if not self._exists(connection, name):
            connection.exec_driver_sql(f"CREATE VIEW {quote_ident(name)} AS {query}")

    def view_exists(self, connection: Connection, name: str) -> bool:
        return (
            connection.execute(
                text("SELECT 1 FROM pg_class WHERE oid = to_regclass(:name) AND relkind = 'v'"),
                {"name": quote_ident(name)},
            ).first()
            is not None
        )

    def add_columns(self, connection: Connection, table: str, definitions: Sequence[str]) -> None:
        """One ALTER TABLE for every column (on a partitioned table, its partitions get them too)."""
        if definitions:
            actions = ", ".join(f"ADD COLUMN {definition}" for definition in definitions)
            connection.exec_driver_sql(f"ALTER TABLE {quote_ident(table)} {actions}")

    def widen_columns(self, connection: Connection, table: str, types: dict[str, str], definition: str) -> None:
        """One ``ALTER TABLE ... ALTER COLUMN ... TYPE`` for every column: at most one rewrite of the table.

        On a partitioned table the partitions follow; indexes on the columns are
        rebuilt. A wider numeric of the same scale needs no rewrite at all.
        """
        if types:
            actions = ", ".join(f"ALTER COLUMN {quote_ident(name)} TYPE {kind}" for name, kind in types.items())
            connection.exec_driver_sql(f"ALTER TABLE {quote_ident(table)} {actions}")

    @staticmethod
    def _exists(connection: Connection, name: str) -> bool:
        return connection.execute(text("SELECT to_regclass(:name)"), {"name": quote_ident(name)}).scalar() is not None

    def work_table(self, name: str) -> str:
        return f"pg_temp.{quote_ident(name)}"

    def create_work_table(self, connection: Connection, name: str, definition: str, *, reuse: bool = False) -> str:
        """Dropped at commit; with ``reuse``, kept by the session under a name that hashes its columns."""
        if reuse:
            name = f"{name}_{hashlib.sha1(definition.encode()).hexdigest()[:12]}"
            connection.exec_driver_sql(
                f"CREATE TEMP TABLE IF NOT EXISTS {quote_ident(name)} ({definition}) ON COMMIT DELETE ROWS"
            )
        else:
            connection.exec_driver_sql(f"CREATE TEMP TABLE {quote_ident(name)} ({definition}) ON COMMIT DROP")
        return self.work_table(name)

    def drop_work_tables(self, connection: Connection, names: Sequence[str]) -> None:
        """No-op: work tables go at commit (dropped, or emptied when reused)."""

    def index_work_table(self, connection: Connection, name: str, columns: Sequence[str], *, unique: bool) -> None:
        """No-op: the joins hash the work table (after :meth:`analyze`) or are steered by planner settings."""

    def bulk_load(
        self, connection: Connection, table: str, columns: Sequence[str], rows: pa.Table, types: Sequence[ColumnType]
    ) -> None:
        """``COPY ... FROM STDIN (FORMAT csv)`` from in-memory CSV written by Arrow (see :func:`csv_bytes`)."""
        statement = f"COPY {table} ({quote_list(columns)}) FROM STDIN WITH (FORMAT csv)"
        cursor = connection.connection.cursor()
        try:
            for offset in range(0, rows.num_rows, COPY_CHUNK_ROWS):
                cursor.copy_expert(statement, io.BytesIO(csv_bytes(rows.slice(offset, COPY_CHUNK_ROWS))))
        finally:
            cursor.close()

    def arrow_column(self, values: list[Any], declared: ColumnType) -> pa.Array:
        return pa.array(values, arrow_type(declared))

    def analyze(self, connection: Connection, table: str) -> None:
        connection.exec_driver_sql(f"ANALYZE {table}")

    def set_memory(self, connection: Connection, setting: str, amount: str) -> None:
        """``SET LOCAL setting = amount``, through ``set_config`` (which takes bound parameters)."""
        connection.execute(text("SELECT set_config(:setting, :amount, true)"), {"setting": setting, "amount": amount})

    def set_fillfactor(self, connection: Connection, table: str, percent: int) -> None:
        connection.exec_driver_sql(f"ALTER TABLE {quote_ident(table)} SET (fillfactor = {int(percent):d})")


def _normalized_type(stored: str) -> str:
    return stored.replace(" ", "").lower()


def csv_bytes(table: pa.Table) -> bytes:
    """``table`` as headerless CSV: strings always quoted, NULL as an empty unquoted field.

    Arrow quotes every string and writes NULL as an empty unquoted field, which
    is exactly how PostgreSQL's CSV format tells NULL from ''.
    """
    buffer = io.BytesIO()
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return buffer.getvalue()


SQLITE = SQLiteDialect()
POSTGRESQL = PostgreSQLDialect()


def dialect_for(url_or_engine: str | Engine) -> MergeDialect:
    """The dialect of a merge-store URL (or engine); MergeError when SQLite is too old for the merge."""
    if is_postgres(url_or_engine):
        return POSTGRESQL
    _check_sqlite_version()
    return SQLITE


def _check_sqlite_version() -> None:
    if sqlite3.sqlite_version_info < MIN_SQLITE_VERSION:
        needed = ".".join(map(str, MIN_SQLITE_VERSION))
        raise MergeError(
            f"the SQLite merge store needs SQLite >= {needed} (FULL JOIN, UPDATE ... FROM); "
            f"this Python links SQLite {sqlite3.sqlite_version}: use a newer Python build or a PostgreSQL merge store"
        )
