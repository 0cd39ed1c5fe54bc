"""PostgreSQL's COPY binary format: the fields of one row, and key values as text that casts back exactly.

A PostgreSQL-to-PostgreSQL seed moves its chunks in COPY binary format: the
replica then skips parsing text (numeric, date and timestamp input functions
are most of a text COPY's cost) and the primary skips formatting it. Binary
COPY needs the same column types on both sides (the replica's table is built
from the same declaration, and :mod:`.schema` checks the primary's) and the
same server encoding for text (checked by the caller, else text format).

The seed's keyset pagination still needs the last row's key, kept as text and
bound back with ``CAST(:k AS type)`` (see :mod:`.queries`): :func:`key_texts`
decodes the leading fields of one binary row into that text, for every type a
product may declare (``text``, ``integer``, ``bigint``, ``double precision``,
``boolean``, ``date``, ``timestamp with time zone``, ``numeric``), including
BC dates, infinities and NaN. Keys of any other type use the text format.

Layout (PostgreSQL docs, "COPY", binary format): an 11-byte signature, a
32-bit flags field and a 32-bit header-extension length, then per row a 16-bit
field count and per field a 32-bit length (-1 for NULL) and the value in the
type's send format; a 16-bit -1 ends the data. The server sends one CopyData
message per row, the header with the first row and the trailer on its own.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
TRAILER = b"\xff\xff"
POSTGRES_EPOCH_JDATE = 2_451_545  # Julian day of 2000-01-01
USECS_PER_DAY = 86_400_000_000
_INT32 = struct.Struct(">i")
_INT16 = struct.Struct(">h")
_NUMERIC_HEAD = struct.Struct(">hhHh")
_NUMERIC_NEG, _NUMERIC_NAN, _NUMERIC_PINF, _NUMERIC_NINF = 0x4000, 0xC000, 0xD000, 0xF000
_SIMPLE = {"text", "integer", "bigint", "smallint", "double precision", "boolean", "date", "timestamp with time zone"}


class BinaryFormatError(ValueError):
    """A COPY binary message that is not what the format says (a bug or an incompatible server)."""


def supported(column_type: str) -> bool:
    """True when :func:`key_texts` can decode a key of this PostgreSQL type."""
    return column_type in _SIMPLE or column_type == "numeric" or column_type.startswith("numeric(")


def header_size(message: bytes) -> int:
    """Bytes of the file header at the start of ``message`` (0 when it has none)."""
    if not message.startswith(SIGNATURE):
        return 0
    (extension,) = _INT32.unpack_from(message, len(SIGNATURE) + 4)
    return len(SIGNATURE) + 8 + extension


def row_fields(row: bytes) -> list[bytes | None]:
    """The raw fields of one binary row (None for NULL); BinaryFormatError unless ``row`` is exactly one row."""
    if len(row) < 2:
        raise BinaryFormatError(f"a COPY binary row of {len(row)} bytes")
    (count,) = _INT16.unpack_from(row, 0)
    offset = 2
    fields: list[bytes | None] = []
    for _ in range(count):
        if offset + 4 > len(row):
            raise BinaryFormatError("a COPY binary row ends inside a field length")
        (length,) = _INT32.unpack_from(row, offset)
        offset += 4
        if length < 0:
            fields.append(None)
            continue
        if offset + length > len(row):
            raise BinaryFormatError("a COPY binary row ends inside a field")
        fields.append(row[offset : offset + length])
        offset += length
    if offset != len(row):
        raise BinaryFormatError(f"a COPY binary message holds {len(row) - offset} bytes beyond its row")
    return fields


def key_texts(row: bytes, types: Sequence[str]) -> list[str | None]:
    """The first ``len(types)`` fields of one binary row as text that ``CAST(text AS type)`` reads back exactly."""
    fields = row_fields(row)
    if len(fields) < len(types):
        raise BinaryFormatError(f"a COPY binary row has {len(fields)} fields, the key needs {len(types)}")
    return [None if field is None else value_text(field, column_type) for field, column_type in zip(fields, types)]


def value_text(field: bytes, column_type: str) -> str:
    """One value in its type's binary send format, as exact text input for that type."""
    if column_type == "text":
        return field.decode("utf-8")
    if column_type in ("integer", "bigint", "smallint"):
        return str(int.from_bytes(field, "big", signed=True))
    if column_type == "boolean":
        return "true" if field != b"\x00" else "false"
    if column_type == "double precision":
        return _float_text(struct.unpack(">d", field)[0])
    if column_type == "date":
        return _date_text(int.from_bytes(field, "big", signed=True))
    if column_type == "timestamp with time zone":
        return _timestamp_text(int.from_bytes(field, "big", signed=True))
    if column_type == "numeric" or column_type.startswith("numeric("):
        return _numeric_text(field)
    raise BinaryFormatError(f"no binary decoder for keys of type {column_type!r}")


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


def j2date(julian_day: int) -> tuple[int, int, int]:
    """(year, month, day) of a Julian day, as PostgreSQL's ``j2date`` computes it (year <= 0 is BC)."""
    julian = julian_day + 32044
    quad = julian // 146097
    extra = (julian - quad * 146097) * 4 + 3
    julian += 60 + quad * 3 + extra // 146097
    quad = julian // 1461
    julian -= quad * 1461
    year = julian * 4 // 1461
    julian = ((julian + 305) % 365 if year != 0 else (julian + 306) % 366) + 123
    year += quad * 4
    quad = julian * 2141 // 65536
    return year - 4800, (quad + 10) % 12 + 1, julian - 7834 * quad // 256


def _ymd_text(julian_day: int) -> tuple[str, str]:
    """('YYYY-MM-DD', ' BC' or '') of a Julian day."""
    year, month, day = j2date(julian_day)
    if year > 0:
        return f"{year:04d}-{month:02d}-{day:02d}", ""
    return f"{1 - year:04d}-{month:02d}-{day:02d}", " BC"


def _date_text(days: int) -> str:
    """A date: days since 2000-01-01; the extremes of int32 are -infinity and infinity."""
    if days == -(2**31):
        return "-infinity"
    if days == 2**31 - 1:
        return "infinity"
    ymd, era = _ymd_text(days + POSTGRES_EPOCH_JDATE)
    return ymd + era


def _timestamp_text(microseconds: int) -> str:
    """A timestamp with time zone: microseconds since 2000-01-01 00:00 UTC, written in UTC."""
    if microseconds == -(2**63):
        return "-infinity"
    if microseconds == 2**63 - 1:
        return "infinity"
    days, time_of_day = divmod(microseconds, USECS_PER_DAY)
    seconds, fraction = divmod(time_of_day, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    ymd, era = _ymd_text(days + POSTGRES_EPOCH_JDATE)
    return f"{ymd} {hour:02d}:{minute:02d}:{second:02d}.{fraction:06d}+00{era}"


def _numeric_text(field: bytes) -> str:
    """A numeric: base-10000 digits with a weight, a sign and a display scale, as exact decimal text."""
    count, weight, sign, scale = _NUMERIC_HEAD.unpack_from(field, 0)
    if sign == _NUMERIC_NAN:
        return "NaN"
    if sign == _NUMERIC_PINF:
        return "Infinity"
    if sign == _NUMERIC_NINF:
        return "-Infinity"
    digits = struct.unpack_from(f">{count}h", field, _NUMERIC_HEAD.size)
    magnitude = 0
    for digit in digits:
        magnitude = magnitude * 10000 + digit
    shift = 4 * (weight - count + 1) + scale  # value * 10**scale == magnitude * 10**shift
    scaled = magnitude * 10**shift if shift >= 0 else magnitude // 10 ** (-shift)
    text = str(scaled).rjust(scale + 1, "0")
    if scale:
        text = f"{text[:-scale]}.{text[-scale:]}"
    return ("-" if sign == _NUMERIC_NEG else "") + text
