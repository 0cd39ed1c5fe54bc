"""Declared column types: their Arrow types, and the text rules both parsers apply.

A declared type is a :class:`~platform_assets.column_types.ColumnType`: one of
string, int, bigint, double, boolean, date, timestamp, decimal(p,s). Functions
here take the value or its text (``"decimal(12,2)"``), which they parse.

Text rules (a value read as text, from CSV or a JSON string):

- string: kept as is; nothing is trimmed.
- every other type: spaces and tabs around the value are ignored, and a value
  that is then empty is NULL. The rest must match the type's pattern below
  (patterns are RE2- and Java-compatible and anchored with ``\\z``), and be in
  range; anything else rejects the row with :func:`value_reason`.
- int / bigint: optional sign and ASCII digits, within int32 / int64.
- double: decimal or exponent notation, or nan / inf / infinity (any case;
  inf and infinity may be signed).
- decimal(p,s): optional sign, digits with an optional point, no exponent; at
  most p-s digits before the point (leading zeros aside) and at most s after
  it (trailing zeros aside). Nothing is rounded.
- boolean: true / false / 1 / 0, any case.
- date: YYYY-MM-DD, a real calendar date, year 0001-9999.
- timestamp: YYYY-MM-DD, optionally followed by ``T`` or a space,
  HH:MM:SS, up to 6 fractional digits and a ``Z`` or ``+HH[:MM]`` offset (hours
  00-14); no offset means UTC. Stored as microseconds in UTC.

JSON values: null is NULL; a string follows the text rules; a number is taken
by int / bigint (an integer literal in range), double (any number) and
decimal (no exponent, digits as above); true / false by boolean; any other
pairing rejects the row with :func:`json_kind_reason`.

Reject reasons of one row are joined with "; " in declared column order.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from platform_assets.column_types import (
    BIGINT,
    BOOLEAN,
    DATE,
    DOUBLE,
    INT,
    STRING,
    TIMESTAMP,
    ColumnType,
    TypeKind,
    parse_columns,
)

TRIM_CHARACTERS = " \t"
MAX_SHOWN_VALUE = 100

INT_PATTERN = r"^[+-]?[0-9]+\z"
DOUBLE_PATTERN = r"(?i)^(?:[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[+-]?[0-9]+)?|nan|[+-]?inf(?:inity)?)\z"
DECIMAL_PATTERN = r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)\z"
# group 1: integer digits without leading zeros; group 2: fraction digits without trailing zeros
DECIMAL_DIGITS_PATTERN = r"^[+-]?0*([0-9]*?)(?:\.([0-9]*?)0*)?\z"
BOOLEAN_PATTERN = r"(?i)^(?:true|false|1|0)\z"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\z"
# groups: 1 date, 2 time, 3 fraction with its point, 4 signed offset hours, 5 offset minutes
TIMESTAMP_PATTERN = (
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2})"
    r"(?:[T ]([0-9]{2}:[0-9]{2}:[0-9]{2})(\.[0-9]{1,6})?(?:Z|([+-](?:0[0-9]|1[0-4]))(?::?([0-5][0-9]))?)?)?\z"
)
YEAR_ZERO_PREFIX = "0000"

INT_LIMITS = {INT: ("2147483647", "2147483648"), BIGINT: ("9223372036854775807", "9223372036854775808")}
"""The largest magnitude of a positive and of a negative value of each integer type, as digits."""

_SIMPLE = {
    STRING: pa.string(),
    INT: pa.int32(),
    BIGINT: pa.int64(),
    DOUBLE: pa.float64(),
    BOOLEAN: pa.bool_(),
    DATE: pa.date32(),
    TIMESTAMP: pa.timestamp("us", tz="UTC"),
}

_PATTERNS = {
    TypeKind.INT: INT_PATTERN,
    TypeKind.BIGINT: INT_PATTERN,
    TypeKind.DOUBLE: DOUBLE_PATTERN,
    TypeKind.BOOLEAN: BOOLEAN_PATTERN,
    TypeKind.DATE: DATE_PATTERN,
    TypeKind.TIMESTAMP: TIMESTAMP_PATTERN,
    TypeKind.DECIMAL: DECIMAL_PATTERN,
}


def normalize_schema(schema: Mapping[str, ColumnType | str]) -> dict[str, ColumnType]:
    """The schema with every type parsed; ValueError on an unknown type or no column."""
    if not schema:
        raise ValueError("the schema declares no columns")
    return parse_columns(schema)


def arrow_type(column_type: ColumnType | str) -> pa.DataType:
    """The Arrow type that stores a declared type."""
    parsed = ColumnType.of(column_type)
    if parsed.is_decimal:
        assert parsed.precision is not None and parsed.scale is not None
        return pa.decimal128(parsed.precision, parsed.scale)
    return _SIMPLE[parsed]


def declared_arrow_schema(schema: Mapping[str, ColumnType | str]) -> pa.Schema:
    """The product columns in declared order with their Arrow types (all nullable)."""
    return pa.schema([pa.field(name, arrow_type(column_type)) for name, column_type in schema.items()])


def rows_arrow_schema(schema: Mapping[str, ColumnType | str]) -> pa.Schema:
    """The schema of ``ParseResult.rows``: the product columns, then ``_source_file`` and ``_source_line``."""
    return (
        declared_arrow_schema(schema)
        .append(pa.field("_source_file", pa.string(), nullable=False))
        .append(pa.field("_source_line", pa.int64()))
    )


def text_pattern(column_type: ColumnType) -> str | None:
    """The anchored pattern a value of the type must match (None for string)."""
    return _PATTERNS.get(column_type.kind)


def value_reason_parts(column: str, column_type: ColumnType) -> tuple[str, str]:
    """``(prefix, suffix)``: a text reject reason is prefix + value (first 100 characters) + suffix."""
    return f"column {column}: '", f"' is not {column_type.article} {column_type}"


def value_reason(column: str, column_type: ColumnType, value: str) -> str:
    prefix, suffix = value_reason_parts(column, column_type)
    return f"{prefix}{value[:MAX_SHOWN_VALUE]}{suffix}"


def json_kind_reason(column: str, column_type: ColumnType, kind: str) -> str:
    """Reason for a JSON value of ``kind`` (number, boolean, object, array) that the type cannot take."""
    return f"column {column}: a JSON {kind} is not {column_type.article} {column_type}"


def column_count_reason(expected: int, found: int) -> str:
    return f"expected {expected} columns, found {found}"


# ----------------------------------------------------------------- parquet


def declared_type_of(data_type: pa.DataType) -> ColumnType | None:
    """The declared type an Arrow (Parquet, Iceberg) type maps to exactly, or None."""
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_string_view(data_type):
        return STRING
    if pa.types.is_int8(data_type) or pa.types.is_int16(data_type) or pa.types.is_int32(data_type):
        return INT
    if pa.types.is_int64(data_type):
        return BIGINT
    if pa.types.is_float32(data_type) or pa.types.is_float64(data_type):
        return DOUBLE
    if pa.types.is_boolean(data_type):
        return BOOLEAN
    if pa.types.is_date32(data_type) or pa.types.is_date64(data_type):
        return DATE
    if pa.types.is_timestamp(data_type) and data_type.unit != "ns":
        return TIMESTAMP
    if pa.types.is_decimal(data_type) and data_type.precision <= 38:
        return ColumnType.decimal(data_type.precision, data_type.scale)
    return None


def describe_arrow_type(data_type: pa.DataType) -> str:
    """The declared name of an Arrow type where there is one, else Arrow's own name."""
    if pa.types.is_timestamp(data_type) and data_type.unit == "ns":
        return "timestamp with nanoseconds (write microseconds)"
    found = declared_type_of(data_type)
    return str(found) if found is not None else str(data_type)


def parquet_castable(data_type: pa.DataType, column_type: ColumnType | str) -> bool:
    """True when a Parquet column of ``data_type`` can be read as ``column_type`` without loss.

    Allowed: the exact type, int to bigint, int or float to double, decimal to a
    decimal with at least as many integer and fraction digits, int / bigint to
    a decimal with room for 10 / 19 integer digits.
    """
    wanted = ColumnType.of(column_type)
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    found = declared_type_of(data_type)
    if found is None:
        return False
    if found == wanted:
        return True
    if wanted == BIGINT:
        return found == INT
    if wanted == DOUBLE:
        return found == INT or pa.types.is_float32(data_type)
    if not wanted.is_decimal:
        return False
    assert wanted.scale is not None and wanted.integer_digits is not None
    if found.is_decimal:
        assert found.scale is not None and found.integer_digits is not None
        return found.scale <= wanted.scale and found.integer_digits <= wanted.integer_digits
    if found.is_integer:
        assert found.integer_digits is not None
        return wanted.integer_digits >= found.integer_digits
    return False
