"""Schema inference: the columns and types of a product that declares no schema.

:func:`infer_schema` reads the first file that holds data and returns its
columns with their types (``ColumnType``); the caller holds them as the
product's schema from then on. Text is judged by the casting rules of
``types.py`` (``arrow_casting``), so a column inferred as a type parses as it.
"""

from __future__ import annotations

import io
import os
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from platform_assets.column_types import BIGINT, BOOLEAN, DATE, DOUBLE, STRING, TIMESTAMP, ColumnType
from platform_assets.config import COLUMN_PATTERN, MAX_LINE_BYTES_DEFAULT, RESERVED_COLUMNS, SourceSettings
from platform_assets.errors import UserError
from platform_assets.ingest.parsing.arrow_casting import all_true, cast_text, single_chunk
from platform_assets.ingest.parsing.drift import show_name
from platform_assets.ingest.parsing.result import InputFile, encoding_error
from platform_assets.ingest.parsing.text import (
    JSON_LINE_ERRORS,
    NON_BREAK,
    TEXT_BREAK,
    Dialect,
    JsonFloat,
    JsonInt,
    first_nonblank_line,
    is_blank_json_line,
    load_json_line,
    read_growing,
    split_line,
    string_options,
    to_utf8,
)
from platform_assets.ingest.parsing.types import TRIM_CHARACTERS, declared_type_of

INFER_MAX_ROWS = 100_000
INFER_BLOCK_BYTES = 1 << 20


class InferenceError(UserError, ValueError):
    """No schema can be inferred; the message says why and suggests declaring one."""


def infer_schema(
    files: list[InputFile], source: SourceSettings, max_line_bytes: int = MAX_LINE_BYTES_DEFAULT
) -> dict[str, ColumnType]:
    """Infer the columns and their types from the first file that holds data.

    Text values get the first of boolean (true/false words only), bigint, double
    (neither with leading zeros), date, timestamp that every value of the column
    satisfies, else string; an all-empty column is string. JSON numbers give
    bigint or double, JSON booleans boolean, JSON strings follow the text rule,
    mixed kinds give string. Parquet types map one to one. CSV without a header
    names the columns col_1, col_2, ... Raises InferenceError when no file holds
    data or a column name cannot be used.
    """
    for item in files:
        try:
            schema = _infer_file_schema(item, source, INFER_MAX_ROWS, max_line_bytes)
        except (OSError, ValueError, pa.ArrowInvalid) as error:
            message = f"cannot infer a schema from {item.key}: {error}; declare the product's schema"
            raise InferenceError(message) from None
        if schema is not None:
            _check_names(list(schema), item.key)
            return schema
    keys = ", ".join(item.key for item in files) or "none"
    raise InferenceError(f"cannot infer a schema: no file holds data (files: {keys}); declare the product's schema")


def _check_names(names: list[str], key: str) -> None:
    bad = [
        name for name in names if not COLUMN_PATTERN.match(name) or len(name) > 63 or name.lower() in RESERVED_COLUMNS
    ]
    if bad:
        shown = ", ".join(show_name(name) for name in bad)
        raise InferenceError(
            f"cannot infer a schema from {key}: column name(s) {shown} are not usable "
            "(they must match [A-Za-z_][A-Za-z0-9_]* and not be a platform column); declare the product's schema"
        )
    lowered = [name.lower() for name in names]
    if len(set(lowered)) != len(lowered):
        raise InferenceError(
            f"cannot infer a schema from {key}: column names repeat or differ only by case; "
            "declare the product's schema"
        )


def _infer_file_schema(
    item: InputFile, source: SourceSettings, max_rows: int, max_line_bytes: int
) -> dict[str, ColumnType] | None:
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
    return _infer_csv(text, source, max_rows, max_line_bytes)


def _infer_csv(data: bytes, source: SourceSettings, max_rows: int, max_line_bytes: int) -> dict[str, ColumnType] | None:
    dialect = Dialect.of(source)
    first = first_nonblank_line(data)
    if first is None:
        return None
    _, start, end, after = first
    fields = split_line(data[start:end], dialect)
    if source.header:
        names, body = [name.strip(TRIM_CHARACTERS) for name in fields], data[after:]
    else:
        names, body = [f"col_{index + 1}" for index in range(len(fields))], data
    columns = [f"c{index}" for index in range(len(names))]
    if NON_BREAK.search(body) is None:
        return {name: STRING for name in names}
    table, _ = read_growing(
        lambda size: pacsv.read_csv(
            io.BytesIO(body),
            read_options=pacsv.ReadOptions(column_names=columns, use_threads=False, block_size=size),
            parse_options=dialect.parse_options(lambda row: "skip"),
            convert_options=string_options(columns),
        ),
        INFER_BLOCK_BYTES,
        max_line_bytes,
    )
    table = table.slice(0, max_rows)
    return {name: infer_text_type(single_chunk(table.column(index))) for index, name in enumerate(names)}


def _infer_json(data: bytes, max_rows: int) -> dict[str, ColumnType] | None:
    values: dict[str, list[Any]] = {}
    for line in TEXT_BREAK.split(data.decode("utf-8")):
        if is_blank_json_line(line):
            continue
        try:
            value = load_json_line(line)
        except JSON_LINE_ERRORS:
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
    if all(isinstance(item, JsonInt) for item in present):
        return BIGINT if all(len(item) <= 20 and -(2**63) <= int(item) < 2**63 for item in present) else DOUBLE
    if all(isinstance(item, (JsonInt, JsonFloat)) for item in present):
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
    if all_true(pc.match_substring_regex(present, r"(?i)^(?:true|false)\z")):
        return BOOLEAN
    leading_zero = pc.any(pc.match_substring_regex(present, r"^[+-]?0[0-9]")).as_py()
    for candidate in (BIGINT, DOUBLE, DATE, TIMESTAMP):
        if candidate in (BIGINT, DOUBLE) and leading_zero:
            continue  # codes such as 007 keep their zeros
        _, bad = cast_text(present, candidate)
        if bad is None:
            return candidate
    return STRING
