"""The Arrow parser on files larger than memory: one file as a sequence of pieces, each parsed on its own.

Contract (:func:`stream_file`): the parts it yields, concatenated, hold the
rows and rejects :func:`platform_assets.ingest.parsing.arrow_parser.parse_file`
gives for the whole file, with the same line numbers; at most one part holds a
file error, and it is the last (the consumer drops what the file gave before).

- CSV and JSON lines are cut after a record's line break (a quoted CSV value
  that spans lines stays in one piece; CRLF is never split), pieces of about
  ``budget.piece_bytes`` (longer when a record needs it, up to
  ``max_line_bytes`` for CSV). Each piece is decoded and parsed with the
  in-memory readers, its line numbers counted on from the piece before; the
  header belongs to the first piece that has a non-blank line.
- Parquet is read in record batches of about ``budget.piece_bytes``
  uncompressed (row groups are the reader's unit: a huge row group is read
  whole).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from platform_assets.column_types import ColumnType
from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing.arrow_casting import rows_table
from platform_assets.ingest.parsing.arrow_csv import CsvLayout, csv_layout, parse_csv_body, records_pattern
from platform_assets.ingest.parsing.arrow_json import parse_json
from platform_assets.ingest.parsing.arrow_parquet import cast_parquet
from platform_assets.ingest.parsing.budget import MemoryBudget
from platform_assets.ingest.parsing.drift import parquet_differences
from platform_assets.ingest.parsing.result import (
    FilePart,
    InputFile,
    drift_error,
    encoding_error,
    parse_error,
    read_error,
    record_too_long_error,
)
from platform_assets.ingest.parsing.text import DecodeFailure, Dialect, to_utf8

_Cut = Callable[[bytes], int | None]


def stream_file(
    item: InputFile,
    source: SourceSettings,
    schema: dict[str, ColumnType],
    budget: MemoryBudget,
    max_line_bytes: int,
    threads: bool = True,
) -> Iterator[FilePart]:
    """The parts of one file, piece by piece (see the module docstring); never raises for bad content."""
    try:
        if source.format == "parquet":
            yield from _parquet_parts(item, schema, budget)
        else:
            with open(item.path, "rb") as handle:
                yield from _text_parts(item.key, handle, source, schema, budget, max_line_bytes, threads)
    except OSError as error:
        yield FilePart(error=read_error(item.key, error.strerror or str(error)))


def _text_parts(
    key: str,
    handle: BinaryIO,
    source: SourceSettings,
    schema: dict[str, ColumnType],
    budget: MemoryBudget,
    max_line_bytes: int,
    threads: bool,
) -> Iterator[FilePart]:
    dialect = Dialect.of(source)
    csv = source.format == "csv"
    cut = _csv_cut(dialect) if csv else _last_break_end
    layout: CsvLayout | None = None
    line, offset = 1, 0
    limit = max_line_bytes if csv else None
    for piece in _pieces(handle, budget.piece_bytes(source.format), cut, limit):
        if isinstance(piece, int):  # no record end within max_line_bytes
            yield FilePart(error=record_too_long_error(key, line, piece, max_line_bytes, at_least=True))
            return
        text, failure = to_utf8(piece, source.encoding, strip_bom=offset == 0)
        if failure is not None:
            yield FilePart(error=encoding_error(key, source.encoding, _shifted(failure, line, offset)))
            return
        assert text is not None
        if not csv:
            part = parse_json(key, text, schema, first_line=line)
        elif layout is None:
            found = csv_layout(key, text, source, list(schema))
            if isinstance(found, FilePart) and found.error is not None:
                yield found
                return
            if isinstance(found, CsvLayout):
                layout = CsvLayout(found.positions, found.body_start, found.first_body_line + line - 1)
                part = parse_csv_body(key, text, layout, dialect, schema, threads, max_line_bytes)
            else:
                part = FilePart()  # blank lines only, so far: the header is further on
        else:
            here = CsvLayout(layout.positions, 0, line)
            part = parse_csv_body(key, text, here, dialect, schema, threads, max_line_bytes)
        line += line_breaks(piece)
        offset += len(piece)
        part.consumed = offset
        del piece, text
        yield part
        if part.error is not None:
            return


def _shifted(failure: DecodeFailure, line: int, offset: int) -> DecodeFailure:
    """A piece's decoding failure as a place in the whole file."""
    return DecodeFailure(failure.line + line - 1, failure.offset + offset, failure.byte)


def line_breaks(data: bytes) -> int:
    """How many line breaks (CRLF, CR, LF) ``data`` holds (one pass when it holds no CR)."""
    newlines = data.count(b"\n")
    if data.find(b"\r") == -1:
        return newlines
    return newlines + data.count(b"\r") - data.count(b"\r\n")


def _pieces(handle: BinaryIO, piece_bytes: int, cut: _Cut, limit: int | None) -> Iterator[bytes | int]:
    """The file in pieces of about ``piece_bytes``, each ending where ``cut`` says (the last: at the end).

    Each piece is read once and copied once: the bytes after its cut are read
    again with the next piece (a seek back), and a piece without a cut is read
    again twice as long. Yields an int (the bytes read in vain) instead when no
    cut is found within ``limit`` bytes, and stops.
    """
    start, size = handle.tell(), piece_bytes
    while True:
        handle.seek(start)
        data = handle.read(size)
        if len(data) < size:  # the end of the file
            if data:
                yield data
            return
        end = cut(data)
        if end is None:
            if limit is not None and len(data) > limit:
                yield len(data)
                return
            size *= 2
            continue
        start, size = start + end, piece_bytes
        piece = data if end == len(data) else data[:end]
        del data
        yield piece
        del piece


def _last_break_end(data: bytes) -> int | None:
    """Where the last line break of ``data`` ends, never between a CR and an LF that may follow it."""
    newline = data.rfind(b"\n")
    carriage = data.rfind(b"\r", 0, len(data) - 1)  # a final CR may be the first half of a CRLF
    end = max(newline, carriage)
    return end + 1 if end >= 0 else None


def _csv_cut(dialect: Dialect) -> _Cut:
    """The end of the last complete CSV record of a text that starts with a record.

    Text without the quote or escape character breaks records at line breaks;
    other text is matched from its start, all whole records in one match (a
    quoted value may hold a line break). A final CR may be half of a CRLF: the
    record it ends is not taken as complete.
    """
    quote = dialect.quote.encode()
    escape = dialect.escape.encode() if dialect.escape else None
    pattern = records_pattern(dialect)

    def cut(data: bytes) -> int | None:
        if quote not in data and (escape is None or escape not in data):
            return _last_break_end(data)
        found = pattern.match(data, 0, len(data) - 1 if data.endswith(b"\r") else len(data))
        return (found.end() if found else 0) or None

    return cut


def _parquet_parts(item: InputFile, schema: dict[str, ColumnType], budget: MemoryBudget) -> Iterator[FilePart]:
    try:
        parquet = pq.ParquetFile(item.path)
        differences = parquet_differences(schema, parquet.schema_arrow)
        if differences:
            yield FilePart(error=drift_error(item.key, differences))
            return
        metadata = parquet.metadata
        unpacked = sum(metadata.row_group(index).total_byte_size for index in range(metadata.num_row_groups))
        rows = max(1, budget.piece_bytes("parquet") * metadata.num_rows // max(1, unpacked))
        batches = parquet.iter_batches(batch_size=rows, columns=list(schema), use_threads=False)
        done = 0
        size = os.path.getsize(item.path)
        for batch in batches:
            columns = [cast_parquet(batch.column(name), column_type) for name, column_type in schema.items()]
            lines = pa.array(np.arange(done + 1, done + batch.num_rows + 1, dtype=np.int64))  # row ordinal + 1
            done += batch.num_rows
            consumed = size * done // max(1, metadata.num_rows)
            yield FilePart(rows=rows_table(item.key, schema, columns, None, lines), consumed=consumed)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        yield FilePart(error=parse_error(item.key, f"not a readable Parquet file ({error})"))
