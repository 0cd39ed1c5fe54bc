"""Text columns cast to declared types with Arrow compute kernels, by the rules in ``types.py``.

:func:`cast_text` casts one column (a value that breaks the rules becomes NULL
and is flagged); :func:`cast_columns` casts a file's columns and joins the
reasons of each rejected row; :func:`rows_table` keeps the good rows. Both the
Arrow parser and schema inference cast with these functions.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from platform_assets.column_types import DATE, TIMESTAMP, ColumnType, TypeKind
from platform_assets.ingest.parsing.types import (
    DECIMAL_DIGITS_PATTERN,
    INT_LIMITS,
    MAX_SHOWN_VALUE,
    TIMESTAMP_PATTERN,
    TRIM_CHARACTERS,
    YEAR_ZERO_PREFIX,
    arrow_type,
    json_kind_reason,
    rows_arrow_schema,
    text_pattern,
    value_reason_parts,
)


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


def rows_table(
    key: str,
    schema: dict[str, ColumnType],
    typed: list[pa.Array] | list[pa.ChunkedArray],
    reasons: pa.Array | pa.ChunkedArray | None,
    lines: pa.Array,
) -> pa.Table:
    """The rows of one file: the typed columns, ``_source_file`` and ``_source_line`` (``lines``, one per
    row of ``typed``), without the rows that have a reason."""
    count = len(typed[0]) if typed else 0
    source = pc.fill_null(pa.nulls(count, pa.string()), key)
    table = pa.Table.from_arrays([*typed, source, lines], schema=rows_arrow_schema(schema))
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
    if not all_true(matched):
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


def single_chunk(column: pa.ChunkedArray) -> pa.Array:
    """The column as one array (no copy when it has one chunk)."""
    return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()


def all_true(mask: pa.Array) -> bool:
    """True when no value of ``mask`` is false (NULLs aside)."""
    result = pc.all(mask).as_py()
    return result is None or result
