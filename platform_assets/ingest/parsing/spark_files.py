"""Driver-side work of the Spark parser: what it learns from each file before Spark reads it.

Everything here streams the file in chunks (no file has to fit in memory) and
reads as little as it can:

- :func:`read_head` reads up to the end of the first non-blank line (the CSV
  header), which :func:`check_header` checks with the functions the Arrow
  parser uses (``text``, ``drift``), so both parsers agree on the header
  line, its names and errors.
- :func:`transcode` decodes a file in an encoding that Spark cannot decode
  line by line into a UTF-8 copy, or finds where decoding fails.
- :func:`find_decode_failure` finds the first undecodable byte of a file that
  Spark flagged (the line and byte offset of the Arrow parser's message).
"""

from __future__ import annotations

import codecs
import sys
from collections.abc import Callable
from dataclasses import dataclass

from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing.drift import header_differences
from platform_assets.ingest.parsing.result import FileError, drift_error, no_header_error
from platform_assets.ingest.parsing.text import (
    LINE_BREAK,
    NON_BREAK,
    UTF8_BOM,
    UTF8_NAMES,
    DecodeFailure,
    Dialect,
    first_nonblank_line,
    header_names,
)

CHUNK = 1 << 20
HEAD_CHUNK = 1 << 16


def read_head(path: str, strip_bom: bool) -> tuple[bytes, int]:
    """(the file's first bytes through the end of its first non-blank line, bytes left out before them).

    The bytes are all of the file when it has no non-blank line. With
    ``strip_bom`` a leading UTF-8 byte-order mark is left out, as the Arrow
    parser leaves it out before it looks for the header.
    """
    data = b""
    skipped = 0
    searched = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(HEAD_CHUNK)
            if not chunk:
                return data, skipped
            data += chunk
            if strip_bom and len(data) >= len(UTF8_BOM):
                strip_bom = False
                if data.startswith(UTF8_BOM):
                    data, skipped = data[len(UTF8_BOM) :], len(UTF8_BOM)
            found = NON_BREAK.search(data, searched)
            if found is None:
                searched = len(data)
                continue
            searched = found.start()
            if LINE_BREAK.search(data, found.start()):
                return data, skipped


@dataclass(frozen=True)
class Header:
    """A CSV file's header as the Arrow parser reads it.

    ``line`` is the physical line number, ``offset`` the byte offset of the
    line in the file, ``text`` the line as decoded, ``positions`` the 0-based
    position of each declared column in the file.
    """

    line: int
    offset: int
    text: str
    positions: tuple[int, ...]


@dataclass(frozen=True)
class HeaderCheck:
    header: Header | None = None  # None with no error: the file holds no non-blank line
    error: FileError | None = None
    undecodable: bool = False  # the header line is not valid UTF-8 (an encoding error)


def check_header(key: str, head: bytes, skipped: int, source: SourceSettings, declared: list[str]) -> HeaderCheck:
    """Check the header in ``head`` (UTF-8, from :func:`read_head`) the way the Arrow parser does.

    ``skipped`` is the number of bytes of the file before ``head`` (a
    byte-order mark); the header's offset counts them.
    """
    first = first_nonblank_line(head)
    if first is None:
        return HeaderCheck()
    line_number, start, end, _ = first
    raw = head[start:end]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return HeaderCheck(undecodable=True)
    names = header_names(raw, Dialect.of(source))
    if not any(names):
        return HeaderCheck(error=no_header_error(key))
    differences = header_differences(declared, names)
    if differences:
        return HeaderCheck(error=drift_error(key, differences))
    positions = tuple(names.index(name) for name in declared)
    return HeaderCheck(header=Header(line_number, skipped + start, text, positions))


def starts_with(path: str, prefix: bytes) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(prefix)) == prefix


class _LineCounter:
    """Counts line breaks (CRLF, CR or LF) in text that arrives in pieces."""

    def __init__(self) -> None:
        self.breaks = 0
        self._after_cr = False

    def add(self, text: str) -> None:
        if not text:
            return
        self.breaks += text.count("\n") + text.count("\r") - text.count("\r\n")
        if self._after_cr and text.startswith("\n"):
            self.breaks -= 1
        self._after_cr = text.endswith("\r")


def _stream(path: str, encoding: str, sink: Callable[[str], object] | None = None) -> DecodeFailure | None:
    """Decode the file chunk by chunk; pass the text to ``sink``; return where decoding fails, if it does.

    The failure is what ``text.make_text_decoder`` reports for the whole
    file: the first undecodable byte, its 0-based offset and 1-based line.
    """
    decoder = codecs.getincrementaldecoder(_stream_codec(path, codecs.lookup(encoding).name))("strict")
    counter = _LineCounter()
    fed = 0
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            final = not chunk
            state = decoder.getstate()
            pending = len(state[0])
            try:
                text = decoder.decode(chunk, final)
            except UnicodeDecodeError as error:
                position = error.start
                decoder.setstate(state)
                if position > pending:
                    counter.add(decoder.decode(chunk[: position - pending], False))
                data = error.object
                byte = data[position] if position < len(data) else 0
                return DecodeFailure(counter.breaks + 1, fed - pending + position, byte)
            counter.add(text)
            if sink is not None and text:
                sink(text)
            fed += len(chunk)
            if final:
                return None


_MARKED = {"utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE), "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)}


def _stream_codec(path: str, name: str) -> str:
    """The codec that decodes ``path`` chunk by chunk as ``bytes.decode(name)`` decodes it whole.

    Without a byte-order mark, ``bytes.decode("utf-16")`` (and utf-32) reads
    the machine's byte order, where the incremental decoder refuses the data.
    """
    marks = _MARKED.get(name)
    if marks is None:
        return name
    with open(path, "rb") as handle:
        start = handle.read(4)
    if any(start.startswith(mark) for mark in marks):
        return name
    return f"{name}-{'le' if sys.byteorder == 'little' else 'be'}"


def find_decode_failure(path: str, encoding: str) -> DecodeFailure | None:
    """Where ``path`` stops being decodable as ``encoding`` (the UTF-8 family is checked as plain UTF-8)."""
    name = codecs.lookup(encoding).name
    return _stream(path, "utf-8" if name in UTF8_NAMES else name)


def transcode(path: str, encoding: str, target: str) -> DecodeFailure | None:
    """Write ``path`` decoded from ``encoding`` to ``target`` as UTF-8, or return where decoding fails.

    A leading byte-order mark is written too: Spark's line reader drops one
    leading UTF-8 mark, as the Arrow parser drops one after decoding.
    """
    with open(target, "wb") as out:
        return _stream(path, encoding, lambda text: out.write(text.encode("utf-8")))


# ------------------------------------------------------------- path hashes

_P1, _P2, _P3, _P4, _P5 = (
    11400714785074694791,
    14029467366897019727,
    1609587929392839161,
    9650029242287828579,
    2870177450012600261,
)
_MASK = (1 << 64) - 1


def _rotate(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (64 - bits))) & _MASK


def _round(accumulator: int, lane: int) -> int:
    return (_rotate((accumulator + lane * _P2) & _MASK, 31) * _P1) & _MASK


def spark_xxhash64(text: str, seed: int = 42) -> int:
    """Spark SQL's ``xxhash64(text)`` (XXH64 of the UTF-8 bytes, seed 42, as a signed long).

    The driver hashes the paths Spark reports (``DataFrame.inputFiles``) to
    know the file of each row, which carries only the hash of its
    ``input_file_name()``: a long per row instead of the path.
    """
    data = text.encode("utf-8")
    size, at = len(data), 0

    def word(start: int, width: int) -> int:
        return int.from_bytes(data[start : start + width], "little")

    if size >= 32:
        lanes = [(seed + _P1 + _P2) & _MASK, (seed + _P2) & _MASK, seed & _MASK, (seed - _P1) & _MASK]
        while at <= size - 32:
            lanes = [_round(lanes[lane], word(at + 8 * lane, 8)) for lane in range(4)]
            at += 32
        value = (_rotate(lanes[0], 1) + _rotate(lanes[1], 7) + _rotate(lanes[2], 12) + _rotate(lanes[3], 18)) & _MASK
        for lane in lanes:
            value = ((value ^ _round(0, lane)) * _P1 + _P4) & _MASK
    else:
        value = (seed + _P5) & _MASK
    value = (value + size) & _MASK
    while at + 8 <= size:
        value = (_rotate(value ^ _round(0, word(at, 8)), 27) * _P1 + _P4) & _MASK
        at += 8
    if at + 4 <= size:
        value = (_rotate(value ^ ((word(at, 4) * _P1) & _MASK), 23) * _P2 + _P3) & _MASK
        at += 4
    while at < size:
        value = (_rotate(value ^ ((data[at] * _P5) & _MASK), 11) * _P1) & _MASK
        at += 1
    value ^= value >> 33
    value = (value * _P2) & _MASK
    value ^= value >> 29
    value = (value * _P3) & _MASK
    value ^= value >> 32
    return value - (1 << 64) if value >= (1 << 63) else value
