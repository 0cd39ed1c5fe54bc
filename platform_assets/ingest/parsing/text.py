"""Text of the files the parsers read: encodings, line breaks, the CSV dialect, header lines, JSON lines.

Both parsers use these, so they agree on what a line, a header and a
decoding failure are:

- Line breaks are CRLF, CR or LF (``LINE_BREAK``); a line is blank when it
  holds no character but line breaks (CSV) or only spaces and tabs (JSON).
- A leading UTF-8 byte-order mark is not part of the text.
- A decoding failure is reported as the first undecodable byte, its 0-based
  offset and its 1-based line (:class:`DecodeFailure`).
- JSON lines are read with exact number literals (:class:`JsonInt`,
  :class:`JsonFloat`); a duplicate key, NaN / Infinity or a lone surrogate
  makes a line invalid JSON.
"""

from __future__ import annotations

import codecs
import io
import json
import mmap
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

import pyarrow as pa
import pyarrow.csv as pacsv

from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing.types import TRIM_CHARACTERS

LINE_BREAK = re.compile(rb"\r\n|\r|\n")
TEXT_BREAK = re.compile(r"\r\n|\r|\n")
NON_BREAK = re.compile(rb"[^\r\n]")
UTF8_BOM = b"\xef\xbb\xbf"
UTF8_NAMES = ("utf-8", "utf-8-sig")
MAX_LINE_BYTES_KEY = "platform.processing.max_line_bytes"
_STRADDLING = "straddling object straddles two block boundaries"
_Read = TypeVar("_Read")


# ------------------------------------------------------------------ decoding


@dataclass(frozen=True)
class DecodeFailure:
    """Where decoding failed: 1-based line, 0-based byte offset, the byte value."""

    line: int
    offset: int
    byte: int


def canonical_encoding(encoding: str) -> str:
    """Python's canonical codec name (``latin-1`` -> ``iso8859-1``, ``UTF8`` -> ``utf-8``)."""
    return codecs.lookup(encoding).name


def make_text_decoder(
    encoding: str, strip_bom: bool = True
) -> Callable[[bytes], tuple[str | None, DecodeFailure | None]]:
    """A function ``bytes -> (text, None)`` or ``(None, where decoding fails)`` for ``encoding``.

    The text has a leading byte-order mark removed (with ``strip_bom``).
    """
    name = codecs.lookup(encoding).name

    def decode(data: bytes) -> tuple[str | None, DecodeFailure | None]:
        try:
            text = data.decode(name)
        except UnicodeDecodeError as error:
            prefix = data[: error.start].decode(name, errors="replace")
            line = len(TEXT_BREAK.findall(prefix)) + 1
            return None, DecodeFailure(line, error.start, data[error.start] if error.start < len(data) else 0)
        return (text.removeprefix("\ufeff") if strip_bom else text), None

    return decode


@overload
def to_utf8(data: bytes, encoding: str, strip_bom: bool = True) -> tuple[bytes | None, DecodeFailure | None]: ...
@overload
def to_utf8(
    data: bytes | mmap.mmap, encoding: str, strip_bom: bool = True
) -> tuple[bytes | mmap.mmap | None, DecodeFailure | None]: ...
def to_utf8(
    data: bytes | mmap.mmap, encoding: str, strip_bom: bool = True
) -> tuple[bytes | mmap.mmap | None, DecodeFailure | None]:
    """``data`` transcoded to UTF-8 without a byte-order mark (``strip_bom``: a later piece of a file keeps
    what it starts with), or where decoding fails.

    UTF-8 input is returned as it is (a map stays a map) when it has no byte-order mark.
    """
    name = canonical_encoding(encoding)
    if name in UTF8_NAMES:
        try:
            _as_binary(data).cast(pa.large_string())  # validates in place
            bom = strip_bom and data[: len(UTF8_BOM)] == UTF8_BOM
            return (data[len(UTF8_BOM) :] if bom else data), None
        except pa.ArrowInvalid:
            name = "utf-8"
    data = data if isinstance(data, bytes) else data[:]
    text, failure = make_text_decoder(name, strip_bom)(data)
    if failure is not None:
        return None, failure
    assert text is not None
    return text.encode("utf-8"), None


def _as_binary(data: bytes | mmap.mmap) -> pa.Array:
    """``data`` as a one-value binary array over the same memory (no copy)."""
    offsets = pa.array([0, len(data)], pa.int64()).buffers()[1]
    return pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])


# ----------------------------------------------------------------------- CSV


@dataclass(frozen=True)
class Dialect:
    delimiter: str
    quote: str
    escape: str | None

    @classmethod
    def of(cls, source: SourceSettings) -> Dialect:
        escape = source.escape if source.escape and source.escape != source.quote else None
        return cls(source.delimiter, source.quote, escape)

    def parse_options(self, handler: Callable[[Any], str] | None = None, multiline: bool = True) -> pacsv.ParseOptions:
        return pacsv.ParseOptions(
            delimiter=self.delimiter,
            quote_char=self.quote,
            double_quote=self.escape is None,
            escape_char=self.escape or False,
            newlines_in_values=multiline,
            ignore_empty_lines=True,
            invalid_row_handler=handler,
        )


def string_options(names: list[str]) -> pacsv.ConvertOptions:
    """Every column as text: an unquoted empty field is NULL, a quoted one ''."""
    return pacsv.ConvertOptions(
        column_types={name: pa.string() for name in names},
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        null_values=[""],
        check_utf8=False,
    )


def first_nonblank_line(data: bytes | mmap.mmap) -> tuple[int, int, int, int] | None:
    """(line number, start, end, start of the next line) of the first non-blank line."""
    found = NON_BREAK.search(data)
    if found is None:
        return None
    start = found.start()
    line = len(LINE_BREAK.findall(data, 0, start)) + 1
    following = LINE_BREAK.search(data, start)
    end = following.start() if following else len(data)
    after = following.end() if following else len(data)
    return line, start, end, after


def split_line(line: bytes, dialect: Dialect) -> list[str]:
    """The fields of one line, unquoted; NULL fields as ''."""
    if dialect.quote.encode() not in line and (dialect.escape is None or dialect.escape.encode() not in line):
        return line.decode("utf-8").split(dialect.delimiter)
    count = line.count(dialect.delimiter.encode()) + 1
    names = [f"f{index}" for index in range(count)]
    table = pacsv.read_csv(
        io.BytesIO(line + b"\n"),
        read_options=pacsv.ReadOptions(
            autogenerate_column_names=True, use_threads=False, block_size=max(len(line) + 1, 1 << 20)
        ),
        parse_options=dialect.parse_options(multiline=False),
        convert_options=string_options(names),
    )
    return ["" if value is None else value for value in table.slice(0, 1).to_pylist()[0].values()]


def header_names(line: bytes, dialect: Dialect) -> list[str]:
    return [name.strip(TRIM_CHARACTERS) for name in split_line(line, dialect)]


class RecordTooLong(ValueError):
    """A CSV record does not fit the reader's block even at ``max_line_bytes``."""

    def __init__(self, max_line_bytes: int) -> None:
        super().__init__(
            f"a record is longer than the CSV reader's largest block ({MAX_LINE_BYTES_KEY}: {max_line_bytes} bytes); "
            f"raise {MAX_LINE_BYTES_KEY}"
        )
        self.max_line_bytes = max_line_bytes


def read_growing(read: Callable[[int], _Read], block_bytes: int, max_line_bytes: int) -> tuple[_Read, int]:
    """``read(block size)`` and the block size it took: doubled, up to ``max_line_bytes``, while a record
    straddles more than two blocks (pyarrow.csv fails then); RecordTooLong when even that block fails.

    ``read`` must start afresh on each call (the failed reads leave nothing behind).
    """
    while True:
        try:
            return read(block_bytes), block_bytes
        except pa.ArrowInvalid as error:
            if _STRADDLING not in str(error):
                raise
            if block_bytes >= max_line_bytes:
                raise RecordTooLong(max_line_bytes) from None
            block_bytes = min(block_bytes * 2, max_line_bytes)


# ---------------------------------------------------------------------- JSON


class JsonInt(str):
    """An integer literal as written."""


class JsonFloat(str):
    """A number literal with a fraction or exponent, as written."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate key")
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


JSON_LINE_ERRORS = (ValueError, UnicodeEncodeError, RecursionError)
"""What :func:`load_json_line` raises for a line that is not valid JSON."""


def load_json_line(line: str) -> Any:
    """The JSON value of one line, numbers as :class:`JsonInt` / :class:`JsonFloat`; raises ``JSON_LINE_ERRORS``."""
    value = json.loads(
        line,
        object_pairs_hook=_no_duplicates,
        parse_int=JsonInt,
        parse_float=JsonFloat,
        parse_constant=_no_constants,
    )
    if "\\u" in line:
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogates raise
    return value


def is_blank_json_line(line: str) -> bool:
    return not line.strip(" \t")
