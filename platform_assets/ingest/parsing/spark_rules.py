"""Spark SQL expressions that apply the rules of ``types.py`` to one line of text.

:class:`LineRules` turns a frame with a ``_text`` column (one CSV record or
JSON line, decoded) into a reject flag, an optional reason and one typed
column per declared column, exactly as the Arrow parser judges the same text.

CSV lines without the quote or escape character are split on the delimiter
(Java's single-character fast path); other lines go through Java regular
expressions that split and unquote them as pyarrow.csv does. Values are
trimmed (``btrim`` only where a value starts or ends with a space or tab: it
is slow) and checked with the anchored patterns of ``types.py`` before a
``try_cast`` (which alone would accept more, and round decimals).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from platform_assets.column_types import BOOLEAN, DATE, DOUBLE, STRING, TIMESTAMP, ColumnType
from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing.types import (
    MAX_SHOWN_VALUE,
    TIMESTAMP_PATTERN,
    TRIM_CHARACTERS,
    YEAR_ZERO_PREFIX,
    json_kind_reason,
    text_pattern,
    value_reason_parts,
)

UNTERMINATED_REASON = "unterminated quoted field (the spark parser does not support quoted values that span lines)"
_JAVA_REGEX_META = ".$|()[{^?*+\\"


@dataclass(frozen=True)
class Plan:
    """Expressions over a ``_text`` column: ``stages`` define helper columns, each from the ones
    before; ``reject``, ``reason`` and ``typed`` then use them."""

    stages: tuple[dict[str, Column], ...]
    reject: Column
    reason: Column | None
    typed: tuple[Column, ...]
    jvm: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)

    def apply(self, frame: DataFrame, first: dict[str, Column], first_jvm: dict[int, Any]) -> DataFrame:
        """``frame`` with the columns of ``first`` (none when empty), then of each stage, added in order.

        ``first_jvm`` is the :func:`project` cache of the owner of ``first``.
        """
        if first:
            frame = project(frame, first, first_jvm)
        for stage in self.stages:
            frame = project(frame, stage, self.jvm)
        return frame


def project(frame: DataFrame, columns: dict[str, Column] | list[Column], cache: dict[int, Any]) -> DataFrame:
    """``frame.withColumns(columns)`` for a dict, ``frame.select(*columns)`` for a list.

    pyspark sends a Python list of columns to the JVM with one py4j round trip
    per element, on every call (``withColumns`` of ten columns: 29 round
    trips). On classic Spark the JVM lists are built on the first call and
    kept in ``cache`` (owned by whoever owns ``columns``, which must not
    change), so later projections cost one round trip. Spark Connect, which
    has no JVM in this process, gets the public API.
    """
    jdf = getattr(frame, "_jdf", None)
    if jdf is None:
        return frame.withColumns(columns) if isinstance(columns, dict) else frame.select(*columns)
    from pyspark.sql.classic.column import _to_seq

    kept = cache.get(id(columns))
    if kept is None or kept[0] is not columns:
        context = frame.sparkSession.sparkContext
        if isinstance(columns, dict):
            seqs = (_to_seq(context, list(columns)), _to_seq(context, [column._jc for column in columns.values()]))
        else:
            seqs = (None, _to_seq(context, [column._jc for column in columns]))
        kept = cache[id(columns)] = (columns, *seqs)
    _, names, values = kept
    result = jdf.withColumns(names, values) if names is not None else jdf.select(values)
    return type(frame)(result, frame.sparkSession)


class _Stages:
    """Collects stages: each expression is computed once, in a projection of its own."""

    def __init__(self) -> None:
        self.stages: list[dict[str, Column]] = []

    def add(self, columns: dict[str, Column]) -> None:
        if columns:
            self.stages.append(columns)


class LineRules:
    """Classifies lines of one source format against one declared schema.

    The expressions are built once per rules object (building them costs a
    round trip to the JVM per operator) and reused for every call.
    """

    def __init__(self, source: SourceSettings, schema: dict[str, ColumnType]) -> None:
        self.schema = schema
        is_csv = source.format == "csv"
        self.csv = _Csv(source) if is_csv else None
        self._plans: dict[tuple[tuple[int, ...] | None, bool], Plan] = {}
        line = F.col("_line")
        # the lines the format skips: empty (CSV), or only spaces and tabs (JSON)
        self.blank = line == "" if is_csv else line.rlike(r"^[ \t]*\z")

    def plan(self, positions: tuple[int, ...] | None, with_reason: bool) -> Plan:
        """The expressions that judge ``_text``: reject flag, reason (``with_reason``), typed values.

        ``positions`` gives the 0-based field of each declared column (CSV).
        The typed values are only meaningful where the flag is false.
        """
        key = (positions, with_reason)
        if key not in self._plans:
            stages = _Stages()
            if self.csv is None:
                reject, reason, typed = _json_stage(self.schema, stages, with_reason)
            else:
                width = len(self.schema)
                reject, reason, typed = self.csv.stage(
                    stages, self.schema, positions or tuple(range(width)), with_reason
                )
            self._plans[key] = Plan(tuple(stages.stages), reject, reason, tuple(typed))
        return self._plans[key]


# -------------------------------------------------------------------- CSV


def _java_char(char: str) -> str:
    return f"\\x{{{ord(char):x}}}"


def _java_replacement(char: str) -> str:
    return "\\" + char if char in "\\$" else char


def _split_pattern(char: str) -> str:
    """A regular expression matching ``char`` that Java's String.split takes without a regex engine."""
    if char in _JAVA_REGEX_META:
        return "\\" + char
    if char.isascii() and char.isalnum():
        return char
    return char if len(char.encode("utf-16-le")) == 2 else _java_char(char)


class _Csv:
    """Java regular expressions that split and unquote CSV lines as pyarrow.csv does.

    A field starting with the quote runs to the closing quote (a doubled quote,
    or the escape character, protects a quote), then takes any characters up
    to the next delimiter as they are; other fields run to the next delimiter.
    With an escape character, it protects the next character anywhere. A line
    holding neither the quote nor the escape character is split plainly.
    """

    def __init__(self, source: SourceSettings) -> None:
        self.delimiter, self.quote = source.delimiter, source.quote
        self.escape = source.escape if source.escape and source.escape != source.quote else None
        self.split_pattern = _split_pattern(self.delimiter)
        d, q = _java_char(self.delimiter), _java_char(self.quote)
        if self.escape is None:
            inner = f"[^{q}]*+(?:{q}{q}[^{q}]*+)*+"
            rest = f"[^{d}]*+"
        else:
            e = _java_char(self.escape)
            inner = f"[^{q}{e}]*+(?:{e}.[^{q}{e}]*+)*+"
            rest = f"[^{d}{e}]*+(?:{e}.?[^{d}{e}]*+)*+"
        token = f"(?:{q}{inner}{q}{rest}|(?!{q}){rest})"
        self.line_ok = f"(?s)^(?:{d}{token})++\\z"
        self._extract = f"(?s){d}({token})"
        self._inner = f"(?s)^{q}({inner}){q}"
        self._rest = f"(?s)^{q}{inner}{q}(.*)\\z"

    def plain(self, line: Column) -> Column:
        """True where the line holds neither the quote nor the escape character."""
        plain = ~line.contains(self.quote)
        return plain & ~line.contains(self.escape) if self.escape is not None else plain

    def _unescape(self, text: Column) -> Column:
        if self.escape is None:
            return text
        return F.regexp_replace(text, f"(?s){_java_char(self.escape)}(.)", "$1")

    def unquote(self, token: Column) -> Column:
        """The value of a raw field (quotes still in place): NULL when empty and unquoted."""
        if self.escape is None:
            q = _java_char(self.quote)
            inner = F.regexp_replace(F.regexp_extract(token, self._inner, 1), f"{q}{q}", _java_replacement(self.quote))
        else:
            inner = self._unescape(F.regexp_extract(token, self._inner, 1))
        quoted = F.concat(inner, self._unescape(F.regexp_extract(token, self._rest, 1)))
        return (
            F.when(token.isNull(), F.lit(None))
            .when(token.startswith(self.quote), quoted)
            .when(token == "", F.lit(None))
            .otherwise(self._unescape(token))
        )

    def stage(
        self, frame: _Stages, schema: dict[str, ColumnType], positions: tuple[int, ...], with_reason: bool
    ) -> tuple[Column, Column | None, list[Column]]:
        width = len(schema)
        text = F.col("_text")
        frame.add({"_plain": self.plain(text)})
        plain = F.col("_plain")
        delimited = F.concat(F.lit(self.delimiter), text)
        # a plain line is split as it is (an empty field is NULL); other lines are split into
        # raw fields by a regular expression and unquoted field by field (only for those lines)
        quoted = F.transform(F.regexp_extract_all(delimited, F.lit(self._extract), 1), self.unquote)
        frame.add(
            {
                "_tokens": F.when(plain, F.split(text, self.split_pattern, -1)).otherwise(quoted),
                "_ok": plain | delimited.rlike(self.line_ok),
            }
        )
        values = {}
        for index, position in enumerate(positions):
            token = F.try_element_at("_tokens", F.lit(position + 1))
            values[f"_u{index}"] = F.when(plain & (token == ""), F.lit(None)).otherwise(token)
        frame.add(values)
        specs = [(f"_u{index}", name, column_type) for index, (name, column_type) in enumerate(schema.items())]
        typed, bad, reasons = cast_stage(frame, specs, with_reason)
        count, ok = F.size("_tokens"), F.col("_ok")
        reject = ~ok | (count != width)
        for flag in bad:
            reject = reject | flag
        reason = None
        if with_reason:
            reason = (
                F.when(~ok, F.lit(UNTERMINATED_REASON))
                .when(count != width, F.concat(F.lit(f"expected {width} columns, found "), count.cast("string")))
                .otherwise(join_reasons(reasons))
            )
        return reject, reason, typed


def join_reasons(reasons: list[Column]) -> Column:
    if not reasons:
        return F.lit(None).cast("string")
    joined = F.concat_ws("; ", *reasons)
    return F.when(joined != "", joined)


# ----------------------------------------------------------------- casting


def cast_stage(
    frame: _Stages, specs: list[tuple[str, str, ColumnType]], with_reason: bool
) -> tuple[list[Column], list[Column], list[Column]]:
    """Cast text columns by the rules in ``types.py``.

    ``specs`` holds (text column, declared name, declared type). Adds stages;
    returns the typed value per spec (NULL where rejected), the rejected-value
    flags of the non-string specs, and their reasons (NULL where the value is
    good; only ``with_reason``).
    """
    cast = [(column, name, column_type) for column, name, column_type in specs if column_type != STRING]
    trimmed = {column: _trimmed(F.col(column)) for column, _, _ in cast}
    frame.add({f"{c}_x": F.when(trimmed[c] != "", trimmed[c]) for c, _, _ in cast})
    frame.add({f"{c}_y": convert_text(F.col(f"{c}_x"), t) for c, _, t in cast})
    bad, reasons = [], []
    for column, name, column_type in cast:
        flag = F.col(f"{column}_x").isNotNull() & F.col(f"{column}_y").isNull()
        bad.append(flag)
        if with_reason:
            prefix, suffix = value_reason_parts(name, column_type)
            shown = F.substring(column, 1, MAX_SHOWN_VALUE)
            reasons.append(F.when(flag, F.concat(F.lit(prefix), shown, F.lit(suffix))))
    typed = [F.col(column if column_type == STRING else f"{column}_y") for column, _, column_type in specs]
    return typed, bad, reasons


def _trimmed(value: Column) -> Column:
    """``value`` without the spaces and tabs around it (``btrim`` only where there are any: it is slow)."""
    ends = [value.startswith(char) | value.endswith(char) for char in TRIM_CHARACTERS]
    padded = ends[0]
    for more in ends[1:]:
        padded = padded | more
    return F.when(padded, F.btrim(value, F.lit(TRIM_CHARACTERS))).otherwise(value)


def decimal_pattern(scale: int) -> str:
    """``types.DECIMAL_PATTERN`` limited to ``scale`` significant fraction digits (trailing zeros aside).

    The integer digits are left to ``try_cast``, which gives NULL when they
    do not fit; with the fraction limited, nothing is rounded.
    """
    fraction = f"[0-9]{{0,{scale}}}0*"
    return rf"^[+-]?(?:[0-9]+(?:\.{fraction})?|\.(?=[0-9]){fraction})\z"


def convert_text(text: Column, column_type: ColumnType) -> Column:
    """The typed value of trimmed, non-empty text; NULL where the text is not a value of the type."""
    spark_type = str(column_type)
    if column_type.is_decimal:
        assert column_type.scale is not None
        return F.when(text.rlike(decimal_pattern(column_type.scale)), text.try_cast(spark_type))
    matches = text.rlike(text_pattern(column_type) or "")
    if column_type.is_integer or column_type == DOUBLE:
        return F.when(matches, text.try_cast(spark_type))
    if column_type == BOOLEAN:
        lowered = F.lower(text)
        return F.when(matches, F.when(lowered.isin("true", "1"), F.lit(True)).otherwise(F.lit(False)))
    if column_type == DATE:
        return F.when(matches & ~text.startswith(YEAR_ZERO_PREFIX), text.try_cast("date"))
    assert column_type == TIMESTAMP, column_type
    date, time, fraction, hours, minutes = (F.regexp_extract(text, TIMESTAMP_PATTERN, i) for i in range(1, 6))
    offset = F.when(hours == "", F.lit("Z")).otherwise(
        F.concat(hours, F.lit(":"), F.when(minutes == "", F.lit("00")).otherwise(minutes))
    )
    normalized = F.concat(date, F.lit("T"), F.when(time == "", F.lit("00:00:00")).otherwise(time), fraction, offset)
    return F.when(matches & ~text.startswith(YEAR_ZERO_PREFIX), normalized.try_cast("timestamp"))


# -------------------------------------------------------------------- JSON

JACKSON_MAX_STRING = 20_000_000
"""Jackson's default limit on one string value (characters), which ``try_parse_json`` keeps."""
# the JSON data source's reader with that limit lifted, and as strict as try_parse_json otherwise
_STRICT_JSON = {
    "maxStringLen": str(2**31 - 1),
    "allowSingleQuotes": "false",
    "allowNonNumericNumbers": "false",
    "allowNumericLeadingZeros": "false",
    "allowBackslashEscapingAnyCharacter": "false",
    "allowUnquotedFieldNames": "false",
    "allowComments": "false",
    "allowUnquotedControlChars": "false",
}


def parse_json_line(line: Column) -> Column:
    """The line as a variant, NULL where it is not JSON (trailing text is ignored, as by ``try_parse_json``).

    ``try_parse_json`` gives NULL for a string value over ``JACKSON_MAX_STRING``
    characters; a line that long is read by ``from_json`` with the limit lifted.
    """
    parsed = F.try_parse_json(line)
    long_line = F.length(line) > JACKSON_MAX_STRING
    return F.when(parsed.isNull() & long_line, F.from_json(line, "variant", _STRICT_JSON)).otherwise(parsed)


def _json_stage(
    schema: dict[str, ColumnType], frame: _Stages, with_reason: bool
) -> tuple[Column, Column | None, list[Column]]:
    """Reject flag, reason and typed values of one JSON object per line (``arrow_json.parse_json``)."""
    declared = F.array(*[F.lit(name) for name in schema])
    frame.add({"_v": parse_json_line(F.col("_text")), "_keys": F.json_object_keys("_text")})
    frame.add(
        {
            "_top": F.schema_of_variant("_v"),
            "_missing": F.array_except(declared, F.col("_keys")),
            "_unknown": F.array_except(F.col("_keys"), declared),
        }
    )
    missing, unknown = F.col("_missing"), F.col("_unknown")
    key_reason = F.concat_ws(
        "; ",
        F.when(F.size(missing) > 0, F.concat(F.lit("missing column(s): "), F.array_join(missing, ", "))),
        F.when(F.size(unknown) > 0, F.concat(F.lit("unknown column(s): "), F.array_join(unknown, ", "))),
    )
    indexes = range(len(schema))
    frame.add(
        {
            "_key_reason": key_reason,
            **{f"_x{i}": F.variant_get("_v", f"$.{name}", "variant") for i, name in zip(indexes, schema)},
        }
    )
    frame.add(
        {
            **{f"_k{i}": F.schema_of_variant(f"_x{i}") for i in indexes},
            **{f"_s{i}": F.variant_get(f"_x{i}", "$", "string") for i in indexes},
        }
    )
    specs = [(f"_s{i}", name, column_type) for i, (name, column_type) in enumerate(schema.items())]
    text_typed, _, text_reasons = cast_stage(frame, specs, True)
    frame.add({f"_n{i}": _json_number(i, column_type, text_typed[i]) for i, column_type in enumerate(schema.values())})
    frame.add({f"_sr{i}": reason for i, reason in enumerate(_per_spec(specs, text_reasons))})
    values = {}
    for i, (name, column_type) in enumerate(schema.items()):
        typed, reason = _json_value(i, name, column_type, text_typed[i])
        values[f"_j{i}"], values[f"_je{i}"] = typed, reason
    frame.add(values)
    top, line = F.col("_top"), F.col("_text")
    # try_parse_json ignores text after the value: the line must end where the value does
    complete = (
        F.when(top.startswith("OBJECT"), line.rlike(r"\}[ \t]*\z"))
        .when(top.startswith("ARRAY"), line.rlike(r"\][ \t]*\z"))
        .when(top == "STRING", line.rlike(r"\"[ \t]*\z"))
        .when(top == "BOOLEAN", line.rlike(r"e[ \t]*\z"))
        .when(top == "VOID", line.rlike(r"l[ \t]*\z"))
        .otherwise(line.rlike(r"[0-9][ \t]*\z"))
    )
    reason = (
        F.when(F.col("_v").isNull() | ~complete, F.lit("invalid JSON"))
        .when(~top.startswith("OBJECT<"), F.lit("not a JSON object"))
        .when(F.col("_key_reason") != "", F.col("_key_reason"))
        .otherwise(join_reasons([F.col(f"_je{i}") for i in indexes]))
    )
    frame.add({"_reason": reason})
    reason_column = F.col("_reason")
    return reason_column.isNotNull(), reason_column if with_reason else None, [F.col(f"_j{i}") for i in indexes]


def _per_spec(specs: list[tuple[str, str, ColumnType]], reasons: list[Column]) -> list[Column]:
    """The text reason of each spec (a NULL literal for string specs, which have none)."""
    found = iter(reasons)
    return [F.lit(None).cast("string") if column_type == STRING else next(found) for _, _, column_type in specs]


def _json_number(index: int, column_type: ColumnType, text_typed: Column) -> Column:
    """The typed value of a JSON number (NULL when the type cannot take it)."""
    kind, value = F.col(f"_k{index}"), F.col(f"_x{index}")
    if column_type.is_integer:
        return F.when(kind == "BIGINT", F.try_variant_get(value, "$", str(column_type)))
    if column_type == DOUBLE:
        return F.col(f"_s{index}").try_cast("double")
    if column_type.is_decimal:
        return F.when(kind != "DOUBLE", text_typed)
    return F.lit(None)


def _json_value(index: int, name: str, column_type: ColumnType, text_typed: Column) -> tuple[Column, Column]:
    """(typed value, reason or NULL) of one JSON value by its kind (see ``arrow_json._json_value``)."""
    kind, value, number = F.col(f"_k{index}"), F.col(f"_x{index}"), F.col(f"_n{index}")
    is_number = kind.isin("BIGINT", "DOUBLE", "FLOAT") | kind.startswith("DECIMAL")
    numeric = column_type.is_numeric
    text_reason = F.col(f"_sr{index}")
    number_reason = F.lit(json_kind_reason(name, column_type, "number"))
    boolean_reason = F.lit(None) if column_type == BOOLEAN else F.lit(json_kind_reason(name, column_type, "boolean"))
    typed = (
        F.when(kind == "STRING", text_typed)
        .when(is_number, number if numeric else F.lit(None))
        .when(kind == "BOOLEAN", F.variant_get(value, "$", "boolean") if column_type == BOOLEAN else F.lit(None))
    )
    reason = (
        F.when(kind == "VOID", F.lit(None))
        .when(kind == "STRING", text_reason)
        .when(is_number, F.when(number.isNull(), number_reason) if numeric else number_reason)
        .when(kind == "BOOLEAN", boolean_reason)
        .when(kind.startswith("OBJECT"), F.lit(json_kind_reason(name, column_type, "object")))
        .when(kind.startswith("ARRAY"), F.lit(json_kind_reason(name, column_type, "array")))
    )
    return typed.cast(str(column_type)), reason
