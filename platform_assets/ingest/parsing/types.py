"""Declared column types: their Arrow types, and the text rules both engines apply.

A declared type is one of string, int, bigint, double, boolean, date,
timestamp, decimal(p,s) (normalized by ``config.parse_column_type``).

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

import pyarrow as pa

from platform_assets.config import decimal_precision_scale, parse_column_type

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

INT_LIMITS = {"int": (10, "2147483647", "2147483648"), "bigint": (19, "9223372036854775807", "9223372036854775808")}
NUMERIC_TYPES = ("int", "bigint", "double")

_SIMPLE = {
    "string": pa.string(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}

_PATTERNS = {
    "int": INT_PATTERN,
    "bigint": INT_PATTERN,
    "double": DOUBLE_PATTERN,
    "boolean": BOOLEAN_PATTERN,
    "date": DATE_PATTERN,
    "timestamp": TIMESTAMP_PATTERN,
}


def normalize_schema(schema: dict[str, str]) -> dict[str, str]:
    """The schema with every type normalized; ValueError on an unknown type."""
    if not schema:
        raise ValueError("the schema declares no columns")
    return {name: parse_column_type(column_type) for name, column_type in schema.items()}


def arrow_type(column_type: str) -> pa.DataType:
    """The Arrow type that stores a declared type."""
    normalized = parse_column_type(column_type)
    if normalized in _SIMPLE:
        return _SIMPLE[normalized]
    precision, scale = decimal_precision_scale(normalized)  # type: ignore[misc]
    return pa.decimal128(precision, scale)


def declared_arrow_schema(schema: dict[str, str]) -> pa.Schema:
    """The product columns in declared order with their Arrow types (all nullable)."""
    return pa.schema([pa.field(name, arrow_type(column_type)) for name, column_type in schema.items()])


def rows_arrow_schema(schema: dict[str, str]) -> pa.Schema:
    """The schema of ``ParseResult.rows``: the product columns, then ``_source_file``."""
    return declared_arrow_schema(schema).append(pa.field("_source_file", pa.string(), nullable=False))


def is_decimal(column_type: str) -> bool:
    return decimal_precision_scale(column_type) is not None


def text_pattern(column_type: str) -> str | None:
    """The anchored pattern a value of the type must match (None for string)."""
    if column_type == "string":
        return None
    return DECIMAL_PATTERN if is_decimal(column_type) else _PATTERNS[column_type]


def value_reason_parts(column: str, column_type: str) -> tuple[str, str]:
    """``(prefix, suffix)``: a text reject reason is prefix + value (first 100 characters) + suffix."""
    article = "an" if column_type[0] in "aeiou" else "a"
    return f"column {column}: '", f"' is not {article} {column_type}"


def value_reason(column: str, column_type: str, value: str) -> str:
    prefix, suffix = value_reason_parts(column, column_type)
    return f"{prefix}{value[:MAX_SHOWN_VALUE]}{suffix}"


def json_kind_reason(column: str, column_type: str, kind: str) -> str:
    """Reason for a JSON value of ``kind`` (number, boolean, object, array) that the type cannot take."""
    article = "an" if column_type[0] in "aeiou" else "a"
    return f"column {column}: a JSON {kind} is not {article} {column_type}"


def column_count_reason(expected: int, found: int) -> str:
    return f"expected {expected} columns, found {found}"


# ----------------------------------------------------------------- parquet


def declared_type_of(data_type: pa.DataType) -> str | None:
    """The declared type an Arrow (Parquet) type maps to exactly, or None."""
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    if pa.types.is_string(data_type) or pa.types.is_large_string(data_type) or pa.types.is_string_view(data_type):
        return "string"
    if pa.types.is_int8(data_type) or pa.types.is_int16(data_type) or pa.types.is_int32(data_type):
        return "int"
    if pa.types.is_int64(data_type):
        return "bigint"
    if pa.types.is_float32(data_type) or pa.types.is_float64(data_type):
        return "double"
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_date32(data_type) or pa.types.is_date64(data_type):
        return "date"
    if pa.types.is_timestamp(data_type) and data_type.unit != "ns":
        return "timestamp"
    if pa.types.is_decimal(data_type) and data_type.precision <= 38:
        return f"decimal({data_type.precision},{data_type.scale})"
    return None


def describe_arrow_type(data_type: pa.DataType) -> str:
    """The declared name of an Arrow type where there is one, else Arrow's own name."""
    if pa.types.is_timestamp(data_type) and data_type.unit == "ns":
        return "timestamp with nanoseconds (write microseconds)"
    return declared_type_of(data_type) or str(data_type)


def parquet_castable(data_type: pa.DataType, column_type: str) -> bool:
    """True when a Parquet column of ``data_type`` can be read as ``column_type`` without loss.

    Allowed: the exact type, int to bigint, int or float to double, decimal to a
    decimal with at least as many integer and fraction digits, int / bigint to
    a decimal with room for 10 / 19 integer digits.
    """
    if pa.types.is_dictionary(data_type):
        data_type = data_type.value_type
    found = declared_type_of(data_type)
    if found is None:
        return False
    if found == column_type:
        return True
    if column_type == "bigint":
        return found == "int"
    if column_type == "double":
        return found == "int" or pa.types.is_float32(data_type)
    target = decimal_precision_scale(column_type)
    if target is None:
        return False
    precision, scale = target
    source = decimal_precision_scale(found)
    if source is not None:
        return source[1] <= scale and source[0] - source[1] <= precision - scale
    if found in ("int", "bigint"):
        return precision - scale >= INT_LIMITS[found][0]
    return False
