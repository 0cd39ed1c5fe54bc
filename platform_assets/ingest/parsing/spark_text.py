"""CSV and JSON lines through the Spark parser: the main pass and the line pass of one call.

See ``spark_parser`` for the contract. :class:`TextParse` runs one call's
files: the main pass judges every line and brings the rows back; the line
pass finds the line numbers of the rejected rows. ``_Rules`` adds the
parser's own columns (file hash, block offset, line number, row kind) to the
line rules of ``spark_rules``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from platform_assets.column_types import ColumnType
from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing.result import (
    REJECTS_SCHEMA,
    SOURCE_FILE,
    SOURCE_LINE,
    FileError,
    InputFile,
    encoding_error,
)
from platform_assets.ingest.parsing.spark_files import Header, find_decode_failure
from platform_assets.ingest.parsing.spark_frames import (
    file_hashes,
    file_indexes,
    file_order,
    glob_escape,
    read_text,
    union,
)
from platform_assets.ingest.parsing.spark_rules import LineRules, project

if TYPE_CHECKING:
    from platform_assets.ingest.parsing.spark_parser import SparkParser

_Key = TypeVar("_Key", bound=Hashable)

# kinds of the rows the main pass returns (bit flags); a blank line is returned too (BLANK alone), so
# the rows of a file, in order, are all its lines and a row's position in its file is its line number
REJECT, HEADER, UNDECODABLE, BLANK = 1, 2, 4, 8
_LINE_MASK = (1 << 33) - 1  # monotonically_increasing_id: the row number within the partition
_WHOLE_FILE_BYTES = str(1 << 40)
_WHOLE_FILES = {
    "spark.sql.files.maxPartitionBytes": _WHOLE_FILE_BYTES,
    "spark.sql.files.openCostInBytes": _WHOLE_FILE_BYTES,
}
# the line pass looks rejected texts up in a set held in the plan, up to these sizes
_MATCH_TEXTS = 10_000
_MATCH_CHARACTERS = 4 << 20


@dataclass
class TextFile:
    """One CSV or JSON file as Spark reads it."""

    index: int  # in the call's file list
    item: InputFile
    path: str  # the file Spark reads: the input, or its UTF-8 copy
    latin1: bool  # Spark decodes the bytes as ISO-8859-1 (else they must be valid UTF-8)
    header: Header | None = None
    check_only: bool = False  # the header failed: read only to find undecodable bytes (they win)


class TextParse:
    """One call's CSV or JSON files through the main pass and, for files with rejects, the line pass."""

    def __init__(
        self,
        parser: SparkParser,
        source: SourceSettings,
        schema: dict[str, ColumnType],
        texts: list[TextFile],
        errors: dict[str, FileError],
    ) -> None:
        self.parser, self.source, self.schema = parser, source, schema
        self.texts, self.errors = texts, errors
        self.rules = _rules(parser.spark, source, schema)
        self.paths = [os.path.abspath(text.path) for text in texts]
        self.position_of = {path: position for position, path in enumerate(self.paths)}
        self.header_mode = source.format == "csv" and source.header
        self.file_of: dict[int, int] = {}
        self.row_counts = np.zeros(len(texts), np.int64)
        self.reject_counts = np.zeros(len(texts), np.int64)

    def run(self) -> tuple[pa.Table, pa.Table | None]:
        """(good rows, rejects or None), in file order; sets ``row_counts`` and ``reject_counts``."""
        total = sum(os.path.getsize(path) for path in self.paths)
        with self.parser.session("main", self.parser.main_settings(total)) as session:
            data = self._main_frame(session).toArrow()
        order, file_index = file_order(data, self.file_of)
        if order is not None:
            data = data.take(order)
        kinds = data.column("_k").to_numpy(zero_copy_only=False).astype(np.int64)
        keep = self._file_errors(kinds, file_index)
        keep &= ~self._header_rows(kinds, file_index)
        rejected = keep & ((kinds & REJECT) != 0)
        good = keep & ((kinds & (REJECT | UNDECODABLE | BLANK)) == 0)
        self.reject_counts = np.bincount(file_index[rejected], minlength=len(self.texts))
        self.row_counts = np.bincount(file_index[good], minlength=len(self.texts))
        rows = self._rows(data, good, file_index, _line_numbers(file_index))
        return rows, (self._rejects(data, np.flatnonzero(rejected), file_index) if rejected.any() else None)

    # ------------------------------------------------------------ frames

    def _lines(self, session: SparkSession, texts: list[TextFile], line_numbers: bool) -> DataFrame:
        """``_fh`` (path hash), ``_bs`` (block offset) or ``_ln`` (line number), ``_line`` (raw), of every line."""
        paths = [os.path.abspath(text.path) for text in texts]
        frame = read_text(session, [glob_escape(path) for path in paths])
        for path_hash, index in file_hashes(frame, paths).items():
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
            frame = self._lines(session, members, line_numbers=False)
            frames.append(project(plan.apply(frame, self.rules.decoding[latin1], self.rules.jvm), main, self.rules.jvm))
        checks = [text for text in self.texts if text.check_only]
        if checks:
            frame = self._lines(session, checks, line_numbers=False).where(self.rules.undecodable)
            frames.append(project(frame, self.rules.check_columns(), self.rules.jvm))
        return union(frames)

    # ------------------------------------------------------------ driver

    def _file_errors(self, kinds: np.ndarray, file_index: np.ndarray) -> np.ndarray:
        """Record the encoding errors Spark found; the mask of rows of files without an error."""
        undecodable = np.unique(file_index[(kinds & UNDECODABLE) != 0])
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
        candidates = np.flatnonzero((kinds & HEADER) != 0)
        files, first = np.unique(file_index[candidates], return_index=True)
        mask[candidates[first]] = True
        found = set(files.tolist())
        for position, text in enumerate(self.texts):
            if text.header is not None and position not in found and text.item.key not in self.errors:
                raise RuntimeError(f"{text.item.key}: spark did not read the header line {text.header.line}")
        return mask

    def _rows(self, data: pa.Table, good: np.ndarray, file_index: np.ndarray, lines: np.ndarray) -> pa.Table:
        """The good rows with their ``_source_file`` and ``_source_line``: slices around the dropped rows
        when they are few."""
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
        return pa.Table.from_arrays(
            [*table.columns, source_file, pa.array(lines[good])], names=[*self.schema, SOURCE_FILE, SOURCE_LINE]
        )

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

    def _line_numbers(
        self, texts: list[TextFile], wanted: list[str], files: np.ndarray, expected: list[str]
    ) -> pa.Array:
        """The line number of each rejected row (``files``, ``expected``: its file and text, in order)."""
        frames = []
        with self.parser.session("whole_files", _WHOLE_FILES) as session:
            for latin1, members in _groups(texts, lambda text: text.latin1):
                frame = project(
                    self._lines(session, members, line_numbers=True), self.rules.decoding[latin1], self.rules.jvm
                )
                frames.append(
                    frame.where(F.col("_text").isin(*wanted)).select("_fh", "_ln", F.col("_text").alias("_raw"))
                )
            found = union(frames).toArrow()
        found_files = file_indexes(found, self.file_of)
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

    def _judged_again(self, texts: list[TextFile]) -> pa.Table:
        """``_ln``, ``_raw``, ``_reason`` of every rejected line of ``texts``, each line judged again, in order."""
        frames = []
        with self.parser.session("whole_files", _WHOLE_FILES) as session:

            def key(text: TextFile) -> tuple[tuple[int, ...] | None, bool, int]:
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
            collected = union(frames).toArrow()
        file_index = file_indexes(collected, self.file_of)
        order = pa.array(np.lexsort((collected.column("_ln").to_numpy(zero_copy_only=False), file_index)))
        return collected.select(["_ln", "_raw", "_reason"]).take(order)


# ----------------------------------------------------------------- expressions


class _Rules(LineRules):
    """:class:`LineRules` plus the parser's own columns, built once and kept (see :func:`_rules`)."""

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
            kind = F.when(plan.reject, F.lit(REJECT)).otherwise(F.lit(0))
            if first is not None:
                names, offset = first
                header = (F.col("_bs") <= offset) & F.col("_text").isin(*names)
                kind = kind + F.when(header, F.lit(HEADER)).otherwise(F.lit(0))
            kind = F.when(~F.col("_valid"), F.lit(UNDECODABLE)).when(self.blank, F.lit(BLANK)).otherwise(kind)
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
            kind = F.lit(UNDECODABLE).cast("byte").alias("_k")
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


def _line_numbers(file_index: np.ndarray) -> np.ndarray:
    """The 1-based position of each row within its file's rows (``file_index`` ascending): its line number,
    as the main pass returns every line of a file in order."""
    count = len(file_index)
    first = np.zeros(count, np.int64)
    if count:
        starts = np.flatnonzero(np.diff(file_index)) + 1
        first[starts] = starts
        first = np.maximum.accumulate(first)
    return np.arange(1, count + 1, dtype=np.int64) - first


def _positions(text: TextFile) -> tuple[int, ...] | None:
    return text.header.positions if text.header is not None else None


def _groups(texts: list[TextFile], key: Callable[[TextFile], _Key]) -> list[tuple[_Key, list[TextFile]]]:
    """``texts`` grouped by ``key`` (first-seen order)."""
    groups: dict[_Key, list[TextFile]] = {}
    for text in texts:
        groups.setdefault(key(text), []).append(text)
    return list(groups.items())
