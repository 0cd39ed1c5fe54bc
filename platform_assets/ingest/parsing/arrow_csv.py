"""The Arrow parser's CSV reader: one file's text into typed rows and rejects.

Every field is read as text with pyarrow.csv (an unquoted empty field is
NULL, a quoted empty field is ''), then cast column-wise (``arrow_casting``).
Blank lines are skipped. With a header, the first non-blank line names the
columns, which must be exactly the declared ones (any order). Quoted values
may span lines. Line numbers (``_source_line`` of the rows, ``_line_number`` of
rejects) are physical, 1-based, counting the header line: a record's first
line. A row's line costs a count of line breaks in the usual case (one line
per record, no blank line); rejects' texts are worked out only for files that
have rejects.

The reader's block starts at 16 MiB (4 MiB on several threads) and doubles,
up to ``max_line_bytes`` (``platform.processing.max_line_bytes``), while a
record does not fit; a file whose record does not fit even then fails with
a message naming its line and the key.
"""

from __future__ import annotations

import bisect
import mmap
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from platform_assets.column_types import ColumnType
from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing.arrow_casting import cast_columns, rows_table, single_chunk
from platform_assets.ingest.parsing.drift import header_differences
from platform_assets.ingest.parsing.result import (
    FilePart,
    drift_error,
    no_header_error,
    record_too_long_error,
    rejects_table,
)
from platform_assets.ingest.parsing.text import (
    LINE_BREAK,
    NON_BREAK,
    Dialect,
    RecordTooLong,
    first_nonblank_line,
    header_names,
    read_growing,
    string_options,
)
from platform_assets.ingest.parsing.types import column_count_reason

BLOCK_BYTES = 1 << 24
THREADED_BLOCK_BYTES = 1 << 22


def parse_csv(
    key: str,
    data: bytes | mmap.mmap,
    source: SourceSettings,
    schema: dict[str, ColumnType],
    threads: bool,
    max_line_bytes: int,
) -> FilePart:
    layout = csv_layout(key, data, source, list(schema))
    if not isinstance(layout, CsvLayout):
        return layout
    return parse_csv_body(key, data, layout, Dialect.of(source), schema, threads, max_line_bytes)


@dataclass(frozen=True)
class CsvLayout:
    """Where a CSV text's body starts (byte offset, physical line) and which field holds each declared column."""

    positions: list[int]
    body_start: int
    first_body_line: int


def csv_layout(key: str, data: bytes | mmap.mmap, source: SourceSettings, declared: list[str]) -> CsvLayout | FilePart:
    """The layout of a file's text, or the (empty or failed) part the file gives when it has no body to read."""
    if not source.header:
        return CsvLayout(list(range(len(declared))), 0, 1)
    first = first_nonblank_line(data)
    if first is None:
        return FilePart()
    line_number, start, end, after = first
    names = header_names(data[start:end], Dialect.of(source))
    if not any(names):
        return FilePart(error=no_header_error(key))
    differences = header_differences(declared, names)
    if differences:
        return FilePart(error=drift_error(key, differences))
    return CsvLayout([names.index(name) for name in declared], after, line_number + 1)


def parse_csv_body(
    key: str,
    data: bytes | mmap.mmap,
    layout: CsvLayout,
    dialect: Dialect,
    schema: dict[str, ColumnType],
    threads: bool,
    max_line_bytes: int,
) -> FilePart:
    """The rows and rejects of the records of ``data`` from ``layout.body_start`` on; reject line numbers
    count from ``layout.first_body_line`` (a later piece of a file gives the line it starts on)."""
    body_start, first_body_line, positions = layout.body_start, layout.first_body_line, layout.positions
    if NON_BREAK.search(data, body_start) is None:
        return FilePart()
    width = len(schema)
    names = [f"c{index}" for index in range(width)]
    multiline = any(
        data.find(char.encode(), body_start) != -1 for char in (dialect.quote, dialect.escape) if char is not None
    )
    body = pa.py_buffer(data).slice(body_start)  # the body without copying the file
    # Threads only help one large file; they lose the line numbers of invalid rows,
    # so such a file is read again without.
    read_threads = threads and not multiline
    try:
        (table, invalid), block = read_growing(
            lambda size: _read_text_columns(body, names, dialect, multiline, read_threads, size),
            THREADED_BLOCK_BYTES if read_threads else BLOCK_BYTES,
            max_line_bytes,
        )
        if invalid and invalid[0][0] is None:
            (table, invalid), _ = read_growing(
                lambda size: _read_text_columns(body, names, dialect, multiline, False, size),
                max(block, BLOCK_BYTES),
                max_line_bytes,
            )
    except RecordTooLong:
        line, length = longest_record(data[body_start:], first_body_line, dialect)
        return FilePart(error=record_too_long_error(key, line, length, max_line_bytes))
    typed, reasons = _cast_blocks(schema, table.select(positions), threads)
    lines = _row_lines(data, body_start, first_body_line, dialect, table.num_rows, invalid)
    rows = rows_table(key, schema, typed, reasons, lines)
    if reasons is None and not invalid:
        return FilePart(rows=rows)
    rejects = _csv_rejects(key, data[body_start:], first_body_line, dialect, table.num_rows, invalid, reasons, width)
    return FilePart(rows=rows, rejects=rejects)


def _row_lines(
    data: bytes | mmap.mmap,
    body_start: int,
    first_line: int,
    dialect: Dialect,
    parsed_rows: int,
    invalid: list[tuple[Any, int, str]],
) -> pa.Array:
    """The first physical line of each parsed row (``_source_line``).

    When the body has as many lines as records (no blank line, no record over
    several lines: the usual case), record i is on line ``first_line + i``,
    found by counting line breaks; otherwise the records are split as
    :func:`physical_records` splits them. Records skipped for their column
    count (``invalid``) are left out. NULL lines if the split disagrees with
    the reader's record count (not expected).
    """
    total = parsed_rows + len(invalid)
    if _line_count(data, body_start) == total:
        starts = np.arange(first_line, first_line + total, dtype=np.int64)
    else:
        found = _record_starts(data[body_start:], first_line, dialect)
        if len(found) != total:
            return pa.nulls(parsed_rows, pa.int64())
        starts = found
    if invalid:
        starts = np.delete(starts, [number - 1 for number, _, _ in invalid])
    return pa.array(starts)


_COUNT_BYTES = 1 << 24


def _line_count(data: bytes | mmap.mmap, start: int) -> int:
    """Physical lines of ``data[start:]`` (line breaks CRLF, CR or LF; a final break starts no line).

    Counted with ``bytes.count`` on pieces (a memory map has no ``count``); a CRLF counts once, also
    across the seam of two pieces.
    """
    size = len(data)
    if size <= start:
        return 0
    has_cr = data.find(b"\r", start) != -1
    if isinstance(data, bytes):  # counts in place, no copy
        breaks = data.count(b"\n", start)
        if has_cr:
            breaks += data.count(b"\r", start) - data.count(b"\r\n", start)
        return breaks + (0 if data[size - 1 : size] in (b"\n", b"\r") else 1)
    breaks = 0
    for offset in range(start, size, _COUNT_BYTES):
        piece = data[offset : offset + _COUNT_BYTES]
        breaks += piece.count(b"\n")
        if has_cr:
            breaks += piece.count(b"\r") - piece.count(b"\r\n")
            if piece.endswith(b"\r") and data[offset + len(piece) : offset + len(piece) + 1] == b"\n":
                breaks -= 1  # the CR and the next piece's LF are one break
    return breaks + (0 if data[size - 1 : size] in (b"\n", b"\r") else 1)


def _record_starts(body: bytes, first_line: int, dialect: Dialect) -> np.ndarray:
    """The first physical line of every non-blank record of ``body`` (blank lines and multi-line records)."""
    chunks, plain = _chunks(body, dialect)
    breaks = np.zeros(len(chunks), np.int64)
    if not plain:
        breaks = np.fromiter(
            (len(LINE_BREAK.findall(raw)) if b"\n" in raw or b"\r" in raw else 0 for raw in chunks),
            np.int64,
            len(chunks),
        )
    before = np.concatenate(([0], np.cumsum(breaks)[:-1])) if len(chunks) else breaks
    starts = first_line + np.arange(len(chunks), dtype=np.int64) + before
    return starts[np.fromiter((bool(raw) for raw in chunks), bool, len(chunks))]


def _read_text_columns(
    body: pa.Buffer, names: list[str], dialect: Dialect, multiline: bool, threads: bool, block_bytes: int
) -> tuple[pa.Table, list[tuple[Any, int, str]]]:
    """Every field as text, and the rows with a wrong column count as (line number, columns, text)."""
    invalid: list[tuple[Any, int, str]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.actual_columns, row.text))
        return "skip"

    table = pacsv.read_csv(
        pa.BufferReader(body),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=threads, block_size=block_bytes),
        parse_options=dialect.parse_options(on_invalid, multiline),
        convert_options=string_options(names),
    )
    return table, invalid


def _cast_blocks(
    schema: dict[str, ColumnType], table: pa.Table, threads: bool
) -> tuple[list[pa.Array] | list[pa.ChunkedArray], pa.Array | pa.ChunkedArray | None]:
    """:func:`cast_columns` of ``table`` (text columns in declared order), block by block.

    With ``threads`` the blocks the reader produced are cast on parallel
    threads; the results keep the rows' order as chunked arrays.
    """
    blocks = table.to_batches() if threads else []
    if len(blocks) < 2:
        return cast_columns(schema, [single_chunk(column) for column in table.columns])
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(lambda block: cast_columns(schema, block.columns), blocks))
    typed = [pa.chunked_array([result[0][index] for result in results]) for index in range(len(schema))]
    if all(result[1] is None for result in results):
        return typed, None
    reasons = [
        result[1] if result[1] is not None else pa.nulls(len(block), pa.string())
        for result, block in zip(results, blocks)
    ]
    return typed, pa.chunked_array(reasons, pa.string())


def _csv_rejects(
    key: str,
    body: bytes,
    first_line: int,
    dialect: Dialect,
    parsed_rows: int,
    invalid: list[tuple[int, int, str]],
    reasons: pa.Array | None,
    width: int,
) -> pa.Table:
    bad_rows = pc.indices_nonzero(pc.is_valid(reasons)).to_pylist() if reasons is not None else []
    skipped = sorted(number - 1 for number, _, _ in invalid)
    wanted = [number - 1 for number, _, _ in invalid] + _record_indexes(bad_rows, skipped)
    records, count = physical_records(body, first_line, dialect, wanted)
    consistent = count == parsed_rows + len(invalid)
    found: list[tuple[int | None, str | None, str]] = []
    for number, actual, text in invalid:
        reason = column_count_reason(width, actual)
        line, raw = records[number - 1] if consistent else (None, text.encode("utf-8"))
        found.append((line, raw.decode("utf-8"), reason))
    if bad_rows and reasons is not None:
        texts = reasons.take(bad_rows).to_pylist()
        for index, reason in zip(wanted[len(invalid) :], texts):
            record = records[index] if consistent else None
            found.append((record[0], record[1].decode("utf-8"), reason) if record else (None, None, reason))
    found.sort(key=lambda item: (item[0] is None, item[0] or 0))
    return rejects_table(key, found)


def _record_indexes(rows: list[int], skipped: list[int]) -> list[int]:
    """Record index of each parsed row (ascending), given the ascending indexes of skipped records."""
    result, offset, position = [], 0, 0
    for row in rows:
        while position < len(skipped) and skipped[position] <= row + offset:
            offset += 1
            position += 1
        result.append(row + offset)
    return result


def physical_records(
    body: bytes, first_line: int, dialect: Dialect, wanted: list[int]
) -> tuple[dict[int, tuple[int, bytes]], int]:
    """The ``wanted`` non-blank records as {index: (first physical line, raw text)}, and their count.

    Records are split as pyarrow.csv splits them: lines break at CRLF, LF or
    CR, and a quoted value may span lines. Used only for files with rejects.
    """
    chunks, plain = _chunks(body, dialect)
    non_blank = [index for index, raw in enumerate(chunks) if raw]
    # chunk bytes + line-break bytes exceed the body only when a record holds a line break
    spans = not plain and sum(map(len, chunks)) + body.count(b"\n") + body.count(b"\r") > len(body)
    spanning = [index for index, raw in enumerate(chunks) if b"\n" in raw or b"\r" in raw] if spans else []
    extra_lines, total = [], 0
    for index in spanning:
        total += len(LINE_BREAK.findall(chunks[index]))
        extra_lines.append(total)
    records = {}
    for index in wanted:
        if index < len(non_blank):
            chunk = non_blank[index]
            before = bisect.bisect_left(spanning, chunk)
            records[index] = (first_line + chunk + (extra_lines[before - 1] if before else 0), chunks[chunk])
    return records, len(non_blank)


def longest_record(body: bytes, first_line: int, dialect: Dialect) -> tuple[int, int]:
    """(first physical line, length in bytes) of the longest record of ``body`` (the first of equals)."""
    chunks, _ = _chunks(body, dialect)
    non_blank = [raw for raw in chunks if raw]
    longest = max(range(len(non_blank)), key=lambda index: len(non_blank[index]))
    records, _ = physical_records(body, first_line, dialect, [longest])
    return records[longest][0], len(non_blank[longest])


def _chunks(body: bytes, dialect: Dialect) -> tuple[list[bytes], bool]:
    """The records of ``body`` as pyarrow.csv splits them (blank lines as empty records), and whether the
    body is plain (holds neither the quote nor the escape character: a record is a line)."""
    plain = dialect.quote.encode() not in body and (dialect.escape is None or dialect.escape.encode() not in body)
    return (LINE_BREAK.split(body) if plain else record_pattern(dialect).findall(body)), plain


def record_pattern(dialect: Dialect) -> re.Pattern[bytes]:
    """Matches one record and its line break (a blank line matches an empty record)."""
    return re.compile(rb"(" + record_source(dialect) + rb")(?:\r\n|\r|\n|\Z)", re.DOTALL)


def records_pattern(dialect: Dialect) -> re.Pattern[bytes]:
    """Matches as many whole records, each with its line break, as follow (one match: the loop runs in C)."""
    return re.compile(rb"(?:" + record_source(dialect) + rb"(?:\r\n|\r|\n))*+", re.DOTALL)


def record_source(dialect: Dialect) -> bytes:
    """The regular expression of one record without its line break, as pyarrow.csv splits records."""
    q, d = re.escape(dialect.quote.encode()), re.escape(dialect.delimiter.encode())
    if dialect.escape is None:
        inner = rb"[^" + q + rb"]*+(?:" + q + q + rb"[^" + q + rb"]*+)*+"
        rest = rb"[^" + d + rb"\r\n]*+"
        start = rb"[^" + d + q + rb"\r\n]"
    else:
        e = re.escape(dialect.escape.encode())
        inner = rb"[^" + q + e + rb"]*+(?:" + e + rb".[^" + q + e + rb"]*+)*+"
        rest = rb"[^" + d + e + rb"\r\n]*+(?:" + e + rb".[^" + d + e + rb"\r\n]*+)*+"
        start = rb"(?:[^" + d + q + e + rb"\r\n]|" + e + rb".)"
    field = rb"(?:" + q + inner + rb"(?:" + q + rest + rb"|\Z)|" + start + rest + rb"|)"
    return field + rb"(?:" + d + field + rb")*+"
