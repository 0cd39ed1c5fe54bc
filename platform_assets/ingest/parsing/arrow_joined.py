"""Many small CSV files parsed as one: one read and one cast for a whole claim batch of plain files.

Contract: :func:`parse_joined` gives exactly the rows the per-file CSV path
(``arrow_csv``) gives for the files it takes, and leaves every other file to
that path. It takes only files it can prove are plain, so that a file's
records are its lines after the header and the text of all of them parses as
one body:

- at most :data:`SMALL_FILE_BYTES`, UTF-8 (``source.encoding``), no byte-order
  mark, no quote or escape character, no carriage return, no blank line;
- with ``source.header``: the header is the first line, byte for byte the one
  of the first such file, and names exactly the declared columns.

A file with a row that does not cast, or with a wrong column count, is
handed back too: the per-file path then gives its rejects, with line numbers.
So a bad row or a bad file only ever costs its own file the slower path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from platform_assets.column_types import ColumnType
from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing.arrow_casting import cast_columns, single_chunk
from platform_assets.ingest.parsing.drift import header_differences
from platform_assets.ingest.parsing.result import InputFile, ParseResult
from platform_assets.ingest.parsing.text import (
    UTF8_BOM,
    UTF8_NAMES,
    Dialect,
    canonical_encoding,
    header_names,
    string_options,
)
from platform_assets.ingest.parsing.types import rows_arrow_schema
from platform_assets.ingest.threads import map_in_slices

SMALL_FILE_BYTES = 1 << 16
"""Files up to this size may be joined; larger ones are parsed on their own (their own read is cheap enough)."""
MIN_FILES = 8
"""Fewer files than this are parsed one by one: joining saves per-file costs only when there are many."""
READ_THREADS = 4


@dataclass
class Joined:
    """Rows of the joined files (typed columns, ``_source_file``, ``_source_line``), grouped by file in
    ``counts``' key order."""

    rows: pa.Table
    counts: dict[str, int] = field(default_factory=dict)


def parse_joined(
    files: list[InputFile], source: SourceSettings, schema: dict[str, ColumnType]
) -> tuple[Joined | None, list[InputFile]]:
    """The rows of the plain small CSV files among ``files`` parsed as one, and the files left (in order)."""
    if source.format != "csv" or len(files) < MIN_FILES or canonical_encoding(source.encoding) not in UTF8_NAMES:
        return None, files
    dialect = Dialect.of(source)
    bodies = map_in_slices(_small_bytes, files, READ_THREADS)
    header, positions = _header(bodies, source, dialect, list(schema))
    if positions is None:
        return None, files
    taken: list[int] = []
    texts: list[bytes] = []
    for index, data in enumerate(bodies):
        body = _plain_body(data, header, dialect) if data is not None else None
        if body is not None:
            taken.append(index)
            texts.append(body)
    if len(taken) < MIN_FILES:
        return None, files
    return _parse_taken(files, taken, texts, schema, dialect, positions, 2 if source.header else 1)


def _parse_taken(
    files: list[InputFile],
    taken: list[int],
    texts: list[bytes],
    schema: dict[str, ColumnType],
    dialect: Dialect,
    positions: list[int],
    first_line: int,
) -> tuple[Joined | None, list[InputFile]]:
    """Parse and cast the ``taken`` files' ``texts`` as one; files with a bad row are handed back."""
    counts = [text.count(b"\n") for text in texts]
    joined = b"".join(texts)
    line_file = np.repeat(np.arange(len(texts), dtype=np.int32), counts)
    if joined:
        table, invalid = _read_text(joined, len(schema), dialect)
        typed, reasons = cast_columns(schema, [single_chunk(table.column(position)) for position in positions])
    else:
        invalid, reasons = [], None
        typed = [pa.array([], column.type) for column in rows_arrow_schema(schema)][: len(schema)]
    bad = {int(line_file[number - 1]) for number in invalid}  # a row of a wrong width: its file goes back
    row_file = np.delete(line_file, [number - 1 for number in invalid]) if invalid else line_file
    if reasons is not None:  # a value that does not cast: its file goes back
        bad.update(int(file) for file in np.unique(row_file[pc.indices_nonzero(pc.is_valid(reasons)).to_numpy()]))
    keys = pa.array([files[index].key for index in taken], pa.string())
    lines = _source_lines(counts, first_line)
    if invalid:
        lines = np.delete(lines, [number - 1 for number in invalid])
    rows = pa.Table.from_arrays(
        [*typed, keys.take(pa.array(row_file)), pa.array(lines, pa.int64())], schema=rows_arrow_schema(schema)
    )
    if bad:
        rows = rows.filter(pa.array(~np.isin(row_file, sorted(bad))))
    kept = {files[taken[position]].key: count for position, count in enumerate(counts) if position not in bad}
    left = {taken[position] for position in bad} | (set(range(len(files))) - set(taken))
    return Joined(rows, kept), [files[index] for index in sorted(left)]


def _source_lines(counts: list[int], first_line: int) -> np.ndarray:
    """Each joined record's line in its own file: the files' records are their lines from ``first_line`` on."""
    total = int(sum(counts))
    starts = np.repeat(np.cumsum([0, *counts[:-1]]), counts)
    return np.arange(total, dtype=np.int64) - starts + first_line


def _read_text(joined: bytes, width: int, dialect: Dialect) -> tuple[pa.Table, list[int]]:
    """Every field of the joined records as text, and the 1-based lines of the rows of a wrong width."""
    names = [f"c{index}" for index in range(width)]
    invalid: list[int] = []

    def on_invalid(row: Any) -> str:
        invalid.append(row.number)  # threads off: the reader always knows the line
        return "skip"

    table = pacsv.read_csv(
        pa.BufferReader(pa.py_buffer(joined)),
        read_options=pacsv.ReadOptions(column_names=names, use_threads=False, block_size=max(1 << 20, len(joined))),
        parse_options=dialect.parse_options(on_invalid, multiline=False),
        convert_options=string_options(names),
    )
    return table, invalid


def with_joined(result: ParseResult, joined: Joined, rows_schema: pa.Schema) -> ParseResult:
    """``result`` (of the files parsed one by one) with the joined files' rows first, still grouped by file."""
    return ParseResult(
        rows=pa.concat_tables([joined.rows.cast(rows_schema), result.rows]),
        rejects=result.rejects,
        rows_per_file={**joined.counts, **result.rows_per_file},
        rejects_per_file={**dict.fromkeys(joined.counts, 0), **result.rejects_per_file},
        file_errors=result.file_errors,
        grouped=True,
    )


def _small_bytes(item: InputFile) -> bytes | None:
    """The file's bytes when it is small and readable (else None: the per-file path reads it, or names the error)."""
    try:
        with open(item.path, "rb") as handle:
            data = handle.read(SMALL_FILE_BYTES + 1)
    except OSError:
        return None
    return data if 0 < len(data) <= SMALL_FILE_BYTES else None


def _header(
    bodies: list[bytes | None], source: SourceSettings, dialect: Dialect, declared: list[str]
) -> tuple[bytes | None, list[int] | None]:
    """The header line (bytes) the joined files share and the declared columns' positions in it.

    The first of the first :data:`MIN_FILES` readable files whose header line is
    plain and names the declared columns sets it (a bad file among them does not
    stop the others being joined). None positions: no file may be joined.
    """
    if not source.header:
        return None, list(range(len(declared)))
    for data in [data for data in bodies if data is not None][:MIN_FILES]:
        end = data.find(b"\n")
        line = data[: end if end >= 0 else len(data)]
        if not line or data.startswith(UTF8_BOM) or b"\r" in line or dialect.quote.encode() in line:
            continue
        try:
            names = header_names(line, dialect)
        except UnicodeDecodeError:
            continue
        if not header_differences(declared, names):
            return line, [names.index(name) for name in declared]
    return None, None


def _utf8(data: bytes) -> bool:
    """Whether ``data`` is valid UTF-8 (the per-file path names the byte of a file that is not)."""
    if data.isascii():
        return True
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _plain_body(data: bytes, header: bytes | None, dialect: Dialect) -> bytes | None:
    """The file's records (ending in a line break) when the file is plain and has ``header``; else None."""
    if header is not None:
        if not data.startswith(header) or data[len(header) : len(header) + 1] not in (b"\n", b""):
            return None
        body = data[len(header) + 1 :]
    else:
        body = data
    if data.startswith(UTF8_BOM) or b"\r" in data or dialect.quote.encode() in data:
        return None
    if dialect.escape is not None and dialect.escape.encode() in data:
        return None
    if body.startswith(b"\n") or b"\n\n" in body or not _utf8(data):
        return None
    return body if not body or body.endswith(b"\n") else body + b"\n"
