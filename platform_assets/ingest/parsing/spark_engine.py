"""The Spark engine: the same contract as the Arrow engine, computed by Spark.

CSV and JSON: all files of a call are read by one ``binaryFile`` scan (each
file whole, so it must stay well under 2 GB), decoded, split into physical
lines with their numbers (``posexplode``), then tokenized, checked and cast
with Spark SQL expressions that implement the rules in ``types.py``. One
action (``toArrow``) brings back good rows, rejects and one status row per
file; the driver sorts them and builds the file errors with the same message
functions as the Arrow engine.

Parquet: the driver checks every file's footer (as the Arrow engine does),
then one read with the declared schema covers the files that passed.

Differences from the Arrow engine (documented gaps):

- A quoted CSV value that spans lines is not supported: each of its lines is
  rejected ("unterminated quoted field ..." or a column count).
- Encodings other than UTF-8 and ISO-8859-1 are decoded by a Python UDF, so
  executors need Python (as PySpark always has).
- The line and offset reported for an invalid UTF-8 byte are found through
  the first U+FFFD after repair: a U+FFFD earlier in the file moves them.
- Naive Parquet timestamps are read in the session time zone, which
  ``get_spark_session`` sets to UTC.
- A JSON line holding a value followed by another value that ends with the
  same character (``{"a":1} {"b":2}``) is read as its first value; the Arrow
  engine rejects it as invalid JSON. Lines beyond Spark's variant size limit
  (16 MiB) are rejected as invalid JSON.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

from platform_assets.config import SourceSettings, decimal_precision_scale
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
    NUMERIC_TYPES,
    TIMESTAMP_PATTERN,
    YEAR_ZERO_PREFIX,
    is_decimal,
    json_kind_reason,
    normalize_schema,
    rows_arrow_schema,
    text_pattern,
    value_reason_parts,
)

BREAK = r"\r\n|\r|\n"
UNTERMINATED_REASON = "unterminated quoted field (the spark engine does not support quoted values that span lines)"
_KIND, _PATH, _LINE, _STATUS, _HEADER = "_kind", "_path", "_line_number", "_status", "_header"
_ENC_LINE, _ENC_OFFSET, _ENC_BYTE = "_enc_line", "_enc_offset", "_enc_byte"
_NATIVE_UTF8 = ("utf-8", "utf-8-sig")
_NATIVE_LATIN1 = "iso8859-1"


class SparkEngine:
    """Parses with the given SparkSession (one read and one action per call)."""

    name = "spark"

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark

    def parse(self, files: list[InputFile], source: SourceSettings, schema: dict[str, str]) -> ParseResult:
        schema = normalize_schema(schema)
        check_call(files, source)
        paths = [os.path.abspath(item.path) for item in files]
        if len(set(paths)) != len(paths):
            raise ValueError("two inputs of one parse call name the same path")
        errors: dict[str, FileError] = {}
        readable: list[InputFile] = []
        for item in files:
            try:
                if os.path.getsize(item.path) > 0:
                    readable.append(item)
            except OSError as error:
                errors[item.key] = read_error(item.key, error.strerror or str(error))
        rows_schema = rows_arrow_schema(schema)
        if source.format == "parquet":
            rows = self._parquet(readable, schema, errors)
            return assemble(files, [rows] if rows is not None else [], [], errors, rows_schema)
        if not readable:
            return assemble(files, [], [], errors, rows_schema)
        collected = self._text_frame(readable, source, schema).toArrow()
        order = _file_order(collected.column(_PATH), readable)
        collected = collected.append_column("_order", order).sort_by([("_order", "ascending"), (_LINE, "ascending")])
        keys = pa.array([item.key for item in readable], pa.string()).take(collected.column("_order"))
        collected = collected.append_column("_source_file", keys)
        _file_errors(collected, source, list(schema), errors)
        kinds = collected.column(_KIND)
        rows = collected.filter(pc.equal(kinds, "row")).select([*schema, "_source_file"])
        rejects = collected.filter(pc.equal(kinds, "reject")).select(["_source_file", _LINE, "_raw", "_reason"])
        return assemble(files, [rows.cast(rows_schema)], [rejects.cast(REJECTS_SCHEMA)], errors, rows_schema)

    # ------------------------------------------------------------- text

    def _text_frame(self, files: list[InputFile], source: SourceSettings, schema: dict[str, str]) -> DataFrame:
        """One row per file (status) and one per kept line (a good row or a reject).

        Built as a chain of projections, each computing an expensive expression
        once (Spark keeps them apart rather than duplicating the work).
        """
        declared = list(schema)
        raw = self._spark.read.format("binaryFile").load([_glob_escape(os.path.abspath(item.path)) for item in files])
        text, valid, detail = _decode(F.col("content"), source.encoding)
        frame = raw.select(
            F.col("_metadata.file_path").alias(_PATH),
            text.alias("_decoded"),
            valid.alias("_valid"),
            *[column.alias(name) for name, column in detail.items()],
        )
        frame = frame.withColumn("_t", F.regexp_replace("_decoded", "^\ufeff", "")).drop("_decoded")
        status = F.when(~F.col("_valid"), "encoding").when(F.col("_t").rlike(r"^[\r\n]*\z"), "empty")
        csv = _Csv(source) if source.format == "csv" else None
        if csv is not None and source.header:
            frame, header_ok, positions = csv.header_stage(frame, declared)
            status = status.when(~header_ok, "header")
        else:
            frame = frame.withColumns({"_header_line": F.lit(0), _HEADER: F.lit(None).cast("array<string>")})
            positions = [F.lit(index + 1) for index in range(len(declared))]
        frame = frame.withColumns({_STATUS: status.otherwise("ok"), **{f"_pos{i}": p for i, p in enumerate(positions)}})
        lines = F.when(F.col(_STATUS) == "ok", F.split("_t", BREAK, -1)).otherwise(F.array().cast("array<string>"))
        frame = frame.select(
            _PATH,
            _STATUS,
            _HEADER,
            "_header_line",
            *detail,
            *[f"_pos{index}" for index in range(len(declared))],
            F.posexplode(F.concat(F.array(F.lit(None).cast("string")), lines)).alias("_index", "_text"),
        )
        line, is_file = F.col("_text"), F.col("_index") == 0
        if csv is None:
            frame = frame.where(is_file | ~line.rlike(r"^[ \t]*\z"))
            frame, typed = _json_stage(frame, schema)
        else:
            frame = frame.where(is_file | ((line != "") & (F.col("_index") > F.col("_header_line"))))
            frame, typed = csv.line_stage(frame, schema)
        kind = F.when(is_file, "file").when(F.col("_reason").isNull(), "row").otherwise("reject")
        frame = frame.withColumn(_KIND, kind)
        kind = F.col(_KIND)
        return frame.select(
            _PATH,
            _KIND,
            F.when(~is_file, F.col("_index")).cast("long").alias(_LINE),
            F.when(kind == "reject", line).alias("_raw"),
            F.when(~is_file, F.col("_reason")).alias("_reason"),
            F.when(is_file, F.col(_STATUS)).alias(_STATUS),
            F.when(is_file, F.col(_HEADER)).alias(_HEADER),
            *[F.when(is_file, F.col(name)).alias(name) for name in detail],
            *[
                F.when(kind == "row", F.col(column)).cast(schema[name]).alias(name)
                for name, column in zip(declared, typed)
            ],
        )

    # ---------------------------------------------------------- parquet

    def _parquet(self, files: list[InputFile], schema: dict[str, str], errors: dict[str, FileError]) -> pa.Table | None:
        passed: list[InputFile] = []
        for item in files:
            try:
                differences = parquet_differences(schema, pq.read_schema(item.path))
            except (pa.ArrowInvalid, OSError) as error:
                errors[item.key] = parse_error(item.key, f"not a readable Parquet file ({error})")
                continue
            if differences:
                errors[item.key] = drift_error(item.key, differences)
            else:
                passed.append(item)
        if not passed:
            return None
        ddl = ", ".join(f"`{name}` {column_type}" for name, column_type in schema.items())
        frame = self._spark.read.schema(ddl).parquet(*[_glob_escape(os.path.abspath(item.path)) for item in passed])
        collected = frame.select(
            *[F.col(f"`{name}`") for name in schema],
            F.col("_metadata.file_path").alias(_PATH),
            F.col("_metadata.row_index").alias(_LINE),
        ).toArrow()
        order = _file_order(collected.column(_PATH), passed)
        collected = collected.append_column("_order", order).sort_by([("_order", "ascending"), (_LINE, "ascending")])
        keys = pa.array([item.key for item in passed], pa.string()).take(collected.column("_order"))
        return collected.select(list(schema)).append_column("_source_file", keys)


def _file_errors(
    collected: pa.Table, source: SourceSettings, declared: list[str], errors: dict[str, FileError]
) -> None:
    """Add the error of each file whose status row says it could not be parsed."""
    statuses = collected.filter(pc.equal(collected.column(_KIND), "file"))
    for record in statuses.select(["_source_file", _STATUS, _HEADER, _ENC_LINE, _ENC_OFFSET, _ENC_BYTE]).to_pylist():
        key = record["_source_file"]
        if record[_STATUS] == "encoding":
            failure = DecodeFailure(record[_ENC_LINE] or 1, record[_ENC_OFFSET] or 0, record[_ENC_BYTE] or 0)
            errors[key] = encoding_error(key, source.encoding, failure)
        elif record[_STATUS] == "header":
            names = record[_HEADER] or []
            errors[key] = drift_error(key, header_differences(declared, names)) if any(names) else no_header_error(key)


# --------------------------------------------------------------- decoding


def _decode(content: Column, encoding: str) -> tuple[Column, Column, dict[str, Column]]:
    """(text, valid, {detail column: where decoding failed}) for the declared encoding."""
    name = canonical_encoding(encoding)
    if name in _NATIVE_UTF8:
        valid = F.is_valid_utf8(content)
        repaired = F.make_valid_utf8(content)
        prefix = F.substring(repaired, F.lit(1), F.instr(repaired, F.lit("\ufffd")) - 1)
        offset = F.octet_length(prefix)
        detail = {
            _ENC_LINE: F.when(~valid, F.size(F.split(prefix, BREAK, -1))).cast("long"),
            _ENC_OFFSET: F.when(~valid, offset).cast("long"),
            _ENC_BYTE: F.when(~valid, F.conv(F.hex(F.substring(content, offset + 1, F.lit(1))), 16, 10)).cast("int"),
        }
        return F.when(valid, content.cast("string")), valid, detail
    if name == _NATIVE_LATIN1:
        none = F.lit(None)
        detail = {_ENC_LINE: none.cast("long"), _ENC_OFFSET: none.cast("long"), _ENC_BYTE: none.cast("int")}
        return F.decode(content, "ISO-8859-1"), F.lit(True), detail
    decoded = _decoder_udf(name)(content)
    detail = {_ENC_LINE: decoded["line"], _ENC_OFFSET: decoded["offset"], _ENC_BYTE: decoded["byte"]}
    return decoded["text"], decoded["text"].isNotNull(), detail


def _decoder_udf(encoding: str):  # type: ignore[no-untyped-def]
    decode = make_text_decoder(encoding)

    def run(data: bytes | None) -> tuple[str | None, int | None, int | None, int | None]:
        if data is None:
            return None, None, None, None
        text, failure = decode(bytes(data))
        if failure is None:
            return text, None, None, None
        return None, failure[0], failure[1], failure[2]

    result = StructType(
        [
            StructField("text", StringType()),
            StructField("line", LongType()),
            StructField("offset", LongType()),
            StructField("byte", IntegerType()),
        ]
    )
    return F.udf(run, result, useArrow=False)


# -------------------------------------------------------------------- CSV


def _java_char(char: str) -> str:
    return "\\x{%x}" % ord(char)


def _java_replacement(char: str) -> str:
    return "\\" + char if char in "\\$" else char


class _Csv:
    """Java regular expressions that split and unquote CSV lines as pyarrow.csv does.

    A field starting with the quote runs to the closing quote (a doubled quote,
    or the escape character, protects a quote), then takes any characters up
    to the next delimiter as they are; other fields run to the next delimiter.
    With an escape character, it protects the next character anywhere.
    """

    def __init__(self, source: SourceSettings) -> None:
        self.delimiter, self.quote = source.delimiter, source.quote
        self.escape = source.escape if source.escape and source.escape != source.quote else None
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

    def tokens(self, line: Column) -> Column:
        """The raw fields of ``line`` (quotes still in place)."""
        return F.regexp_extract_all(F.concat(F.lit(self.delimiter), line), F.lit(self._extract), 1)

    def _unescape(self, text: Column) -> Column:
        if self.escape is None:
            return text
        return F.regexp_replace(text, f"(?s){_java_char(self.escape)}(.)", "$1")

    def unquote(self, token: Column) -> Column:
        """The value of a raw field: NULL when empty and unquoted."""
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

    def header_stage(self, frame: DataFrame, declared: list[str]) -> tuple[DataFrame, Column, list[Column]]:
        """Add the header names (first non-blank line) and its line number; return (frame, ok, positions)."""
        frame = frame.withColumns(
            {
                "_first": F.regexp_extract("_t", r"^[\r\n]*([^\r\n]*)", 1),
                "_header_line": F.size(F.split(F.regexp_extract("_t", r"^[\r\n]*", 0), BREAK, -1)),
            }
        )
        first = F.col("_first")
        frame = frame.withColumns(
            {
                "_first_ok": F.concat(F.lit(self.delimiter), first).rlike(self.line_ok),
                "_first_tokens": self.tokens(first),
            }
        )
        def name_of(token: Column) -> Column:
            return F.trim(F.coalesce(self.unquote(token), F.lit("")), F.lit(" \t"))

        trimmed = F.transform("_first_tokens", name_of)
        frame = frame.withColumn(_HEADER, F.when(F.col("_first_ok"), trimmed).otherwise(F.array(first)))
        names = F.col(_HEADER)
        declared_array = F.array(*[F.lit(name) for name in declared])
        ok = (
            (F.size(names) == len(declared))
            & (F.size(F.array_distinct(names)) == len(declared))
            & (F.size(F.array_except(names, declared_array)) == 0)
        )
        return frame, ok, [F.array_position(names, F.lit(name)).cast("int") for name in declared]

    def line_stage(self, frame: DataFrame, schema: dict[str, str]) -> tuple[DataFrame, list[str]]:
        """Add ``_reason`` (NULL for a good row) and one typed column per declared column (names returned)."""
        width = len(schema)
        frame = frame.withColumn("_dl", F.concat(F.lit(self.delimiter), F.col("_text")))
        frame = frame.withColumns(
            {"_ok": F.col("_dl").rlike(self.line_ok), "_tokens": F.regexp_extract_all("_dl", F.lit(self._extract), 1)}
        )
        frame = frame.withColumns({f"_v{i}": F.try_element_at("_tokens", F.col(f"_pos{i}")) for i in range(width)})
        frame = frame.withColumns({f"_u{i}": self.unquote(F.col(f"_v{i}")) for i in range(width)})
        specs = [(f"_u{i}", name, column_type) for i, (name, column_type) in enumerate(schema.items())]
        frame, typed, reasons = _cast_stage(frame, specs)
        count = F.size("_tokens")
        reason = (
            F.when(~F.col("_ok"), F.lit(UNTERMINATED_REASON))
            .when(count != width, F.concat(F.lit(f"expected {width} columns, found "), count.cast("string")))
            .otherwise(_join_reasons([F.col(name) for name in reasons]))
        )
        return frame.withColumn("_reason", reason), typed


def _join_reasons(reasons: list[Column]) -> Column:
    if not reasons:
        return F.lit(None).cast("string")
    joined = F.concat_ws("; ", *reasons)
    return F.when(joined != "", joined)


# ----------------------------------------------------------------- casting


def _cast_stage(frame: DataFrame, specs: list[tuple[str, str, str]]) -> tuple[DataFrame, list[str], list[str]]:
    """Cast text columns by the rules in ``types.py``.

    ``specs`` holds (text column, declared name, declared type). Returns the
    frame, the typed column per spec (NULL where rejected) and the reason
    columns (NULL where the value is good) of the non-string specs.
    """
    cast = [(column, name, column_type) for column, name, column_type in specs if column_type != "string"]
    frame = frame.withColumns({f"{c}_r": F.regexp_replace(c, r"^[ \t]+|[ \t]+\z", "") for c, _, _ in cast})
    frame = frame.withColumns({f"{c}_x": F.when(F.col(f"{c}_r") != "", F.col(f"{c}_r")) for c, _, _ in cast})
    frame = frame.withColumns(
        {
            f"{c}_y": F.when(F.col(f"{c}_x").rlike(text_pattern(t) or ""), _convert(F.col(f"{c}_x"), t))
            for c, _, t in cast
        }
    )
    reasons = {}
    for column, name, column_type in cast:
        prefix, suffix = value_reason_parts(name, column_type)
        bad = F.col(f"{column}_x").isNotNull() & F.col(f"{column}_y").isNull()
        shown = F.substring(column, 1, MAX_SHOWN_VALUE)
        reasons[f"{column}_e"] = F.when(bad, F.concat(F.lit(prefix), shown, F.lit(suffix)))
    frame = frame.withColumns(reasons)
    typed = [column if column_type == "string" else f"{column}_y" for column, _, column_type in specs]
    return frame, typed, list(reasons)


def _convert(text: Column, column_type: str) -> Column:
    """Cast text that matched the type's pattern; NULL when out of range or not a calendar value."""
    if column_type in INT_LIMITS or column_type == "double":
        return text.try_cast(column_type)
    if column_type == "boolean":
        lowered = F.lower(text)
        return F.when(lowered.isin("true", "1"), F.lit(True)).when(lowered.isin("false", "0"), F.lit(False))
    if column_type == "date":
        return F.when(~text.startswith(YEAR_ZERO_PREFIX), text.try_cast("date"))
    if column_type == "timestamp":
        date, time, fraction, hours, minutes = (F.regexp_extract(text, TIMESTAMP_PATTERN, i) for i in range(1, 6))
        offset = F.when(hours == "", F.lit("Z")).otherwise(
            F.concat(hours, F.lit(":"), F.when(minutes == "", F.lit("00")).otherwise(minutes))
        )
        normalized = F.concat(date, F.lit("T"), F.when(time == "", F.lit("00:00:00")).otherwise(time), fraction, offset)
        return F.when(~text.startswith(YEAR_ZERO_PREFIX), normalized.try_cast("timestamp"))
    precision, scale = decimal_precision_scale(column_type)  # type: ignore[misc]
    integer = F.length(F.regexp_extract(text, DECIMAL_DIGITS_PATTERN, 1))
    fraction_digits = F.length(F.regexp_extract(text, DECIMAL_DIGITS_PATTERN, 2))
    fits = (integer <= precision - scale) & (fraction_digits <= scale)
    return F.when(fits, text.try_cast(column_type))


# -------------------------------------------------------------------- JSON


def _json_stage(frame: DataFrame, schema: dict[str, str]) -> tuple[DataFrame, list[str]]:
    """Add ``_reason`` (NULL for a good row) and one typed column per declared column (names returned)."""
    declared = F.array(*[F.lit(name) for name in schema])
    frame = frame.withColumns({"_v": F.try_parse_json("_text"), "_keys": F.json_object_keys("_text")})
    frame = frame.withColumns(
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
    frame = frame.withColumns(
        {
            "_key_reason": key_reason,
            **{f"_x{i}": F.variant_get("_v", f"$.{name}", "variant") for i, name in zip(indexes, schema)},
        }
    )
    frame = frame.withColumns(
        {
            **{f"_k{i}": F.schema_of_variant(f"_x{i}") for i in indexes},
            **{f"_s{i}": F.variant_get(f"_x{i}", "$", "string") for i in indexes},
        }
    )
    specs = [(f"_s{i}", name, column_type) for i, (name, column_type) in enumerate(schema.items())]
    frame, text_typed, _ = _cast_stage(frame, specs)
    frame = frame.withColumns(
        {f"_n{i}": _json_number(i, column_type, text_typed[i]) for i, column_type in enumerate(schema.values())}
    )
    values = {}
    for i, (name, column_type) in enumerate(schema.items()):
        typed, reason = _json_value(i, name, column_type, text_typed[i])
        values[f"_j{i}"], values[f"_je{i}"] = typed, reason
    frame = frame.withColumns(values)
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
        .otherwise(_join_reasons([F.col(f"_je{i}") for i in indexes]))
    )
    return frame.withColumn("_reason", reason), [f"_j{i}" for i in indexes]


def _json_number(index: int, column_type: str, text_typed: str) -> Column:
    """The typed value of a JSON number (NULL when the type cannot take it)."""
    kind, value = F.col(f"_k{index}"), F.col(f"_x{index}")
    if column_type in INT_LIMITS:
        return F.when(kind == "BIGINT", F.try_variant_get(value, "$", column_type))
    if column_type == "double":
        return F.col(f"_s{index}").try_cast("double")
    if is_decimal(column_type):
        return F.when(kind != "DOUBLE", F.col(text_typed))
    return F.lit(None)


def _json_value(index: int, name: str, column_type: str, text_typed: str) -> tuple[Column, Column]:
    """(typed value, reason or NULL) of one JSON value by its kind (see ``arrow_engine._json_value``)."""
    kind, value, number = F.col(f"_k{index}"), F.col(f"_x{index}"), F.col(f"_n{index}")
    is_number = kind.isin("BIGINT", "DOUBLE", "FLOAT") | kind.startswith("DECIMAL")
    numeric = column_type in NUMERIC_TYPES or is_decimal(column_type)
    text_reason = F.col(f"_s{index}_e") if column_type != "string" else F.lit(None)
    number_reason = F.lit(json_kind_reason(name, column_type, "number"))
    boolean_reason = F.lit(None) if column_type == "boolean" else F.lit(json_kind_reason(name, column_type, "boolean"))
    typed = (
        F.when(kind == "STRING", F.col(text_typed))
        .when(is_number, number if numeric else F.lit(None))
        .when(kind == "BOOLEAN", F.variant_get(value, "$", "boolean") if column_type == "boolean" else F.lit(None))
    )
    reason = (
        F.when(kind == "VOID", F.lit(None))
        .when(kind == "STRING", text_reason)
        .when(is_number, F.when(number.isNull(), number_reason) if numeric else number_reason)
        .when(kind == "BOOLEAN", boolean_reason)
        .when(kind.startswith("OBJECT"), F.lit(json_kind_reason(name, column_type, "object")))
        .when(kind.startswith("ARRAY"), F.lit(json_kind_reason(name, column_type, "array")))
    )
    return typed.cast(column_type), reason


# ----------------------------------------------------------------- helpers


def _glob_escape(path: str) -> str:
    """``path`` with Hadoop glob characters escaped, so it names exactly one file."""
    return re.sub(r"([\\*?\[\]{}])", r"\\\1", path)


def _file_order(paths: pa.ChunkedArray, files: list[InputFile]) -> pa.Array:
    """The index in ``files`` of each row's Spark file path (``file:`` URI, percent-encoded)."""
    wanted = {os.path.abspath(item.path): index for index, item in enumerate(files)}
    distinct = pc.unique(paths).to_pylist()
    order = []
    for uri in distinct:
        local = unquote(urlsplit(uri).path) if uri.startswith("file:") else uri
        index = wanted.get(local)
        if index is None:
            index = wanted.get(os.path.realpath(local))
        if index is None:
            raise RuntimeError(f"spark read {uri!r}, which is none of the files asked for")
        order.append(index)
    positions = pc.index_in(paths, value_set=pa.array(distinct, pa.string()))
    return pa.array(order, pa.int64()).take(positions)
