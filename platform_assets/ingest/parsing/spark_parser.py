"""The Spark parser: the same contract as the Arrow parser, computed by Spark.

CSV and JSON lines: one Spark job per call (the main pass), and a second one
only when some file has rejected rows (the line pass).

- The driver reads only the start of each file: a CSV header is found and
  checked with the functions the Arrow parser uses (``text``, ``drift``: same
  line, names, drift and blank-header errors). A file in an encoding Spark cannot decode line by line
  (anything but UTF-8 and ISO-8859-1) is first decoded, streaming, into a
  UTF-8 copy in a scratch folder.
- Main pass: Spark's text reader reads all files of the call in one scan, in
  blocks sized for the cores, so no file has to fit in memory and a big file
  is read in parallel. Each line is checked (UTF-8), split, cast and judged
  by Spark SQL expressions that implement the rules in ``types.py``
  (``spark_rules``); the text and reason are computed for rejected lines
  only. Each row carries the hash of its file's ``input_file_name()`` (the
  driver hashes the names Spark reports) and the offset of its block. One
  ``toArrow`` brings the rows back; the driver orders them by file and block,
  drops each file's header line (the first line in the file's first blocks
  that reads as its header) and builds the file errors with the message
  functions both parsers use (``result``). ``spark_text`` runs both passes.
  Blank lines come back too (flagged, a byte each), so the rows of a file
  are all its lines in order and a row's ``_source_line`` is its position.
- Line pass: the files with rejects are read again, each whole by one task,
  so the row number within the task is the physical line number; the lines
  whose text is a rejected text are kept. A line's verdict depends on its text
  only, so those are the rejected lines in order (the header line is left out
  by its number). With very many distinct rejected texts, every line is
  judged again instead.

Parquet: the driver checks every file's footer (as the Arrow parser does),
then one read with the declared schema covers the files that passed.

The jobs run in child sessions of the given session (``newSession``: same
SparkContext, own settings), so block sizes can follow each call without
changing the caller's settings. Use one parser from one thread at a time.

Long lines: Spark's text reader finishes a line past the end of its block, so
a line of any length is read (a 50 MiB CSV value or JSON line: tested; the
row must fit in a task's memory, and in the driver's with ``toArrow``).
``platform.processing.max_line_bytes`` bounds only the Arrow parser's CSV
reader, so a CSV file with a record over it fails there and parses here. A
JSON line over 20,000,000 characters, where ``try_parse_json`` stops (Jackson's
string limit), is read by ``from_json`` with that limit lifted
(``spark_rules.parse_json_line``), as the Arrow parser reads it.

Differences from the Arrow parser (documented gaps):

- A quoted CSV value that spans lines is not supported: each of its lines is
  judged on its own ("unterminated quoted field ..." or a column count).
- Encodings other than UTF-8 and ISO-8859-1 are decoded on the driver into a
  scratch copy (streaming), so the driver must be able to read the files (as
  it must anyway: the parser takes local paths).
- Naive Parquet timestamps are read in the session time zone, which
  ``get_spark_session`` sets to UTC.
- A JSON line holding a value followed by another value that ends with the
  same character (``{"a":1} {"b":2}``) is read as its first value; the Arrow
  parser rejects it as invalid JSON.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from platform_assets.column_types import ColumnType
from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing.drift import parquet_differences
from platform_assets.ingest.parsing.result import (
    REJECTS_SCHEMA,
    SOURCE_FILE,
    SOURCE_LINE,
    FileError,
    InputFile,
    ParseResult,
    assemble,
    check_call,
    drift_error,
    encoding_error,
    parse_error,
    read_error,
)
from platform_assets.ingest.parsing.spark_files import (
    check_header,
    find_decode_failure,
    read_head,
    starts_with,
    transcode,
)
from platform_assets.ingest.parsing.spark_frames import file_hashes, file_order, glob_escape, sql_settings
from platform_assets.ingest.parsing.spark_rules import UNTERMINATED_REASON
from platform_assets.ingest.parsing.spark_text import TextFile, TextParse
from platform_assets.ingest.parsing.text import UTF8_BOM, UTF8_NAMES, canonical_encoding
from platform_assets.ingest.parsing.types import normalize_schema, rows_arrow_schema

__all__ = ["UNTERMINATED_REASON", "SparkParser"]

_LATIN1 = "iso8859-1"
# settings of every job of the parser: list the explicit local files on the driver (a listing
# job costs more than it saves), and keep generated methods small enough for the JIT to compile
# (HotSpot leaves methods over 8000 bytes interpreted; Spark then splits the stage instead)
_PARSER_SETTINGS = {
    "spark.sql.sources.parallelPartitionDiscovery.threshold": str(1 << 20),
    "spark.sql.codegen.hugeMethodLimit": "8000",
}
_UNSET = ("spark.sql.files.maxPartitionNum",)
# the main pass: blocks of about a quarter of a core's share, so results stream while tasks run
_BLOCKS_PER_CORE = 4
_MIN_BLOCK_BYTES = 2 << 20
_MAX_BLOCK_BYTES = 128 << 20
_OPEN_COST_BYTES = 256 << 10


class SparkParser:
    """Parses with the given SparkSession (see the module docstring).

    The jobs run in child sessions of the given one (``newSession``: the same
    SparkContext, settings of their own), so the parser can size file blocks
    per call without changing the caller's settings; on Spark Connect, which
    has no child sessions, the settings are changed for the duration of a job.
    """

    name = "spark"

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark
        self._children: dict[str, SparkSession | None] = {}
        self._child_settings: dict[str, dict[str, str]] = {}

    @property
    def spark(self) -> SparkSession:
        """The session the parser was given (its jobs run in child sessions of it)."""
        return self._spark

    def parse(
        self, files: list[InputFile], source: SourceSettings, schema: Mapping[str, ColumnType | str]
    ) -> ParseResult:
        columns = normalize_schema(schema)
        check_call(files, source)
        paths = [os.path.abspath(item.path) for item in files]
        if len(set(paths)) != len(paths):
            raise ValueError("two inputs of one parse call name the same path")
        errors: dict[str, FileError] = {}
        readable: list[tuple[int, InputFile]] = []
        for index, item in enumerate(files):
            try:
                if os.path.getsize(item.path) > 0:
                    readable.append((index, item))
            except OSError as error:
                errors[item.key] = read_error(item.key, error.strerror or str(error))
        rows_schema = rows_arrow_schema(columns)
        if source.format == "parquet":
            rows = self._parquet([item for _, item in readable], columns, errors)
            return assemble(files, [rows] if rows is not None else [], [], errors, rows_schema)
        with tempfile.TemporaryDirectory(prefix="platform-spark-") as scratch:
            texts = _prepare(readable, source, columns, errors, scratch)
            if not texts:
                return assemble(files, [], [], errors, rows_schema)
            parsed = TextParse(self, source, columns, texts, errors)
            rows, rejects = parsed.run()
        # what ``assemble`` gives, with the counts Spark's rows already carry (no group-by on the keys)
        rows_per_file = {item.key: 0 for item in files if item.key not in errors}
        rejects_per_file = dict(rows_per_file)
        for text, good, bad in zip(texts, parsed.row_counts.tolist(), parsed.reject_counts.tolist()):
            if text.item.key in rows_per_file:
                rows_per_file[text.item.key], rejects_per_file[text.item.key] = good, bad
        return ParseResult(
            rows=rows.cast(rows_schema),
            rejects=rejects.cast(REJECTS_SCHEMA) if rejects is not None else REJECTS_SCHEMA.empty_table(),
            rows_per_file=rows_per_file,
            rejects_per_file=rejects_per_file,
            file_errors=dict(errors),
        )

    # ---------------------------------------------------------- sessions

    @contextmanager
    def session(self, kind: str, settings: dict[str, str]) -> Iterator[SparkSession]:
        """A session for one kind of job ("main", "whole_files") with ``_PARSER_SETTINGS`` and ``settings`` applied."""
        if kind not in self._children:
            try:
                child = self._spark.newSession()
                zone = self._spark.conf.get("spark.sql.session.timeZone")
                if zone is not None:
                    child.conf.set("spark.sql.session.timeZone", zone)
                for key in _UNSET:
                    child.conf.unset(key)
                for key, value in _PARSER_SETTINGS.items():
                    child.conf.set(key, value)
            except Exception:
                child = None
            self._children[kind] = child
            self._child_settings[kind] = dict(_PARSER_SETTINGS)
        child = self._children[kind]
        if child is not None:
            current = self._child_settings[kind]
            for key, value in settings.items():
                if current.get(key) != value:
                    child.conf.set(key, value)
                    current[key] = value
            yield child
            return
        with sql_settings(self._spark, {**_PARSER_SETTINGS, **settings}, _UNSET):
            yield self._spark

    def main_settings(self, total_bytes: int) -> dict[str, str]:
        """Block sizes for a main pass over ``total_bytes``: a few blocks per core, small files packed."""
        try:
            cores = max(1, int(self._spark.sparkContext.defaultParallelism))
        except Exception:
            return {}
        block = min(_MAX_BLOCK_BYTES, max(_MIN_BLOCK_BYTES, total_bytes // (cores * _BLOCKS_PER_CORE) + 1))
        return {
            "spark.sql.files.maxPartitionBytes": str(block),
            "spark.sql.files.openCostInBytes": str(min(block, _OPEN_COST_BYTES)),
        }

    # ---------------------------------------------------------- parquet

    def _parquet(
        self, files: list[InputFile], schema: dict[str, ColumnType], errors: dict[str, FileError]
    ) -> pa.Table | None:
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
        paths = [os.path.abspath(item.path) for item in passed]
        with self.session("main", self.main_settings(sum(os.path.getsize(path) for path in paths))) as session:
            frame = session.read.schema(ddl).parquet(*[glob_escape(path) for path in paths])
            file_of = file_hashes(frame, paths)
            data = frame.select(
                F.xxhash64(F.input_file_name()).alias("_fh"),
                F.col("_metadata.row_index").alias("_bs"),
                *[F.col(f"`{name}`").alias(f"_c{index}") for index, name in enumerate(schema)],
            )
            data_rows = data.toArrow()
        order, file_index = file_order(data_rows, file_of)
        if order is not None:
            data_rows = data_rows.take(order)
        keys = pa.array([item.key for item in passed], pa.string())
        columns = [data_rows.column(f"_c{index}") for index in range(len(schema))]
        lines = pc.add(data_rows.column("_bs").cast(pa.int64()), 1)  # the row ordinal + 1
        return pa.Table.from_arrays(
            [*columns, keys.take(pa.array(file_index)), lines], names=[*schema, SOURCE_FILE, SOURCE_LINE]
        )


# ----------------------------------------------------------------- driver prep


def _prepare(
    readable: list[tuple[int, InputFile]],
    source: SourceSettings,
    schema: dict[str, ColumnType],
    errors: dict[str, FileError],
    scratch: str,
) -> list[TextFile]:
    """The files Spark reads, after the checks the driver does on their first bytes."""
    encoding = canonical_encoding(source.encoding)
    declared = list(schema)
    texts: list[TextFile] = []
    for index, item in readable:
        path, latin1 = item.path, encoding == _LATIN1
        try:
            # Spark's line reader drops a leading UTF-8 byte-order mark, which ISO-8859-1 reads as text
            copy = encoding not in UTF8_NAMES and (not latin1 or starts_with(path, UTF8_BOM))
            if copy:
                path, latin1 = os.path.join(scratch, f"{index}.txt"), False
                failure = transcode(item.path, source.encoding, path)
                if failure is not None:
                    errors[item.key] = encoding_error(item.key, source.encoding, failure)
                    continue
            text = TextFile(index, item, path, latin1)
            if source.format == "csv" and source.header:
                head, skipped = read_head(path, strip_bom=not latin1)
                if latin1:
                    head = head.decode("iso8859-1").encode("utf-8")  # only line breaks come before the header
                check = check_header(item.key, head, skipped, source, declared)
                if check.undecodable:
                    failure = find_decode_failure(item.path, source.encoding)
                    if failure is None:
                        raise RuntimeError(f"{item.key}: the header line is not UTF-8, but the file decodes")
                    errors[item.key] = encoding_error(item.key, source.encoding, failure)
                    continue
                if check.error is not None:
                    errors[item.key] = check.error
                    if latin1 or copy:
                        continue  # decodes in full: the header error stands
                    text.check_only = True
                elif check.header is None:
                    continue  # no non-blank line: no rows
                text.header = check.header
            texts.append(text)
        except OSError as error:
            errors[item.key] = read_error(item.key, error.strerror or str(error))
    return texts
