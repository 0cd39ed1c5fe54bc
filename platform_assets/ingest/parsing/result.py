"""The contract shared by the parsers: inputs, results, file errors.

Both parsers return a :class:`ParseResult` with the same content for the same
input: ``rows`` holds the good rows (declared columns in declared order with
declared Arrow types, then ``_source_file`` and ``_source_line``), ``rejects`` the rows that could
not be used (with the reason), ``file_errors`` the files that could not be
parsed at all; a file in ``file_errors`` contributes to neither table nor to
the per-file counts. Every other file has an entry (possibly 0) in both
``rows_per_file`` and ``rejects_per_file``.

``_source_line`` (int64) is where the row is in its file: for CSV the first
physical line of its record, 1-based, counting the header and blank lines;
for JSON lines its physical line; for Parquet its row ordinal + 1. Rejected
rows keep their line numbers in ``rejects`` (``_line_number``, same rule).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pyarrow as pa

from platform_assets.column_types import ColumnType
from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing.text import MAX_LINE_BYTES_KEY, DecodeFailure

SOURCE_FILE = "_source_file"
SOURCE_LINE = "_source_line"
LINE_NUMBER = "_line_number"
RAW = "_raw"
REASON = "_reason"

REJECTS_SCHEMA = pa.schema(
    [
        pa.field(SOURCE_FILE, pa.string(), nullable=False),
        pa.field(LINE_NUMBER, pa.int64()),
        pa.field(RAW, pa.string()),
        pa.field(REASON, pa.string(), nullable=False),
    ]
)

PARSE_ERROR = "parse_error"
SCHEMA_DRIFT = "schema_drift"
ENCODING_ERROR = "encoding_error"
READ_ERROR = "read_error"


@dataclass(frozen=True)
class InputFile:
    """One file to parse: ``key`` names it in results and messages, ``path`` is a local path."""

    key: str
    path: str
    sha256: str


@dataclass(frozen=True)
class FileError:
    """Why a whole file was not parsed; ``message`` names the file and says what to do."""

    error_type: str
    message: str


@dataclass
class ParseResult:
    """What one parse call gives.

    ``grouped``: each file's rows (and rejects) are contiguous, in the key order
    of ``rows_per_file`` (``rejects_per_file``), so a consumer may derive the
    ``_source_file`` of every row from the counts instead of reading the column.
    """

    rows: pa.Table
    rejects: pa.Table
    rows_per_file: dict[str, int] = field(default_factory=dict)
    rejects_per_file: dict[str, int] = field(default_factory=dict)
    file_errors: dict[str, FileError] = field(default_factory=dict)
    grouped: bool = False


class Parser(Protocol):
    """Parses the files of one call into a :class:`ParseResult` (see the module docstring)."""

    name: str

    def parse(
        self, files: list[InputFile], source: SourceSettings, schema: Mapping[str, ColumnType | str]
    ) -> ParseResult: ...


@dataclass
class FilePart:
    """What one file gives a parser: its rows and rejects (either may be None when empty), or its error.

    ``consumed``: for a streamed piece, the bytes of the file read up to its end (for progress reports).
    """

    rows: pa.Table | None = None
    rejects: pa.Table | None = None
    error: FileError | None = None
    consumed: int | None = None


def empty_rejects() -> pa.Table:
    return REJECTS_SCHEMA.empty_table()


def rejects_table(key: str, found: Sequence[tuple[int | None, str | None, str]]) -> pa.Table:
    """The rejects of file ``key`` from (line number, raw text, reason) in the order given."""
    return pa.table(
        {
            SOURCE_FILE: pa.array([key] * len(found), pa.string()),
            LINE_NUMBER: pa.array([item[0] for item in found], pa.int64()),
            RAW: pa.array([item[1] for item in found], pa.string()),
            REASON: pa.array([item[2] for item in found], pa.string()),
        },
        schema=REJECTS_SCHEMA,
    )


def check_call(files: list[InputFile], source: SourceSettings) -> None:
    """Raise ValueError when the inputs or the CSV dialect cannot be parsed as asked."""
    seen: set[str] = set()
    for item in files:
        if item.key in seen:
            raise ValueError(f"file key {item.key!r} is given twice in one parse call")
        seen.add(item.key)
    if source.escape is not None and len(source.escape) != 1:
        raise ValueError(f"source escape must be one character (got {source.escape!r})")
    special = [source.delimiter, source.quote] + ([source.escape] if source.escape else [])
    if source.format == "csv" and (source.delimiter == source.quote or source.escape == source.delimiter):
        raise ValueError(f"source delimiter, quote and escape must differ (got {special!r})")
    if source.format == "csv" and any(char in "\r\n" for char in special):
        raise ValueError("source delimiter, quote and escape cannot be line breaks")


def assemble(
    files: list[InputFile],
    rows: list[pa.Table],
    rejects: list[pa.Table],
    file_errors: dict[str, FileError],
    rows_schema: pa.Schema,
    one_file_per_table: bool = False,
) -> ParseResult:
    """Concatenate per-file tables (already in file order) and count them per key.

    With ``one_file_per_table`` each table holds the rows of a single file, so
    the counts are the tables' lengths instead of a pass over ``_source_file``.
    """
    rows_table = pa.concat_tables(rows) if rows else rows_schema.empty_table()
    rejects_table = pa.concat_tables(rejects) if rejects else empty_rejects()
    ok_keys = [item.key for item in files if item.key not in file_errors]
    return ParseResult(
        rows=rows_table.cast(rows_schema),
        rejects=rejects_table.cast(REJECTS_SCHEMA),
        rows_per_file=_count_parts(rows, ok_keys) if one_file_per_table else _count(rows_table, ok_keys),
        rejects_per_file=_count_parts(rejects, ok_keys) if one_file_per_table else _count(rejects_table, ok_keys),
        file_errors=dict(file_errors),
        grouped=one_file_per_table,
    )


def _count_parts(tables: list[pa.Table], keys: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(keys, 0)
    for part in tables:
        if part.num_rows:
            counts[part[SOURCE_FILE][0].as_py()] = part.num_rows
    return counts


def _count(table: pa.Table, keys: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(keys, 0)
    if table.num_rows:
        grouped = table.group_by(SOURCE_FILE).aggregate([([], "count_all")])
        for key, count in zip(grouped[SOURCE_FILE].to_pylist(), grouped["count_all"].to_pylist()):
            counts[key] = count
    return counts


# ---------------------------------------------------------------- file errors


def drift_error(key: str, differences: list[str]) -> FileError:
    listed = "; ".join(differences)
    return FileError(
        SCHEMA_DRIFT,
        f"{key}: the file's columns differ from the product schema: {listed}. "
        "Fix the file, or change the product's schema and process the version again.",
    )


def encoding_error(key: str, encoding: str, detail: DecodeFailure) -> FileError:
    return FileError(
        ENCODING_ERROR,
        f"{key}: cannot decode the file as {encoding}: byte 0x{detail.byte:02X} at line {detail.line} "
        f"(byte offset {detail.offset}) is invalid. Re-export the file as {encoding}, "
        "or set the product's source.encoding to the file's real encoding.",
    )


def no_header_error(key: str) -> FileError:
    return FileError(
        PARSE_ERROR,
        f"{key}: the header line is blank (source.header is true). "
        "Add the header line, or set source.header to false if the file has none.",
    )


def read_error(key: str, problem: str) -> FileError:
    return FileError(READ_ERROR, f"{key}: cannot read the file: {problem}. Check that the raw-zone copy exists.")


def record_too_long_error(key: str, line: int, length: int, max_line_bytes: int, at_least: bool = False) -> FileError:
    """``at_least``: ``length`` is where reading stopped, not the record's end (a streamed file)."""
    size = f"more than {length}" if at_least else f"{length}"
    return FileError(
        PARSE_ERROR,
        f"{key}: line {line} starts a record of {size} bytes, more than the CSV reader's largest block "
        f"({MAX_LINE_BYTES_KEY}: {max_line_bytes} bytes). Raise {MAX_LINE_BYTES_KEY} in platform.yaml to at "
        f"least {length}, then process the version's failed files again (process --retry-failed).",
    )


def parse_error(key: str, problem: str) -> FileError:
    return FileError(PARSE_ERROR, f"{key}: cannot parse the file: {problem}. Fix or replace the file.")
