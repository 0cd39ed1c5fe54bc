"""The Arrow engine: parses files in process with pyarrow, casting column-wise.

Contract (shared with the Spark engine, see ``result.py`` and ``types.py``):

- CSV: every field is read as text with pyarrow.csv (an unquoted empty field
  is NULL, a quoted empty field is ''), then cast with vectorized compute
  kernels; a row whose value does not cast is rejected, the other rows are
  kept. Blank lines are skipped. With a header, the first non-blank line
  names the columns, which must be exactly the declared ones (any order).
  Quoted values may span lines.
- JSON lines: one object per non-blank line, with exactly the declared keys.
- Parquet: the declared columns, each of a type that reads without loss.
- Line numbers are physical, 1-based, counting the header line. They are
  worked out only for files that have rejects.

Files are parsed one per worker thread (pyarrow releases the GIL) and the
results are concatenated in input order.
"""

from __future__ import annotations

import bisect
import io
import json
import mmap
import os
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from platform_assets.column_types import BIGINT, BOOLEAN, DATE, DOUBLE, STRING, TIMESTAMP, ColumnType, TypeKind
from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing.inference import header_differences, parquet_differences
from platform_assets.ingest.parsing.result import (
    REJECTS_SCHEMA,
    DecodeFailure,
    FileError,
    InputFile,
    ParseResult,
    assemble,
    canonical_encoding,
    check_call,
    drift_error,
    encoding_error,
    make_text_decoder,
    no_header_error,
    parse_error,
    read_error,
)
from platform_assets.ingest.parsing.types import (
    DECIMAL_DIGITS_PATTERN,
    INT_LIMITS,
    MAX_SHOWN_VALUE,
    TIMESTAMP_PATTERN,
    TRIM_CHARACTERS,
    YEAR_ZERO_PREFIX,
    arrow_type,
    column_count_reason,
    declared_type_of,
    json_kind_reason,
    normalize_schema,
    rows_arrow_schema,
    text_pattern,
    value_reason_parts,
)

LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_TEXT_BREAK = re.compile(r"\r\n|\r|\n")
NON_BREAK = re.compile(rb"[^\r\n]")
UTF8_BOM = b"\xef\xbb\xbf"
UTF8_NAMES = ("utf-8", "utf-8-sig")


class ArrowEngine:
    """Parses files in this process with pyarrow; ``max_workers`` files at a time."""

    name = "arrow"

    def __init__(self, max_workers: int | None = None) -> None:
        self._max_workers = max_workers or min(8, os.cpu_count() or 1)

    def parse(
        self, files: list[InputFile], source: SourceSettings, schema: Mapping[str, ColumnType | str]
    ) -> ParseResult:
        columns = normalize_schema(schema)
        check_call(files, source)
        rows_schema = rows_arrow_schema(columns)

        def run(item: InputFile) -> _FilePart:
            return parse_file(item, source, columns)

        if len(files) > 1 and self._max_workers > 1:
            with ThreadPoolExecutor(max_workers=min(self._max_workers, len(files))) as pool:
                parts = list(pool.map(run, files))
        else:
            parts = [parse_file(item, source, columns, threads=self._max_workers > 1) for item in files]
        errors = {item.key: part.error for item, part in zip(files, parts) if part.error is not None}
        rows = [part.rows for part in parts if part.rows is not None and part.rows.num_rows]
        rejects = [part.rejects for part in parts if part.rejects is not None and part.rejects.num_rows]
        return assemble(files, rows, rejects, errors, rows_schema, one_file_per_table=True)


@dataclass
class _FilePart:
    rows: pa.Table | None = None
    rejects: pa.Table | None = None
    error: FileError | None = None


def parse_file(
    item: InputFile, source: SourceSettings, schema: dict[str, ColumnType], threads: bool = False
) -> _FilePart:
    """Parse one file; never raises for bad content (that becomes rejects or a file error)."""
    try:
        size = os.path.getsize(item.path)
        if size == 0:
            return _FilePart()
        if source.format == "parquet":
            return _parse_parquet(item, schema)
        data = _file_bytes(item.path, mapped=source.format == "csv" and size >= MAP_MIN_BYTES)
    except OSError as error:
        return _FilePart(error=read_error(item.key, error.strerror or str(error)))
    text, failure = to_utf8(data, source.encoding)
    if failure is not None:
        return _FilePart(error=encoding_error(item.key, source.encoding, failure))
    assert text is not None
    try:
        if source.format == "json":
            return _parse_json(item.key, text, schema)
        return _parse_csv(item.key, text, source, schema, threads)
    except (pa.ArrowInvalid, ValueError) as error:
        return _FilePart(error=parse_error(item.key, str(error)))


MAP_MIN_BYTES = 1 << 20
"""CSV files from this size on are memory-mapped instead of read: no copy of the page cache into the process."""


def _file_bytes(path: str, mapped: bool) -> bytes | mmap.mmap:
    """The file's content: a read-only memory map (``mapped``) or bytes.

    A map supports what the CSV path does with the content (slices, ``find``,
    regular expressions, Arrow buffers); it is unmapped when the last
    reference to it, or to a buffer over it, is gone.
    """
    with open(path, "rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if mapped else handle.read()


def to_utf8(data: bytes | mmap.mmap, encoding: str) -> tuple[bytes | mmap.mmap | None, DecodeFailure | None]:
    """``data`` transcoded to UTF-8 without a byte-order mark, or where decoding fails.

    UTF-8 input is returned as it is (a map stays a map) when it has no byte-order mark.
    """
    name = canonical_encoding(encoding)
    if name in UTF8_NAMES:
        try:
            _as_binary(data).cast(pa.large_string())  # validates in place
            return (data[len(UTF8_BOM) :] if data[: len(UTF8_BOM)] == UTF8_BOM else data), None
        except pa.ArrowInvalid:
            name = "utf-8"
    data = data if isinstance(data, bytes) else data[:]
    text, detail = make_text_decoder(name)(data)
    if detail is not None:
        return None, DecodeFailure(*detail)
    assert text is not None
    return text.encode("utf-8"), None


def _as_binary(data: bytes | mmap.mmap) -> pa.Array:
    """``data`` as a one-value binary array over the same memory (no copy)."""
    offsets = pa.array([0, len(data)], pa.int64()).buffers()[1]
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])


# ----------------------------------------------------------------------- CSV


@dataclass(frozen=True)
class Dialect:
    delimiter: str
    quote: str
    escape: str | None

    @classmethod
    def of(cls, source: SourceSettings) -> Dialect:
        escape = source.escape if source.escape and source.escape != source.quote else None
        return cls(source.delimiter, source.quote, escape)

    def parse_options(self, handler: Callable[[Any], str] | None = None, multiline: bool = True) -> pacsv.ParseOptions:
        return pacsv.ParseOptions(
            delimiter=self.delimiter,
            quote_char=self.quote,
            double_quote=self.escape is None,
            escape_char=self.escape or False,
            newlines_in_values=multiline,
            ignore_empty_lines=True,
            invalid_row_handler=handler,
        )


def _string_options(names: list[str]) -> pacsv.ConvertOptions:
    return pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        null_values=[""],
        check_utf8=False,
    )


def first_nonblank_line(data: bytes) -> tuple[int, int, int, int] | None:
    """(line number, start, end, start of the next line) of the first non-blank line."""
    found = NON_BREAK.search(data)
    if found is None:
        return None
    start = found.start()
    line = len(LINE_BREAK.findall(data, 0, start)) + 1
    following = LINE_BREAK.search(data, start)
    end = following.start() if following else len(data)
    after = following.end() if following else len(data)
    return line, start, end, after


def _split_line(line: bytes, dialect: Dialect) -> list[str]:
    """The fields of one line, unquoted; NULL fields as ''."""
    if dialect.quote.encode() not in line and (dialect.escape is None or dialect.escape.encode() not in line):
        return line.decode("utf-8").split(dialect.delimiter)
    count = line.count(dialect.delimiter.encode()) + 1
    names = [f"f{index}" for index in range(count)]
    table = pacsv.read_csv(
        io.BytesIO(line + b"\n"),
        read_options=pacsv.ReadOptions(autogenerate_column_names=True, use_threads=False),
        parse_options=dialect.parse_options(multiline=False),
        convert_options=_string_options(names),
    )
    return ["" if value is None else value for value in table.slice(0, 1).to_pylist()[0].values()]


def header_names(line: bytes, dialect: Dialect) -> list[str]:
    return [name.strip(TRIM_CHARACTERS) for name in _split_line(line, dialect)]


def _parse_csv(
    key: str, data: bytes | mmap.mmap, source: SourceSettings, schema: dict[str, ColumnType], threads: bool = False
) -> _FilePart:
    declared = list(schema)
    dialect = Dialect.of(source)
    if source.header:
        first = first_nonblank_line(data)
        if first is None:
            return _FilePart()
        line_number, start, end, after = first
        names = header_names(data[start:end], dialect)
        if not any(names):
            return _FilePart(error=no_header_error(key))
        differences = header_differences(declared, names)
        if differences:
            return _FilePart(error=drift_error(key, differences))
        positions = [names.index(name) for name in declared]
        body_start, first_body_line = after, line_number + 1
    else:
        positions = list(range(len(declared)))
        body_start, first_body_line = 0, 1
    if NON_BREAK.search(data, body_start) is None:
        return _FilePart()
    width = len(declared)
    names = [f"c{index}" for index in range(width)]
    multiline = any(
        data.find(char.encode(), body_start) != -1 for char in (dialect.quote, dialect.escape) if char is not None
    )
    body = pa.py_buffer(data).slice(body_start)  # the body without copying the file
    # Threads only help one large file; they lose the line numbers of invalid rows,
    # so such a file is read again without.
    table, invalid = _read_text_columns(body, names, dialect, multiline, threads and not multiline)
    if invalid and invalid[0][0] is None:
        table, invalid = _read_text_columns(body, names, dialect, multiline, False)
    typed, reasons = _cast_blocks(schema, table.select(positions), threads)
    rows = _rows_table(key, schema, typed, reasons)
    if reasons is None and not invalid:
        return _FilePart(rows=rows)
    rejects = _csv_rejects(key, data[body_start:], first_body_line, dialect, table.num_rows, invalid, reasons, width)
    return _FilePart(rows=rows, rejects=rejects)


def _read_text_columns(
    body: pa.Buffer, names: list[str], dialect: Dialect, multiline: bool, threads: bool
) -> tuple[pa.Table, list[tuple[Any, int, str]]]:
    """Every field as text, and the rows with a wrong column count as (line number, columns, text)."""
    invalid: list[tuple[Any, int, str]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.actual_columns, row.text))
        return "skip"

    table = pacsv.read_csv(
        pa.BufferReader(body),
        read_options=pacsv.ReadOptions(
            column_names=names, use_threads=threads, block_size=1 << 22 if threads else 1 << 24
        ),
        parse_options=dialect.parse_options(on_invalid, multiline),
        convert_options=_string_options(names),
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
        return cast_columns(schema, [_single_chunk(column) for column in table.columns])
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


def _single_chunk(column: pa.ChunkedArray) -> pa.Array:
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


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
    if bad_rows:
        texts = reasons.take(bad_rows).to_pylist()  # type: ignore[union-attr]
        for index, reason in zip(wanted[len(invalid) :], texts):
            line, raw = records[index] if consistent else (None, None)
            found.append((line, raw.decode("utf-8") if raw is not None else None, reason))
    found.sort(key=lambda item: (item[0] is None, item[0] or 0))
    return pa.table(
        {
            "_source_file": pa.array([key] * len(found), pa.string()),
            "_line_number": pa.array([item[0] for item in found], pa.int64()),
            "_raw": pa.array([item[1] for item in found], pa.string()),
            "_reason": pa.array([item[2] for item in found], pa.string()),
        },
        schema=REJECTS_SCHEMA,
    )


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
    quote = dialect.quote.encode()
    plain = quote not in body and (dialect.escape is None or dialect.escape.encode() not in body)
    chunks = LINE_BREAK.split(body) if plain else _record_pattern(dialect).findall(body)
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


def _record_pattern(dialect: Dialect) -> re.Pattern[bytes]:
    """Matches one record and its line break (a blank line matches an empty record)."""
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
    return re.compile(rb"(" + field + rb"(?:" + d + field + rb")*+)(?:\r\n|\r|\n|\Z)", re.DOTALL)


# ---------------------------------------------------------------------- JSON


class _JsonInt(str):
    """An integer literal as written."""


class _JsonFloat(str):
    """A number literal with a fraction or exponent, as written."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _load_json(line: str) -> Any:
    value = json.loads(
        line,
        object_pairs_hook=_no_duplicates,
        parse_int=_JsonInt,
        parse_float=_JsonFloat,
        parse_constant=_no_constants,
    )
    if "\\u" in line:
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates raise
    return value


def _json_value(value: Any, column_type: ColumnType, column: str) -> tuple[str | None, str | None, bool]:
    """(text to cast, reason when the JSON kind cannot be the type, whether it came from a number)."""
    if value is None:
        return None, None, False
    if isinstance(value, (_JsonInt, _JsonFloat)):
        if column_type.is_numeric:
            return str(value), None, True
        return None, json_kind_reason(column, column_type, "number"), False
    if isinstance(value, str):
        return value, None, False
    if isinstance(value, bool):
        if column_type == BOOLEAN:
            return ("true" if value else "false"), None, False
        return None, json_kind_reason(column, column_type, "boolean"), False
    kind = "object" if isinstance(value, dict) else "array"
    return None, json_kind_reason(column, column_type, kind), False


def _parse_json(key: str, data: bytes, schema: dict[str, ColumnType]) -> _FilePart:
    declared = list(schema)
    known = set(declared)
    texts: list[list[str | None]] = [[] for _ in declared]
    kind_reasons: list[list[str | None]] = [[] for _ in declared]
    numbers: list[list[bool]] = [[] for _ in declared]
    lines_kept: list[int] = []
    raws_kept: list[str] = []
    rejected: list[tuple[int, str, str]] = []
    for number, line in enumerate(_TEXT_BREAK.split(data.decode("utf-8")), start=1):
        if not line.strip(" \t"):
            continue
        try:
            value = _load_json(line)
        except (ValueError, UnicodeEncodeError, RecursionError):
            rejected.append((number, line, "invalid JSON"))
            continue
        if not isinstance(value, dict):
            rejected.append((number, line, "not a JSON object"))
            continue
        missing = [name for name in declared if name not in value]
        unknown = [name for name in value if name not in known]
        if missing or unknown:
            rejected.append((number, line, key_reason(missing, unknown)))
            continue
        for index, name in enumerate(declared):
            text, reason, is_number = _json_value(value[name], schema[name], name)
            texts[index].append(text)
            kind_reasons[index].append(reason)
            numbers[index].append(is_number)
        lines_kept.append(number)
        raws_kept.append(line)
    raw_columns = [pa.array(column, pa.string()) for column in texts]
    extra = [
        (pa.array(reasons, pa.string()), pa.array(flags, pa.bool_())) for reasons, flags in zip(kind_reasons, numbers)
    ]
    typed, reasons = cast_columns(schema, raw_columns, extra)
    rows = _rows_table(key, schema, typed, reasons)
    found = list(rejected)
    if reasons is not None:
        for row in pc.indices_nonzero(pc.is_valid(reasons)).to_pylist():
            found.append((lines_kept[row], raws_kept[row], reasons[row].as_py()))
    if not found:
        return _FilePart(rows=rows)
    found.sort(key=lambda item: item[0])
    rejects = pa.table(
        {
            "_source_file": pa.array([key] * len(found), pa.string()),
            "_line_number": pa.array([item[0] for item in found], pa.int64()),
            "_raw": pa.array([item[1] for item in found], pa.string()),
            "_reason": pa.array([item[2] for item in found], pa.string()),
        },
        schema=REJECTS_SCHEMA,
    )
    return _FilePart(rows=rows, rejects=rejects)


def key_reason(missing: list[str], unknown: list[str]) -> str:
    """The reject reason for a JSON object whose keys differ from the declared columns."""
    parts = []
    if missing:
        parts.append("missing column(s): " + ", ".join(missing))
    if unknown:
        parts.append("unknown column(s): " + ", ".join(unknown))
    return "; ".join(parts)


# ------------------------------------------------------------------- Parquet


def _parse_parquet(item: InputFile, schema: dict[str, ColumnType]) -> _FilePart:
    try:
        parquet = pq.ParquetFile(item.path)
        differences = parquet_differences(schema, parquet.schema_arrow)
        if differences:
            return _FilePart(error=drift_error(item.key, differences))
        table = parquet.read(columns=list(schema), use_threads=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        return _FilePart(error=parse_error(item.key, f"not a readable Parquet file ({error})"))
    columns = [_cast_parquet(_single_chunk(table.column(name)), column_type) for name, column_type in schema.items()]
    return _FilePart(rows=_rows_table(item.key, schema, columns, None))


def _cast_parquet(values: pa.Array, column_type: ColumnType) -> pa.Array:
    target = arrow_type(column_type)
    if pa.types.is_dictionary(values.type):
        values = values.cast(values.type.value_type)
    if pa.types.is_timestamp(values.type) and values.type.tz is None:
        values = values.cast(pa.timestamp(values.type.unit)).cast(pa.timestamp(values.type.unit, tz="UTC"))
    return values.cast(target)


# ------------------------------------------------------------------- casting


def cast_columns(
    schema: dict[str, ColumnType],
    raw_columns: list[pa.Array],
    json_extra: list[tuple[pa.Array, pa.Array]] | None = None,
) -> tuple[list[pa.Array], pa.Array | None]:
    """Typed columns (NULL where a value is rejected) and per-row reasons (NULL for good rows).

    Reasons are None when no row is rejected. ``json_extra`` gives, per column,
    a reason where the JSON kind cannot be the type and a flag for values that
    were JSON numbers (whose cast failures get the JSON-number reason).
    """
    typed: list[pa.Array] = []
    column_reasons: list[pa.Array] = []
    for index, (name, column_type) in enumerate(schema.items()):
        values = raw_columns[index]
        result, bad = cast_text(values, column_type)
        typed.append(result)
        kind_reason, from_number = json_extra[index] if json_extra else (None, None)
        has_kind = kind_reason is not None and kind_reason.null_count < len(kind_reason)
        if bad is None and not has_kind:
            continue
        reason = pa.nulls(len(values), pa.string())
        if bad is not None:
            prefix, suffix = value_reason_parts(name, column_type)
            shown = pc.utf8_slice_codeunits(values, 0, MAX_SHOWN_VALUE)
            reason = pc.if_else(bad, pc.binary_join_element_wise(prefix, shown, suffix, ""), reason)
            if from_number is not None:
                reason = pc.if_else(pc.and_(bad, from_number), json_kind_reason(name, column_type, "number"), reason)
        if has_kind:
            reason = pc.coalesce(kind_reason, reason)
        column_reasons.append(reason)
    if not column_reasons:
        return typed, None
    joined = column_reasons[0]
    for reason in column_reasons[1:]:
        both = pc.and_(pc.is_valid(joined), pc.is_valid(reason))
        joined = pc.if_else(both, pc.binary_join_element_wise(joined, reason, "; "), pc.coalesce(joined, reason))
    return typed, joined


def _rows_table(key: str, schema: dict[str, ColumnType], typed: list[pa.Array], reasons: pa.Array | None) -> pa.Table:
    count = len(typed[0]) if typed else 0
    source = pc.fill_null(pa.nulls(count, pa.string()), key)
    table = pa.Table.from_arrays([*typed, source], schema=rows_arrow_schema(schema))
    if reasons is not None:
        table = table.filter(pc.is_null(reasons))
    return table


def cast_text(values: pa.Array, declared: ColumnType | str) -> tuple[pa.Array, pa.Array | None]:
    """Cast text to the ``declared`` type by the rules in ``types.py``.

    Returns the typed array (NULL where rejected) and a mask of rejected values,
    or None when every value cast.
    """
    column_type = ColumnType.of(declared)
    pattern = text_pattern(column_type)
    if pattern is None:
        return values, None
    fast = _fast_cast(values, column_type)
    if fast is not None:
        return fast, None
    text = values
    matched = pc.match_substring_regex(text, pattern)
    if not _all(matched):
        text = pc.ascii_trim(values, TRIM_CHARACTERS)
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        matched = pc.match_substring_regex(text, pattern)
    bad = pc.and_(pc.is_valid(text), pc.invert(pc.fill_null(matched, False)))
    clean = pc.if_else(bad, pa.scalar(None, pa.string()), text)
    typed, semantic_bad = _convert(clean, column_type)
    if semantic_bad is not None:
        bad = pc.or_(bad, semantic_bad)
    return typed, (bad if pc.any(bad).as_py() else None)


# Arrow's own string casts accept exactly the types.py patterns, plus: hex ints (0x..),
# decimal exponents, signed nan for doubles, year 0000 for dates. A column without those letters that
# casts cleanly therefore follows the rules; anything else takes the full path.
_FAST_GUARDS = {
    TypeKind.INT: b"xX",
    TypeKind.BIGINT: b"xX",
    TypeKind.DOUBLE: b"nN",
    TypeKind.BOOLEAN: b"",
    TypeKind.DATE: b"",
    TypeKind.DECIMAL: b"eE",
}


def _fast_cast(values: pa.Array, column_type: ColumnType) -> pa.Array | None:
    """``values`` cast in one kernel call when that provably follows the rules, else None."""
    guard = _FAST_GUARDS.get(column_type.kind)
    if guard is None:
        return None
    if guard:
        data = _data_bytes(values)
        if any(data.find(letter) >= 0 for letter in guard):
            return None
    if column_type == DATE and pc.any(pc.starts_with(values, YEAR_ZERO_PREFIX)).as_py():
        return None  # Arrow accepts year 0000
    try:
        return values.cast(arrow_type(column_type))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _data_bytes(values: pa.Array) -> bytes:
    """The characters of all values of a string array, concatenated."""
    _, offsets, data = values.buffers()
    if data is None or offsets is None or len(values) == 0:
        return b""
    width = 8 if pa.types.is_large_string(values.type) else 4
    start = int.from_bytes(offsets[values.offset * width : (values.offset + 1) * width].to_pybytes(), "little")
    end_at = (values.offset + len(values)) * width
    end = int.from_bytes(offsets[end_at : end_at + width].to_pybytes(), "little")
    return data[start:end].to_pybytes()


def _all(mask: pa.Array) -> bool:
    result = pc.all(mask).as_py()
    return result is None or result


def _convert(text: pa.Array, column_type: ColumnType) -> tuple[pa.Array, pa.Array | None]:
    """Cast text that matches the type's pattern; also returns the values out of range or calendar."""
    target = arrow_type(column_type)
    if column_type == TIMESTAMP:
        text, bad = _timestamp_text(text)
    elif column_type.is_integer:
        text = pc.replace_substring_regex(text, r"^\+", "")
        bad = _int_overflow(text, column_type)
    elif column_type == DATE:
        bad = pc.fill_null(pc.starts_with(text, YEAR_ZERO_PREFIX), False)
    elif column_type.is_decimal:
        text, bad = _decimal_text(text, column_type)
    else:
        bad = None
    if bad is not None:
        text = pc.if_else(bad, pa.scalar(None, pa.string()), text)
    try:
        typed = text.cast(target)
    except pa.ArrowInvalid:
        if column_type in (DATE, TIMESTAMP):
            extra = _not_calendar(text, with_time=column_type == TIMESTAMP)
            bad = extra if bad is None else pc.or_(bad, extra)
            text = pc.if_else(bad, pa.scalar(None, pa.string()), text)
        typed, bad = _cast_each(text, target, bad)
    if bad is not None and not pc.any(bad).as_py():
        bad = None
    return typed, bad


def _cast_each(text: pa.Array, target: pa.DataType, bad: pa.Array | None) -> tuple[pa.Array, pa.Array | None]:
    """Cast, and if a value still fails, cast value by value marking failures (a last resort)."""
    try:
        return text.cast(target), bad
    except pa.ArrowInvalid:
        pass
    values, failed = [], []
    for value in text.to_pylist():
        try:
            values.append(pa.array([value], pa.string()).cast(target)[0].as_py())
            failed.append(False)
        except pa.ArrowInvalid:
            values.append(None)
            failed.append(True)
    mask = pa.array(failed, pa.bool_())
    return pa.array(values, target), (mask if bad is None else pc.or_(bad, mask))


def _int_overflow(text: pa.Array, column_type: ColumnType) -> pa.Array:
    digits = column_type.integer_digits
    assert digits is not None
    largest, smallest = INT_LIMITS[column_type]
    negative = pc.fill_null(pc.starts_with(text, "-"), False)
    magnitude = pc.utf8_ltrim(pc.utf8_ltrim(text, "+-"), "0")
    length = pc.utf8_length(magnitude)
    limit = pc.if_else(negative, smallest, largest)
    too_big = pc.or_(pc.greater(length, digits), pc.and_(pc.equal(length, digits), pc.greater(magnitude, limit)))
    return pc.fill_null(too_big, False)


def _decimal_text(text: pa.Array, column_type: ColumnType) -> tuple[pa.Array, pa.Array]:
    """Decimal text without leading and trailing zeros, and the values with too many digits."""
    parts = pc.extract_regex(text, _named_groups(DECIMAL_DIGITS_PATTERN))
    integer, fraction = parts.field(0), parts.field(1)
    assert column_type.integer_digits is not None and column_type.scale is not None
    too_long = pc.or_(
        pc.greater(pc.utf8_length(integer), column_type.integer_digits),
        pc.greater(pc.utf8_length(fraction), column_type.scale),
    )
    sign = pc.if_else(pc.fill_null(pc.starts_with(text, "-"), False), "-", "")
    integer = pc.if_else(pc.equal(integer, ""), "0", integer)
    fraction = pc.if_else(pc.equal(fraction, ""), "0", fraction)
    joined = pc.binary_join_element_wise(sign, integer, ".", fraction, "")
    normalized = pc.if_else(pc.is_valid(text), joined, pa.scalar(None, pa.string()))
    return normalized, pc.fill_null(too_long, False)


def _not_calendar(text: pa.Array, with_time: bool) -> pa.Array:
    """Values (YYYY-MM-DD[THH:MM:SS...]) whose month, day, hour, minute or second is out of range."""

    def number(start: int, stop: int) -> pa.Array:
        return pc.cast(pc.utf8_slice_codeunits(text, start, stop), pa.int32())

    year, month, day = number(0, 4), number(5, 7), number(8, 10)
    leap = pc.and_(pc.equal(_mod(year, 4), 0), pc.or_(pc.not_equal(_mod(year, 100), 0), pc.equal(_mod(year, 400), 0)))
    month_ok = pc.and_(pc.greater_equal(month, 1), pc.less_equal(month, 12))
    lengths = pa.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], pa.int32())
    days = pc.take(lengths, pc.subtract(pc.if_else(month_ok, month, 1), 1))
    days = pc.add(days, pc.cast(pc.and_(leap, pc.equal(month, 2)), pa.int32()))
    ok = pc.and_(month_ok, pc.and_(pc.greater_equal(day, 1), pc.less_equal(day, days)))
    if with_time:
        for start, limit in ((11, 23), (14, 59), (17, 59)):
            ok = pc.and_(ok, pc.less_equal(number(start, start + 2), limit))
    return pc.and_(pc.is_valid(text), pc.invert(pc.fill_null(ok, False)))


def _mod(values: pa.Array, divisor: int) -> pa.Array:
    return pc.subtract(values, pc.multiply(pc.divide(values, divisor), divisor))


def _timestamp_text(text: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Timestamp text as YYYY-MM-DDTHH:MM:SS[.f]+HH:MM, and the values in year 0000."""
    parts = pc.extract_regex(text, _named_groups(TIMESTAMP_PATTERN))
    date, time, fraction, hours, minutes = (parts.field(index) for index in range(5))
    time = pc.if_else(pc.equal(time, ""), "00:00:00", time)
    minutes = pc.if_else(pc.equal(minutes, ""), "00", minutes)
    offset = pc.if_else(pc.equal(hours, ""), "Z", pc.binary_join_element_wise(hours, minutes, ":"))
    joined = pc.binary_join_element_wise(date, "T", time, fraction, offset, "")
    normalized = pc.if_else(pc.is_valid(text), joined, pa.scalar(None, pa.string()))
    return normalized, pc.fill_null(pc.starts_with(text, YEAR_ZERO_PREFIX), False)


def _named_groups(pattern: str) -> str:
    """``pattern`` with each capturing group named g0, g1, ... (pyarrow's extract_regex needs names)."""
    out, index, escaped = [], 0, False
    for position, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "(" and not pattern.startswith("(?", position):
            out.append(f"(?P<g{index}>")
            index += 1
            continue
        out.append(char)
    return "".join(out)


# ----------------------------------------------------------------- inference


def infer_file_schema(item: InputFile, source: SourceSettings, max_rows: int) -> dict[str, ColumnType] | None:
    """Declared types inferred from one file, or None when it holds no data (see ``infer_schema``)."""
    if os.path.getsize(item.path) == 0:
        return None
    if source.format == "parquet":
        inferred: dict[str, ColumnType] = {}
        for field in pq.read_schema(item.path):
            column_type = declared_type_of(field.type)
            if column_type is None:
                raise ValueError(f"{item.key}: column {field.name} has type {field.type}, which no declared type holds")
            inferred[field.name] = column_type
        return inferred
    with open(item.path, "rb") as handle:
        text, failure = to_utf8(handle.read(), source.encoding)
    if failure is not None:
        raise ValueError(encoding_error(item.key, source.encoding, failure).message)
    assert text is not None
    if source.format == "json":
        return _infer_json(text, max_rows)
    return _infer_csv(text, source, max_rows)


def _infer_csv(data: bytes, source: SourceSettings, max_rows: int) -> dict[str, ColumnType] | None:
    dialect = Dialect.of(source)
    first = first_nonblank_line(data)
    if first is None:
        return None
    _, start, end, after = first
    fields = _split_line(data[start:end], dialect)
    if source.header:
        names, body = [name.strip(TRIM_CHARACTERS) for name in fields], data[after:]
    else:
        names, body = [f"col_{index + 1}" for index in range(len(fields))], data
    columns = [f"c{index}" for index in range(len(names))]
    if NON_BREAK.search(body) is None:
        return {name: STRING for name in names}
    table = pacsv.read_csv(
        io.BytesIO(body),
        read_options=pacsv.ReadOptions(column_names=columns, use_threads=False),
        parse_options=dialect.parse_options(lambda row: "skip"),
        convert_options=_string_options(columns),
    ).slice(0, max_rows)
    return {name: infer_text_type(_single_chunk(table.column(index))) for index, name in enumerate(names)}


def _infer_json(data: bytes, max_rows: int) -> dict[str, ColumnType] | None:
    values: dict[str, list[Any]] = {}
    for line in _TEXT_BREAK.split(data.decode("utf-8")):
        if not line.strip(" \t"):
            continue
        try:
            value = _load_json(line)
        except (ValueError, UnicodeEncodeError, RecursionError):
            continue
        if isinstance(value, dict):
            for name, item in value.items():
                values.setdefault(name, []).append(item)
            max_rows -= 1
            if max_rows <= 0:
                break
    if not values:
        return None
    return {name: _infer_json_type(items) for name, items in values.items()}


def _infer_json_type(items: list[Any]) -> ColumnType:
    present = [item for item in items if item is not None]
    if not present:
        return STRING
    if all(isinstance(item, bool) for item in present):
        return BOOLEAN
    if all(isinstance(item, _JsonInt) for item in present):
        return BIGINT if all(len(item) <= 20 and -(2**63) <= int(item) < 2**63 for item in present) else DOUBLE
    if all(isinstance(item, (_JsonInt, _JsonFloat)) for item in present):
        return DOUBLE
    if all(type(item) is str for item in present):
        return infer_text_type(pa.array(present, pa.string()))
    return STRING


def infer_text_type(values: pa.Array) -> ColumnType:
    """The first of boolean, bigint, double, date, timestamp that all values satisfy, else string.

    Numbers with a leading zero (007) keep the column a string.
    """
    trimmed = pc.ascii_trim(values, TRIM_CHARACTERS)
    present = trimmed.filter(pc.fill_null(pc.not_equal(trimmed, ""), False))
    if len(present) == 0:
        return STRING
    if _all(pc.match_substring_regex(present, r"(?i)^(?:true|false)\z")):
        return BOOLEAN
    leading_zero = pc.any(pc.match_substring_regex(present, r"^[+-]?0[0-9]")).as_py()
    for candidate in (BIGINT, DOUBLE, DATE, TIMESTAMP):
        if candidate in (BIGINT, DOUBLE) and leading_zero:
            continue  # codes such as 007 keep their zeros
        _, bad = cast_text(present, candidate)
        if bad is None:
            return candidate
    return STRING
