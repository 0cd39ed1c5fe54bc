"""The Arrow parser: parses files in process with pyarrow, casting column-wise.

Contract (shared with the Spark parser, see ``result.py`` and ``types.py``):

- CSV (``arrow_csv``): every field is read as text with pyarrow.csv, then
  cast with vectorized compute kernels (``arrow_casting``); a row whose value
  does not cast is rejected, the other rows are kept. With a header, the
  first non-blank line names the columns, which must be exactly the declared
  ones (any order). Quoted values may span lines.
- JSON lines (``arrow_json``): one object per non-blank line, with exactly
  the declared keys.
- Parquet (``arrow_parquet``): the declared columns, each of a type that
  reads without loss.
- Line numbers are physical, 1-based, counting the header line. They are
  worked out only for files that have rejects.

Files are parsed on worker threads, in slices of the list (pyarrow releases the GIL), and the
results are concatenated in input order.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator, Mapping

import pyarrow as pa

from platform_assets.column_types import ColumnType
from platform_assets.config import MAX_LINE_BYTES_DEFAULT, MEMORY_BUDGET_MB_DEFAULT, SourceSettings
from platform_assets.ingest.parsing.arrow_csv import parse_csv
from platform_assets.ingest.parsing.arrow_joined import parse_joined, with_joined
from platform_assets.ingest.parsing.arrow_json import parse_json
from platform_assets.ingest.parsing.arrow_parquet import parse_parquet
from platform_assets.ingest.parsing.arrow_stream import stream_file
from platform_assets.ingest.parsing.budget import MemoryBudget
from platform_assets.ingest.parsing.result import (
    FilePart,
    InputFile,
    ParseResult,
    assemble,
    check_call,
    encoding_error,
    parse_error,
    read_error,
)
from platform_assets.ingest.parsing.text import to_utf8
from platform_assets.ingest.parsing.types import normalize_schema, rows_arrow_schema
from platform_assets.ingest.threads import map_in_slices


class ArrowParser:
    """Parses files in this process with pyarrow; ``max_workers`` files at a time.

    ``max_line_bytes``: the largest block the CSV reader grows to (``platform.processing.max_line_bytes``).
    ``memory_budget_mb`` (``platform.processing.memory_budget_mb``): :attr:`budget` says which files
    :meth:`parse` may read whole and which a caller should read piece by piece with :meth:`stream`.
    ``join``: parse many small plain CSV files as one (``arrow_joined``; False: each file on its own, as the
    parity tests compare).
    """

    name = "arrow"

    def __init__(
        self,
        max_workers: int | None = None,
        max_line_bytes: int = MAX_LINE_BYTES_DEFAULT,
        memory_budget_mb: float = MEMORY_BUDGET_MB_DEFAULT,
        join: bool = True,
    ) -> None:
        self._max_workers = max_workers or min(8, os.cpu_count() or 1)
        self._max_line_bytes = max_line_bytes
        self.budget = MemoryBudget.of_mb(memory_budget_mb)
        self._join = join

    def stream(
        self, item: InputFile, source: SourceSettings, schema: Mapping[str, ColumnType | str]
    ) -> Iterator[FilePart]:
        """The parts of one file, piece by piece within :attr:`budget` (see ``arrow_stream``)."""
        check_call([item], source)
        threads = self._max_workers > 1
        return stream_file(item, source, normalize_schema(schema), self.budget, self._max_line_bytes, threads)

    def parse(
        self, files: list[InputFile], source: SourceSettings, schema: Mapping[str, ColumnType | str]
    ) -> ParseResult:
        columns = normalize_schema(schema)
        check_call(files, source)
        rows_schema = rows_arrow_schema(columns)

        def run(item: InputFile) -> FilePart:
            return parse_file(item, source, columns, max_line_bytes=self._max_line_bytes)

        joined, files = parse_joined(files, source, columns) if self._join else (None, files)
        if len(files) > 1 and self._max_workers > 1:
            parts = map_in_slices(run, files, self._max_workers)
        else:
            threads = self._max_workers > 1
            parts = [parse_file(item, source, columns, threads, self._max_line_bytes) for item in files]
        errors = {item.key: part.error for item, part in zip(files, parts) if part.error is not None}
        rows = [part.rows for part in parts if part.rows is not None and part.rows.num_rows]
        rejects = [part.rejects for part in parts if part.rejects is not None and part.rejects.num_rows]
        result = assemble(files, rows, rejects, errors, rows_schema, one_file_per_table=True)
        return with_joined(result, joined, rows_schema) if joined is not None else result


def parse_file(
    item: InputFile,
    source: SourceSettings,
    schema: dict[str, ColumnType],
    threads: bool = False,
    max_line_bytes: int = MAX_LINE_BYTES_DEFAULT,
) -> FilePart:
    """Parse one file; never raises for bad content (that becomes rejects or a file error)."""
    try:
        size = os.path.getsize(item.path)
        if size == 0:
            return FilePart()
        if source.format == "parquet":
            return parse_parquet(item, schema)
        data = _file_bytes(item.path, mapped=source.format == "csv" and size >= MAP_MIN_BYTES)
    except OSError as error:
        return FilePart(error=read_error(item.key, error.strerror or str(error)))
    text, failure = to_utf8(data, source.encoding)
    if failure is not None:
        return FilePart(error=encoding_error(item.key, source.encoding, failure))
    assert text is not None
    try:
        if source.format == "json":
            return parse_json(item.key, text, schema)
        return parse_csv(item.key, text, source, schema, threads, max_line_bytes)
    except (pa.ArrowInvalid, ValueError) as error:
        return FilePart(error=parse_error(item.key, str(error)))


MAP_MIN_BYTES = 1 << 20
"""CSV files from this size on are memory-mapped instead of read: no copy of the page cache into the process."""


def _file_bytes(path: str, mapped: bool) -> bytes | mmap.mmap:
    """The file's content: a read-only memory map (``mapped``) or bytes.

    A map supports what the CSV path does with the content (slices, ``find``,
    regular expressions, Arrow buffers); it is unmapped when the last
    reference to it, or to a buffer over it, is gone.
    """
    with open(path, "rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if mapped else handle.read()
