"""The Spark engine: the same contract as the Arrow engine, computed by Spark.

CSV and JSON lines: one Spark job per call (the main pass), and a second one
only when some file has rejected rows (the line pass).

- The driver reads only the start of each file: a CSV header is found and
  checked with the Arrow engine's own functions (same line, names, drift and
  blank-header errors). A file in an encoding Spark cannot decode line by line
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
  that reads as its header) and builds the file errors with the Arrow
  engine's message functions.
- Line pass: the files with rejects are read again, each whole by one task,
  so the row number within the task is the physical line number; the lines
  whose text is a rejected text are kept. A line's verdict depends on its text
  only, so those are the rejected lines in order (the header line is left out
  by its number). With very many distinct rejected texts, every line is
  judged again instead.

Parquet: the driver checks every file's footer (as the Arrow engine does),
then one read with the declared schema covers the files that passed.

The jobs run in child sessions of the given session (``newSession``: same
SparkContext, own settings), so block sizes can follow each call without
changing the caller's settings. Use one engine from one thread at a time.

Differences from the Arrow engine (documented gaps):

- A quoted CSV value that spans lines is not supported: each of its lines is
  judged on its own ("unterminated quoted field ..." or a column count).
- Encodings other than UTF-8 and ISO-8859-1 are decoded on the driver into a
  scratch copy (streaming), so the driver must be able to read the files (as
  it must anyway: the engine takes local paths).
- Naive Parquet timestamps are read in the session time zone, which
  ``get_spark_session`` sets to UTC.
- A JSON line holding a value followed by another value that ends with the
  same character (``{"a":1} {"b":2}``) is read as its first value; the Arrow
  engine rejects it as invalid JSON. (A line over 16 MiB, Spark's variant
  size limit, is read like any other: tested.)
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from platform_assets.column_types import ColumnType
from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing.arrow_engine import UTF8_BOM, UTF8_NAMES
from platform_assets.ingest.parsing.inference import parquet_differences
from platform_assets.ingest.parsing.result import (
    REJECTS_SCHEMA,
    SOURCE_FILE,
    FileError,
    InputFile,
    ParseResult,
    assemble,
    canonical_encoding,
    check_call,
    drift_error,
    encoding_error,
    parse_error,
    read_error,
)
from platform_assets.ingest.parsing.spark_files import (
    Header,
    check_header,
    find_decode_failure,
    read_head,
    spark_xxhash64,
    starts_with,
    transcode,
)
from platform_assets.ingest.parsing.spark_rules import UNTERMINATED_REASON, LineRules, project
from platform_assets.ingest.parsing.types import normalize_schema, rows_arrow_schema

__all__ = ["UNTERMINATED_REASON", "SparkEngine"]

_LATIN1 = "iso8859-1"
# kinds of the rows the main pass returns (bit flags)
_REJECT, _HEADER, _UNDECODABLE = 1, 2, 4
_LINE_MASK = (1 << 33) - 1  # monotonically_increasing_id: the row number within the partition
_WHOLE_FILE_BYTES = str(1 << 40)
# settings of every job of the engine: list the explicit local files on the driver (a listing
# job costs more than it saves), and keep generated methods small enough for the JIT to compile
# (HotSpot leaves methods over 8000 bytes interpreted; Spark then splits the stage instead)
_ENGINE_SETTINGS = {
    "spark.sql.sources.parallelPartitionDiscovery.threshold": str(1 << 20),
    "spark.sql.codegen.hugeMethodLimit": "8000",
}
_WHOLE_FILES = {
    "spark.sql.files.maxPartitionBytes": _WHOLE_FILE_BYTES,
    "spark.sql.files.openCostInBytes": _WHOLE_FILE_BYTES,
}
_UNSET = ("spark.sql.files.maxPartitionNum",)
# the main pass: blocks of about a quarter of a core's share, so results stream while tasks run
_BLOCKS_PER_CORE = 4
_MIN_BLOCK_BYTES = 2 << 20
_MAX_BLOCK_BYTES = 128 << 20
_OPEN_COST_BYTES = 256 << 10
# the line pass looks rejected texts up in a set held in the plan, up to these sizes
_MATCH_TEXTS = 10_000
_MATCH_CHARACTERS = 4 << 20


@dataclass
class _Text:
    """One CSV or JSON file as Spark reads it."""

    index: int  # in the call's file list
    item: InputFile
    path: str  # the file Spark reads: the input, or its UTF-8 copy
    latin1: bool  # Spark decodes the bytes as ISO-8859-1 (else they must be valid UTF-8)
    header: Header | None = None
    check_only: bool = False  # the header failed: read only to find undecodable bytes (they win)


class SparkEngine:
    """Parses with the given SparkSession (see the module docstring).

    The jobs run in child sessions of the given one (``newSession``: the same
    SparkContext, settings of their own), so the engine can size file blocks
    per call without changing the caller's settings; on Spark Connect, which
    has no child sessions, the settings are changed for the duration of a job.
    """

    name = "spark"

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark
        self._children: dict[str, SparkSession | None] = {}
        self._child_settings: dict[str, dict[str, str]] = {}

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
            parsed = _TextParse(self, source, columns, texts, errors)
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
        """A session for one kind of job ("main", "whole_files") with ``_ENGINE_SETTINGS`` and ``settings`` applied."""
        if kind not in self._children:
            try:
                child = self._spark.newSession()
                child.conf.set("spark.sql.session.timeZone", self._spark.conf.get("spark.sql.session.timeZone"))
                for key in _UNSET:
                    child.conf.unset(key)
                for key, value in _ENGINE_SETTINGS.items():
                    child.conf.set(key, value)
            except Exception:
                child = None
            self._children[kind] = child
            self._child_settings[kind] = dict(_ENGINE_SETTINGS)
        child = self._children[kind]
        if child is not None:
            current = self._child_settings[kind]
            for key, value in settings.items():
                if current.get(key) != value:
                    child.conf.set(key, value)
                    current[key] = value
            yield child
            return
        with _settings(self._spark, {**_ENGINE_SETTINGS, **settings}, _UNSET):
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
            frame = session.read.schema(ddl).parquet(*[_glob_escape(path) for path in paths])
            file_of = _file_hashes(frame, paths)
            data = frame.select(
                F.xxhash64(F.input_file_name()).alias("_fh"),
                F.col("_metadata.row_index").alias("_bs"),
                *[F.col(f"`{name}`").alias(f"_c{index}") for index, name in enumerate(schema)],
            )
            data_rows = data.toArrow()
        order, file_index = _file_order(data_rows, file_of)
        if order is not None:
            data_rows = data_rows.take(order)
        keys = pa.array([item.key for item in passed], pa.string())
        columns = [data_rows.column(f"_c{index}") for index in range(len(schema))]
        return pa.Table.from_arrays([*columns, keys.take(pa.array(file_index))], names=[*schema, SOURCE_FILE])


# ----------------------------------------------------------------- driver prep


def _prepare(
    readable: list[tuple[int, InputFile]],
    source: SourceSettings,
    schema: dict[str, ColumnType],
    errors: dict[str, FileError],
    scratch: str,
) -> list[_Text]:
    """The files Spark reads, after the checks the driver does on their first bytes."""
    encoding = canonical_encoding(source.encoding)
    declared = list(schema)
    texts: list[_Text] = []
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
            text = _Text(index, item, path, latin1)
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


# ------------------------------------------------------------------ text parse


class _TextParse:
    """One call's CSV or JSON files through the main pass and, for files with rejects, the line pass."""

    def __init__(
        self,
        engine: SparkEngine,
        source: SourceSettings,
        schema: dict[str, ColumnType],
        texts: list[_Text],
        errors: dict[str, FileError],
    ) -> None:
        self.engine, self.source, self.schema = engine, source, schema
        self.texts, self.errors = texts, errors
        self.rules = _rules(engine._spark, source, schema)
        self.paths = [os.path.abspath(text.path) for text in texts]
        self.position_of = {path: position for position, path in enumerate(self.paths)}
        self.header_mode = source.format == "csv" and source.header
        self.file_of: dict[int, int] = {}
        self.row_counts = np.zeros(len(texts), np.int64)
        self.reject_counts = np.zeros(len(texts), np.int64)

    def run(self) -> tuple[pa.Table, pa.Table | None]:
        """(good rows, rejects or None), in file order; sets ``row_counts`` and ``reject_counts``."""
        total = sum(os.path.getsize(path) for path in self.paths)
        with self.engine.session("main", self.engine.main_settings(total)) as session:
            data = self._main_frame(session).toArrow()
        order, file_index = _file_order(data, self.file_of)
        if order is not None:
            data = data.take(order)
        kinds = data.column("_k").to_numpy(zero_copy_only=False).astype(np.int64)
        keep = self._file_errors(kinds, file_index)
        keep &= ~self._header_rows(kinds, file_index)
        rejected = keep & ((kinds & _REJECT) != 0)
        good = keep & ((kinds & (_REJECT | _UNDECODABLE)) == 0)
        self.reject_counts = np.bincount(file_index[rejected], minlength=len(self.texts))
        self.row_counts = np.bincount(file_index[good], minlength=len(self.texts))
        rows = self._rows(data, good, file_index)
        return rows, (self._rejects(data, np.flatnonzero(rejected), file_index) if rejected.any() else None)

    # ------------------------------------------------------------ frames

    def _lines(self, session: SparkSession, texts: list[_Text], line_numbers: bool) -> DataFrame:
        """``_fh`` (path hash), ``_bs`` (block offset) or ``_ln`` (line number), ``_line`` (raw), of every line."""
        paths = [os.path.abspath(text.path) for text in texts]
        frame = _read_text(session, [_glob_escape(path) for path in paths])
        for path_hash, index in _file_hashes(frame, paths).items():
            position = self.position_of[paths[index]]
            if self.file_of.setdefault(path_hash, position) != position:
                raise RuntimeError(f"two files of one call have the same path hash ({paths[index]!r})")
        return project(frame, self.rules.line_columns[line_numbers], self.rules.jvm)

    def _main_frame(self, session: SparkSession) -> DataFrame:
        frames = []
        parsed = [text for text in self.texts if not text.check_only]
        for (positions, latin1), members in _groups(parsed, lambda text: (_positions(text), text.latin1)):
            headers = [text.header for text in members if text.header is not None]
            first = (
                (tuple(sorted({header.text for header in headers})), max(header.offset for header in headers))
                if headers
                else None
            )
            plan = self.rules.plan(positions, with_reason=True)
            main = self.rules.main_columns(positions, latin1, first)
            frame = self._lines(session, members, line_numbers=False).where(~self.rules.blank)
            frames.append(project(plan.apply(frame, self.rules.decoding[latin1], self.rules.jvm), main, self.rules.jvm))
        checks = [text for text in self.texts if text.check_only]
        if checks:
            frame = self._lines(session, checks, line_numbers=False).where(self.rules.undecodable)
            frames.append(project(frame, self.rules.check_columns(), self.rules.jvm))
        return _union(frames)

    # ------------------------------------------------------------ driver

    def _file_errors(self, kinds: np.ndarray, file_index: np.ndarray) -> np.ndarray:
        """Record the encoding errors Spark found; the mask of rows of files without an error."""
        undecodable = np.unique(file_index[(kinds & _UNDECODABLE) != 0])
        for position in undecodable.tolist():
            text = self.texts[position]
            failure = find_decode_failure(text.item.path, self.source.encoding)
            if failure is None:
                raise RuntimeError(f"{text.item.key}: Spark found bytes that are not UTF-8, but the file decodes")
            self.errors[text.item.key] = encoding_error(text.item.key, self.source.encoding, failure)
        failed = np.array([text.item.key in self.errors for text in self.texts], dtype=bool)
        return ~failed[file_index]

    def _header_rows(self, kinds: np.ndarray, file_index: np.ndarray) -> np.ndarray:
        """The mask of header lines: the first line of each file that reads as its header."""
        mask = np.zeros(len(kinds), dtype=bool)
        if not self.header_mode:
            return mask
        candidates = np.flatnonzero((kinds & _HEADER) != 0)
        files, first = np.unique(file_index[candidates], return_index=True)
        mask[candidates[first]] = True
        found = set(files.tolist())
        for position, text in enumerate(self.texts):
            if text.header is not None and position not in found and text.item.key not in self.errors:
                raise RuntimeError(f"{text.item.key}: spark did not read the header line {text.header.line}")
        return mask

    def _rows(self, data: pa.Table, good: np.ndarray, file_index: np.ndarray) -> pa.Table:
        """The good rows with their ``_source_file``: slices around the dropped rows when they are few."""
        table = data.select([f"_c{index}" for index in range(len(self.schema))])
        dropped = np.flatnonzero(~good)
        if len(dropped) <= max(256, len(good) // 1000):
            starts, ends = np.concatenate(([0], dropped + 1)), np.concatenate((dropped, [len(good)]))
            pieces = [
                table.slice(start, end - start) for start, end in zip(starts.tolist(), ends.tolist()) if end > start
            ]
            table = pa.concat_tables(pieces) if pieces else table.slice(0, 0)
        else:
            table = table.filter(pa.array(good))
        keys = pa.array([text.item.key for text in self.texts], pa.string())
        source_file = keys.take(pa.array(file_index[good]))
        return pa.Table.from_arrays([*table.columns, source_file], names=[*self.schema, SOURCE_FILE])

    # ------------------------------------------------------------ rejects

    def _rejects(self, data: pa.Table, positions: np.ndarray, file_index: np.ndarray) -> pa.Table:
        """The rejected rows at ``positions`` of ``data`` (in file and line order) with their line numbers.

        A second job reads each file that has rejects whole in one task, so
        the row number within the task is the physical line number, and keeps
        the lines whose text is the text of a rejected row: as a line's verdict
        depends on its text only, those are exactly the rejected lines (and
        maybe the header line, which is left out by number), in the same order.
        When the rejected texts are too many to look up, the line pass judges
        every line again instead.
        """
        files = file_index[positions]
        raws = data.column("_raw").take(pa.array(positions))
        reasons = data.column("_reason").take(pa.array(positions))
        texts = [self.texts[position] for position in np.unique(files).tolist()]
        expected = raws.to_pylist()
        wanted = set(expected)
        if len(wanted) <= _MATCH_TEXTS and sum(map(len, wanted)) <= _MATCH_CHARACTERS:
            lines = self._line_numbers(texts, sorted(wanted), files, expected)
        else:
            found = self._judged_again(texts)
            if found.column("_raw") != raws or found.column("_reason") != reasons:
                raise RuntimeError("the line pass judged the rejected rows differently from the main pass")
            lines = found.column("_ln")
        keys = pa.array([text.item.key for text in self.texts], pa.string())
        return pa.Table.from_arrays([keys.take(pa.array(files)), lines, raws, reasons], schema=REJECTS_SCHEMA)

    def _line_numbers(self, texts: list[_Text], wanted: list[str], files: np.ndarray, expected: list[str]) -> pa.Array:
        """The line number of each rejected row (``files``, ``expected``: its file and text, in order)."""
        frames = []
        with self.engine.session("whole_files", _WHOLE_FILES) as session:
            for latin1, members in _groups(texts, lambda text: text.latin1):
                frame = project(
                    self._lines(session, members, line_numbers=True), self.rules.decoding[latin1], self.rules.jvm
                )
                frames.append(
                    frame.where(F.col("_text").isin(*wanted)).select("_fh", "_ln", F.col("_text").alias("_raw"))
                )
            found = _union(frames).toArrow()
        found_files = _file_indexes(found, self.file_of)
        lines = found.column("_ln").to_numpy(zero_copy_only=False)
        order = np.lexsort((lines, found_files))
        found_files, lines = found_files[order], lines[order]
        found_raws = found.column("_raw").take(pa.array(order)).to_pylist()
        result = np.zeros(len(files), np.int64)
        start = 0
        for position in np.unique(files).tolist():
            text = self.texts[position]
            count = int(np.count_nonzero(files == position))
            own = set(expected[start : start + count])
            header = text.header.line if text.header is not None else 0
            picked = [
                index
                for index in np.flatnonzero(found_files == position).tolist()
                if lines[index] != header and found_raws[index] in own
            ]
            if len(picked) != count or [found_raws[index] for index in picked] != expected[start : start + count]:
                raise RuntimeError(
                    f"{text.item.key}: the line pass found {len(picked)} rejected lines, the main pass {count}"
                )
            result[start : start + count] = lines[picked]
            start += count
        return pa.array(result, pa.int64())

    def _judged_again(self, texts: list[_Text]) -> pa.Table:
        """``_ln``, ``_raw``, ``_reason`` of every rejected line of ``texts``, each line judged again, in order."""
        frames = []
        with self.engine.session("whole_files", _WHOLE_FILES) as session:

            def key(text):  # type: ignore[no-untyped-def]
                return (_positions(text), text.latin1, text.header.line if text.header else 0)

            for (positions, latin1, header_line), members in _groups(texts, key):
                plan = self.rules.plan(positions, with_reason=True)
                keep = ~self.rules.blank
                if header_line:
                    keep = keep & (F.col("_ln") != header_line)
                frame = self._lines(session, members, line_numbers=True).where(keep)
                frame = plan.apply(frame, self.rules.decoding[latin1], self.rules.jvm)
                frames.append(
                    project(frame, self.rules.reject_columns(positions), self.rules.jvm).where(
                        F.col("_reason").isNotNull()
                    )
                )
            collected = _union(frames).toArrow()
        file_index = _file_indexes(collected, self.file_of)
        order = pa.array(np.lexsort((collected.column("_ln").to_numpy(zero_copy_only=False), file_index)))
        return collected.select(["_ln", "_raw", "_reason"]).take(order)


# ----------------------------------------------------------------- expressions


class _Rules(LineRules):
    """:class:`LineRules` plus the engine's own columns, built once and kept (see :func:`_rules`)."""

    def __init__(self, source: SourceSettings, schema: dict[str, ColumnType]) -> None:
        super().__init__(source, schema)
        self._columns: dict[tuple[object, ...], list[Column]] = {}
        self.nulls = [
            F.lit(None).cast(str(column_type)).alias(f"_c{index}") for index, column_type in enumerate(schema.values())
        ]
        self.file_hash = F.xxhash64(F.input_file_name()).alias("_fh")
        self.block_start = F.input_file_block_start().alias("_bs")
        self.line_number = (F.monotonically_increasing_id().bitwiseAND(_LINE_MASK) + 1).alias("_ln")
        self.line = F.col("value").alias("_line")
        # the columns of ``_lines``, by line_numbers; ``jvm``: the ``spark_rules.project`` cache of this object's lists
        self.line_columns = {
            False: [self.file_hash, self.block_start, self.line],
            True: [self.file_hash, self.line_number, self.line],
        }
        self.jvm: dict[int, Any] = {}
        valid = F.is_valid_utf8(F.col("_line"))
        self.undecodable = ~valid
        # by latin1: ``_valid`` (the line is UTF-8) and ``_text`` (the line decoded; NULL where it is not)
        self.decoding = {
            True: {"_valid": F.lit(True), "_text": F.decode(F.col("_line").cast("binary"), "ISO-8859-1")},
            False: {"_valid": valid, "_text": F.when(valid, F.col("_line"))},
        }

    def main_columns(
        self, positions: tuple[int, ...] | None, latin1: bool, first: tuple[tuple[str, ...], int] | None
    ) -> list[Column]:
        """``_fh``, ``_bs``, ``_k`` (kind), the typed values ``_c0``..., and for rejected lines
        ``_raw`` and ``_reason`` (NULL elsewhere: they cost nothing for good lines).

        ``first``: the header texts of the files and the largest byte offset of
        a header line: a line that reads as a header there is flagged.
        """
        key = ("main", positions, latin1, first)
        if key not in self._columns:
            plan = self.plan(positions, with_reason=True)
            assert plan.reason is not None
            kind = F.when(plan.reject, F.lit(_REJECT)).otherwise(F.lit(0))
            if first is not None:
                names, offset = first
                header = (F.col("_bs") <= offset) & F.col("_text").isin(*names)
                kind = kind + F.when(header, F.lit(_HEADER)).otherwise(F.lit(0))
            kind = F.when(~F.col("_valid"), F.lit(_UNDECODABLE)).otherwise(kind)
            typed = [
                value.cast(str(column_type)).alias(f"_c{i}")
                for i, (value, column_type) in enumerate(zip(plan.typed, self.schema.values()))
            ]
            rejected = [
                F.when(plan.reject, F.col("_text")).alias("_raw"),
                F.when(plan.reject, plan.reason).alias("_reason"),
            ]
            self._columns[key] = [F.col("_fh"), F.col("_bs"), kind.cast("byte").alias("_k"), *typed, *rejected]
        return self._columns[key]

    def check_columns(self) -> list[Column]:
        """The main pass's columns for an undecodable line of a file read only for that."""
        key = ("check",)
        if key not in self._columns:
            kind = F.lit(_UNDECODABLE).cast("byte").alias("_k")
            none = F.lit(None).cast("string")
            self._columns[key] = [
                F.col("_fh"),
                F.col("_bs"),
                kind,
                *self.nulls,
                none.alias("_raw"),
                none.alias("_reason"),
            ]
        return self._columns[key]

    def reject_columns(self, positions: tuple[int, ...] | None) -> list[Column]:
        """``_fh``, ``_ln``, ``_raw`` and ``_reason`` of the line pass."""
        key = ("reject", positions)
        if key not in self._columns:
            plan = self.plan(positions, with_reason=True)
            assert plan.reason is not None
            self._columns[key] = [
                F.col("_fh"),
                F.col("_ln"),
                F.col("_text").alias("_raw"),
                plan.reason.alias("_reason"),
            ]
        return self._columns[key]


_RULES: dict[tuple[object, ...], _Rules] = {}
_RULES_KEPT = 32


def _rules(session: SparkSession, source: SourceSettings, schema: dict[str, ColumnType]) -> _Rules:
    """The rules for a dialect and schema, kept for later calls (building them costs JVM round trips)."""
    flavour = type(session).__module__  # classic and Spark Connect columns differ
    key = (flavour, source.format, source.delimiter, source.quote, source.escape, tuple(schema.items()))
    rules = _RULES.pop(key, None) or _Rules(source, schema)
    _RULES[key] = rules
    while len(_RULES) > _RULES_KEPT:
        _RULES.pop(next(iter(_RULES)))
    return rules


def _union(frames: list[DataFrame]) -> DataFrame:
    result = frames[0]
    for frame in frames[1:]:
        result = result.union(frame)
    return result


# --------------------------------------------------------------------- helpers


def _positions(text: _Text) -> tuple[int, ...] | None:
    return text.header.positions if text.header is not None else None


def _groups(texts: list[_Text], key) -> list[tuple[object, list[_Text]]]:  # type: ignore[no-untyped-def]
    """``texts`` grouped by ``key`` (first-seen order)."""
    groups: dict[object, list[_Text]] = {}
    for text in texts:
        groups.setdefault(key(text), []).append(text)
    return list(groups.items())


def _file_hashes(frame: DataFrame, paths: list[str]) -> dict[int, int]:
    """{hash of a file's ``input_file_name()``: its index in ``paths``} for the files ``frame`` reads."""
    wanted = {path: index for index, path in enumerate(paths)}
    found: dict[int, int] = {}
    for uri in _input_files(frame):
        local = unquote(urlsplit(uri).path) if uri.startswith("file:") else uri
        index = wanted.get(local)
        if index is None:
            index = wanted.get(os.path.realpath(local))
        if index is None:
            raise RuntimeError(f"spark reads {uri!r}, which is none of the files asked for")
        path_hash = spark_xxhash64(uri)
        if found.get(path_hash, index) != index:
            raise RuntimeError(f"two files of one call have the same path hash ({uri!r})")
        found[path_hash] = index
    return found


def _file_indexes(data: pa.Table, file_of: dict[int, int]) -> np.ndarray:
    """The index of each row's file, from its ``_fh`` path hash."""
    if not data.num_rows:
        return np.zeros(0, np.int64)
    position = pc.index_in(data.column("_fh"), value_set=pa.array(list(file_of), pa.int64()))
    if position.null_count:
        raise RuntimeError("spark returned rows of a file it did not name")
    indexes = np.asarray(list(file_of.values()), dtype=np.int64)
    return indexes[position.to_numpy(zero_copy_only=False).astype(np.int64)]


def _file_order(data: pa.Table, file_of: dict[int, int]) -> tuple[np.ndarray | None, np.ndarray]:
    """(the permutation that orders ``data`` by file, then ``_bs``, or None if it is in order; file per row).

    ``_bs`` is the offset of a row's block (text) or its row number (Parquet);
    the sort is stable, as Spark returns the rows of a block in order.
    """
    file_index = _file_indexes(data, file_of)
    if len(file_index) < 2:
        return None, file_index
    offsets = data.column("_bs").to_numpy(zero_copy_only=False).astype(np.int64)
    if offsets.max() < (1 << 40):
        key = (file_index << 40) | offsets
        if (np.diff(key) >= 0).all():
            return None, file_index
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((offsets, file_index))
    return order, file_index[order]


@contextmanager
def _settings(session: SparkSession, values: dict[str, str], unset: tuple[str, ...] = ()) -> Iterator[None]:
    """Set SQL settings of ``session`` for the duration (and unset ``unset``), then restore them."""
    previous = {key: session.conf.get(key, None) for key in [*values, *unset]}
    try:
        for key, value in values.items():
            session.conf.set(key, value)
        for key in unset:
            session.conf.unset(key)
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                session.conf.unset(key)
            else:
                session.conf.set(key, value)


def _read_text(session: SparkSession, paths: list[str]) -> DataFrame:
    """``session.read.text(paths)``; on classic Spark the path list reaches the JVM in one string.

    (pyspark sends a list with one py4j round trip per path.) Paths hold no
    NUL character, which separates them.
    """
    jvm = getattr(session, "_jvm", None)
    if jvm is None or len(paths) < 2:
        return session.read.text(paths)
    names = jvm.java.util.regex.Pattern.compile("\0").splitAsStream("\0".join(paths)).toList()
    from pyspark.sql.classic.dataframe import DataFrame as ClassicDataFrame

    return ClassicDataFrame(session._jsparkSession.read().text(jvm.PythonUtils.toSeq(names)), session)  # type: ignore[attr-defined]


def _input_files(frame: DataFrame) -> list[str]:
    """``frame.inputFiles()``; on classic Spark in one py4j round trip (pyspark makes one per file)."""
    jdf = getattr(frame, "_jdf", None)
    if jdf is None:
        return frame.inputFiles()
    jvm = frame.sparkSession._jvm  # type: ignore[attr-defined]
    joined = jvm.scala.collection.immutable.ArraySeq.unsafeWrapArray(jdf.inputFiles()).mkString("\0")
    return joined.split("\0") if joined else []


def _glob_escape(path: str) -> str:
    """``path`` with Hadoop glob characters escaped, so it names exactly one file."""
    return re.sub(r"([\\*?\[\]{}])", r"\\\1", path)
