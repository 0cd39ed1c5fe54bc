"""Moving the rows of one primary SELECT into a table of the replica store.

Contract of :func:`copy_select`: every row the :class:`Select` returns lands in
``table`` (columns ``select.columns``) inside the caller's transaction on the
replica, values unchanged (NULL kept apart from ''), and the result says how
many rows moved and the keyset values of the last one. If the primary fails
midway, the error is raised (the caller rolls back: a partial copy is never
committed).

- Between two stores whose dialect has the COPY protocol (PostgreSQL to
  PostgreSQL): ``COPY (SELECT ...) TO STDOUT`` on the primary is
  piped, while it runs, into ``COPY ... FROM STDIN`` on the replica (a thread
  writes the pipe). Nothing is held in memory but the pipe's buffer and the
  last line, whose leading fields give the last key, as text. The format is
  binary (see :mod:`.binary`) when the SELECT has no keyset and both servers
  store text as UTF-8, else text, with the primary's session writing UTF-8,
  ISO dates and exact floats.
- Any other pair: the rows are fetched in batches. Between two SQLite stores
  they are written back as stored (``executemany``); between different
  backends they go through Arrow (the source dialect's ``arrow_column``, the
  target dialect's ``bulk_load``), so SQLite's canonical text for date,
  timestamp and decimal, its 'NaN' text and PostgreSQL's types map exactly as
  the merge maps them (see :mod:`platform_assets.merge.dialect`).

Keys are kept as the primary's text form where the primary's dialect has
``keyset_as_text`` (PostgreSQL: bound back with a CAST to the column's type)
and as the stored values otherwise (SQLite).

A seed between two PostgreSQL stores uses :func:`buffer_select` and
:func:`load_buffered` instead, through :class:`Prefetch`: a thread reads the
next chunk from the primary into memory while the replica loads the current
one (see :mod:`.seed`).
"""

from __future__ import annotations

import io
import os
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, BinaryIO, Generic, TypeVar

import pyarrow as pa
from sqlalchemy import Connection, text

from platform_assets.column_types import ColumnType
from platform_assets.merge.dialect import MergeDialect
from platform_assets.merge.names import quote_list
from platform_assets.replication import binary as copy_binary
from platform_assets.replication.primaries import Primary
from platform_assets.replication.queries import Select

FETCH_ROWS = 10_000
COPY_READ_SIZE = 1 << 20
PIPE_SIZE = 1 << 20
WRITE_BUFFER = 1 << 16
"""The producer flushes into the pipe every 64 KB, so the replica starts loading at once."""
BINARY = " (FORMAT binary)"
_TEXT_ESCAPES = {
    ord("b"): "\b",
    ord("f"): "\f",
    ord("n"): "\n",
    ord("r"): "\r",
    ord("t"): "\t",
    ord("v"): "\v",
    ord("\\"): "\\",
}


@dataclass(frozen=True)
class Copied:
    """Rows moved by one copy and the keyset values of the last row (None when no row moved)."""

    rows: int
    last_key: list[Any] | None


def copy_select(
    primary: Primary,
    select: Select,
    target: Connection,
    table: str,
    target_dialect: MergeDialect,
    types: dict[str, ColumnType],
) -> Copied:
    """Copy the rows of ``select`` into ``table`` (a quoted, possibly qualified name); see the module contract.

    ``target_dialect`` is the replica store's; ``types`` maps each replica column to its declared type (``int``
    for batch columns).
    """
    if primary.dialect.copy_protocol and target_dialect.copy_protocol:
        return _stream_copy(primary, select, target, table)
    return _fetch_and_load(primary, select, target, table, target_dialect, types)


# --- COPY protocol on both sides (PostgreSQL to PostgreSQL): COPY piped into COPY ---------------------


class _TailReader:
    """A file-like reader over the pipe that remembers the stream's last line."""

    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw
        self.tail = b""

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        if data:
            combined = self.tail + data
            cut = combined.rfind(b"\n", 0, len(combined) - 1)
            self.tail = combined[cut + 1 :]
        return data

    def readline(self, size: int = -1) -> bytes:  # pragma: no cover - psycopg2 only calls read()
        return self.read(size)

    def close(self) -> None:
        self.raw.close()


def _bound_sql(primary: Primary, cursor: Any, select: Select) -> str:
    """``select.sql`` with its parameters bound by the driver (COPY takes no server-side parameters)."""
    compiled = text(select.sql).bindparams(**select.params).compile(dialect=primary.engine.dialect)
    return cursor.mogrify(str(compiled), compiled.params).decode("utf-8")


def _open_pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe()
    try:
        import fcntl

        fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_SIZE)
    except (ImportError, OSError):
        pass
    return read_end, write_end


def _parameter(dbapi_connection: Any, name: str) -> str | None:
    """A parameter the server reported at connect (libpq ParameterStatus: no round trip), or None."""
    info = getattr(dbapi_connection, "info", None)
    value = info.parameter_status(name) if info is not None else None
    return None if value is None else str(value)


def server_encoding(cursor: Any) -> str:
    """The server encoding of a PostgreSQL session (DBAPI cursor): as reported at connect, else ``SHOW``."""
    reported = _parameter(cursor.connection, "server_encoding")
    if reported is not None:
        return reported
    cursor.execute("SHOW server_encoding")
    return str(cursor.fetchone()[0])


def binary_compatible(source_cursor: Any, target: Connection) -> bool:
    """True when COPY binary may move text between the two servers: both store it as UTF-8."""
    target_cursor = target.connection.cursor()
    try:
        return server_encoding(source_cursor) == "UTF8" == server_encoding(target_cursor)
    finally:
        target_cursor.close()


def use_utf8_client(target: Connection) -> None:
    """Make the replica session read COPY data as UTF-8 for this transaction (a no-op when it already does)."""
    if _parameter(target.connection.dbapi_connection, "client_encoding") != "UTF8":
        target.exec_driver_sql("SET LOCAL client_encoding TO 'UTF8'")


@contextmanager
def primary_session(primary: Primary) -> Iterator[Any]:
    """A raw DBAPI session on a PostgreSQL primary for the block (it carries :data:`.primaries.SESSION_SETTINGS`).

    Back to the pool when the block ends normally; discarded when it raises
    (or a generator holding it is closed early): a COPY may have been cut midway.
    """
    source = primary.engine.raw_connection()
    try:
        yield source
    except BaseException:
        source.invalidate()
        raise
    source.close()


def _stream_copy(primary: Primary, select: Select, target: Connection, table: str) -> Copied:
    """The piped COPY of :func:`copy_select` between two stores with the COPY protocol."""
    with primary_session(primary) as source:
        cursor = source.cursor()
        binary = not select.keyset and binary_compatible(cursor, target)
        option = BINARY if binary else ""
        copy_out = f"COPY ({_bound_sql(primary, cursor, select)}) TO STDOUT{option}"
        cursor.close()
        use_utf8_client(target)
        rows, tail = _pipe_copy(
            source, copy_out, target, f"COPY {table} ({quote_list(select.columns)}) FROM STDIN{option}"
        )
    if rows == 0:
        return Copied(0, None)
    return Copied(rows, parse_text_line(tail, len(select.keyset)) if select.keyset else None)


def _pipe_copy(source: Any, copy_out: str, target: Connection, copy_in: str) -> tuple[int, bytes]:
    """Run COPY TO STDOUT on ``source`` in a thread, feeding COPY FROM STDIN on ``target``; (rows, last line)."""
    read_end, write_end = _open_pipe()
    reader = _TailReader(os.fdopen(read_end, "rb", buffering=0))
    errors: list[BaseException] = []

    def produce() -> None:
        try:
            with os.fdopen(write_end, "wb", buffering=WRITE_BUFFER) as sink:
                out = source.cursor()
                try:
                    out.copy_expert(copy_out, sink)
                finally:
                    out.close()
        except BaseException as error:  # re-raised in the calling thread
            errors.append(error)

    thread = threading.Thread(target=produce, name="replica-copy-out", daemon=True)
    thread.start()
    try:
        cursor = target.connection.cursor()
        try:
            cursor.copy_expert(copy_in, reader, size=COPY_READ_SIZE)
            rows = int(cursor.rowcount)
        finally:
            cursor.close()
    finally:
        reader.close()
        thread.join()
    if errors:
        raise errors[0]
    return rows, reader.tail


# --- COPY protocol on both sides, a chunk at a time in memory (the seed) -----------------------------


@dataclass(frozen=True)
class Buffered:
    """The COPY data of one SELECT, held in memory: rows, the last row's keyset values (text), the format."""

    data: bytes
    rows: int
    last_key: list[str | None] | None
    binary: bool


class _Messages:
    """A COPY TO sink whose ``write`` is ``list.append``: no Python frame per row, one list item per message."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.write = self.messages.append


def buffer_select(primary: Primary, cursor: Any, select: Select, binary: bool) -> Buffered:
    """Run ``COPY (select) TO STDOUT`` on the primary (DBAPI ``cursor``) into memory; see :class:`Buffered`.

    The primary sends one CopyData message per row (and, in binary format, the
    file header with the first row and the trailer on its own), so the last
    row is the last message (the one before the trailer): its leading fields
    are the keyset values. ``binary`` needs every keyset type to be
    :func:`.binary.supported`; the text format needs
    :data:`.primaries.SESSION_SETTINGS` on the cursor's session (every primary session has them).
    """
    sink = _Messages()
    cursor.copy_expert(f"COPY ({_bound_sql(primary, cursor, select)}) TO STDOUT{BINARY if binary else ''}", sink)
    messages = sink.messages
    rows = len(messages)
    if binary:
        rows -= 1  # the trailer, alone or (no row) after the header
        if not messages or not (
            messages[-1] == copy_binary.TRAILER or (rows == 0 and messages[0].endswith(copy_binary.TRAILER))
        ):
            raise copy_binary.BinaryFormatError("a COPY binary stream without its trailer")
    if rows != cursor.rowcount:
        raise copy_binary.BinaryFormatError(
            f"COPY sent {cursor.rowcount} rows in {rows} messages: not one message per row"
        )
    last_key = None
    if rows > 0 and select.keyset:
        last = messages[-2] if binary else messages[-1]
        if binary:
            row = last[copy_binary.header_size(last) :] if rows == 1 else last
            last_key = copy_binary.key_texts(row, select.keyset_types)
        else:
            last_key = parse_text_line(last, len(select.keyset))
    return Buffered(b"".join(messages), rows, last_key, binary)


def load_buffered(target: Connection, table: str, columns: Sequence[str], buffered: Buffered) -> int:
    """``COPY table (columns) FROM STDIN`` of ``buffered`` in the caller's transaction; the rows loaded."""
    use_utf8_client(target)
    cursor = target.connection.cursor()
    try:
        statement = f"COPY {table} ({quote_list(columns)}) FROM STDIN{BINARY if buffered.binary else ''}"
        cursor.copy_expert(statement, io.BytesIO(buffered.data), size=COPY_READ_SIZE)
        return int(cursor.rowcount)
    finally:
        cursor.close()


T = TypeVar("T")
_DONE = object()


class Prefetch(Generic[T]):
    """Runs a generator in a thread, at most ``ahead`` items ahead of the consumer that iterates this object.

    Items come out in order; an exception in the thread is raised in the
    consumer at the point it happened; :meth:`close` (or leaving the ``with``
    block) stops the thread after the item it is producing and waits for it.
    The generator's own ``finally`` blocks run in the thread.
    """

    def __init__(self, produce: Callable[[], Iterator[T]], ahead: int = 1, name: str = "prefetch") -> None:
        self._produce = produce
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Prefetch[T]:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            items = self._produce()
            try:
                for item in items:
                    if not self._put((item, None)):
                        return
            finally:
                close = getattr(items, "close", None)
                if close is not None:
                    close()
            self._put((_DONE, None))
        except BaseException as error:  # handed to the consumer
            self._put((_DONE, error))

    def __iter__(self) -> Iterator[T]:
        while True:
            item, error = self._queue.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item

    def close(self) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                pass
        if self._thread.ident is not None:
            self._thread.join()


def parse_text_line(line: bytes, count: int) -> list[str | None]:
    """The first ``count`` fields of one line of COPY text format, unescaped (``\\N`` is None)."""
    fields = line.rstrip(b"\n").split(b"\t")[:count]
    return [None if field == b"\\N" else _unescape(field.decode("utf-8")) for field in fields]


def _unescape(field: str) -> str:
    if "\\" not in field:
        return field
    out: list[str] = []
    index = 0
    while index < len(field):
        char = field[index]
        if char != "\\" or index + 1 == len(field):
            out.append(char)
            index += 1
            continue
        following = field[index + 1]
        if ord(following) in _TEXT_ESCAPES:
            out.append(_TEXT_ESCAPES[ord(following)])
            index += 2
        elif following == "x" and index + 2 < len(field):
            digits = _take(field, index + 2, "0123456789abcdefABCDEF", 2)
            out.append(chr(int(digits, 16)) if digits else "x")
            index += 2 + len(digits)
        elif following in "01234567":
            digits = _take(field, index + 1, "01234567", 3)
            out.append(chr(int(digits, 8)))
            index += 1 + len(digits)
        else:
            out.append(following)
            index += 2
    return "".join(out)


def _take(field: str, start: int, allowed: str, most: int) -> str:
    end = start
    while end < len(field) and end - start < most and field[end] in allowed:
        end += 1
    return field[start:end]


# --- every other pair: fetch in batches, write in batches --------------------------------------------


def _fetch_and_load(
    primary: Primary,
    select: Select,
    target: Connection,
    table: str,
    target_dialect: MergeDialect,
    types: dict[str, ColumnType],
) -> Copied:
    rows = 0
    last: Sequence[Any] | None = None
    column_types = [types[name] for name in select.columns]
    with primary.engine.connect() as source:
        result = source.execution_options(stream_results=True).execute(text(select.sql), select.params)
        while batch := result.fetchmany(FETCH_ROWS):
            values = [tuple(row) for row in batch]
            _load(values, select.columns, column_types, primary.dialect, target, table, target_dialect)
            rows += len(values)
            last = values[-1]
    if last is None or not select.keyset:
        return Copied(rows, None)
    key = list(last[: len(select.keyset)])
    return Copied(rows, [key_text(value) for value in key] if primary.dialect.keyset_as_text else key)


def _load(
    rows: list[tuple[Any, ...]],
    columns: Sequence[str],
    column_types: list[ColumnType],
    source_dialect: MergeDialect,
    target: Connection,
    table: str,
    target_dialect: MergeDialect,
) -> None:
    """Write fetched rows: as stored between two stores of one dialect, else through Arrow (module contract)."""
    if source_dialect is target_dialect:
        _insert_as_stored(target, table, columns, rows)
        return
    arrow = to_arrow(rows, columns, column_types, source_dialect)
    target_dialect.bulk_load(target, table, columns, arrow, column_types)


def _insert_as_stored(target: Connection, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """``executemany`` of the rows as the source returned them (two SQLite stores: the pair without COPY)."""
    placeholders = ", ".join("?" for _ in columns)
    cursor = target.connection.cursor()
    try:
        cursor.executemany(f"INSERT INTO {table} ({quote_list(columns)}) VALUES ({placeholders})", rows)
    finally:
        cursor.close()


def to_arrow(
    rows: list[tuple[Any, ...]], columns: Sequence[str], column_types: list[ColumnType], source_dialect: MergeDialect
) -> pa.Table:
    """Rows, as the source store returned them, as an Arrow table of the declared types."""
    arrays = [
        source_dialect.arrow_column([row[index] for row in rows], column_type)
        for index, column_type in enumerate(column_types)
    ]
    return pa.Table.from_arrays(arrays, names=list(columns))


def key_text(value: Any) -> str:
    """A PostgreSQL key value as text that ``CAST(... AS its type)`` reads back exactly."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    return str(value)
