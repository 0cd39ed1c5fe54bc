"""Schema inference (a product without a declared schema) and schema drift messages.

:func:`infer_schema` reads the first file that holds data and returns its
columns with their types (``ColumnType``); the caller holds them as the
product's schema from then on.
The difference functions return one human line per difference, in a fixed
order: new columns (file order), missing columns (declared order), then
retyped or repeated columns.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping

import pyarrow as pa

from platform_assets.column_types import ColumnType
from platform_assets.config import COLUMN_PATTERN, RESERVED_COLUMNS, SourceSettings
from platform_assets.ingest.parsing.result import InputFile
from platform_assets.ingest.parsing.types import describe_arrow_type, parquet_castable

INFER_MAX_ROWS = 100_000
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class InferenceError(ValueError):
    """No schema can be inferred; the message says why and suggests declaring one."""


def show_name(name: str) -> str:
    """A column name as printed in messages (quoted when it is not a plain identifier)."""
    return name if _IDENTIFIER.match(name) else json.dumps(name)


def schema_differences(expected: Mapping[str, ColumnType], found: Mapping[str, ColumnType]) -> list[str]:
    """Lines describing how ``found`` (name -> declared type) differs from ``expected``."""
    lines = [f"new column {show_name(name)}" for name in found if name not in expected]
    lines += [f"missing column {show_name(name)}" for name in expected if name not in found]
    lines += [
        f"column {show_name(name)} was {expected[name]} now {found[name]}"
        for name in expected
        if name in found and found[name] != expected[name]
    ]
    return lines


def header_differences(declared: list[str], header: list[str]) -> list[str]:
    """Lines describing how a CSV header differs from the declared column names (order is free)."""
    lines = [f"new column {show_name(name)}" for name in _unique(header) if name not in declared]
    lines += [f"missing column {show_name(name)}" for name in declared if name not in header]
    counts = Counter(header)
    lines += [f"column {show_name(name)} appears {counts[name]} times" for name in _unique(header) if counts[name] > 1]
    return lines


def parquet_differences(expected: Mapping[str, ColumnType | str], found: pa.Schema) -> list[str]:
    """Lines describing why a Parquet file's schema cannot be read as ``expected``."""
    names = found.names
    lines = [f"new column {show_name(name)}" for name in _unique(names) if name not in expected]
    lines += [f"missing column {show_name(name)}" for name in expected if name not in names]
    counts = Counter(names)
    lines += [f"column {show_name(name)} appears {counts[name]} times" for name in _unique(names) if counts[name] > 1]
    for name, column_type in expected.items():
        if counts.get(name) == 1:
            data_type = found.field(name).type
            if not parquet_castable(data_type, column_type):
                lines.append(f"column {show_name(name)} was {column_type} now {describe_arrow_type(data_type)}")
    return lines


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


def infer_schema(files: list[InputFile], source: SourceSettings) -> dict[str, ColumnType]:
    """Infer the columns and their types from the first file that holds data.

    Text values get the first of boolean (true/false words only), bigint, double
    (neither with leading zeros), date, timestamp that every value of the column
    satisfies, else string; an all-empty column is string. JSON numbers give
    bigint or double, JSON booleans boolean, JSON strings follow the text rule,
    mixed kinds give string. Parquet types map one to one. CSV without a header
    names the columns col_1, col_2, ... Raises InferenceError when no file holds
    data or a column name cannot be used.
    """
    from platform_assets.ingest.parsing import arrow_engine

    for item in files:
        try:
            schema = arrow_engine.infer_file_schema(item, source, INFER_MAX_ROWS)
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
