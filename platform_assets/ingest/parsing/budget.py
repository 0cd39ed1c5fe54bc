"""How the Arrow engine spends ``platform.processing.memory_budget_mb`` (the budget, B below).

Reading a file whole costs a multiple of its size: a CSV's text, its columns as
text, the typed columns, the rows with lineage and the Parquet writer's buffers
peak at about 3.3x the file (round one: a 586 MB CSV, 1.9 GB). So:

- A CSV or Parquet file of at most B / 4 (JSON lines: B / 16, read in Python
  objects) is read whole, and the files of a claim batch are parsed together
  in groups whose sizes add up to at most that much (:meth:`MemoryBudget.groups`);
  small files keep the fast in-memory path.
- A larger file is streamed (``arrow_stream``): pieces of B / 8 of text (JSON
  lines: B / 32; Parquet: record batches of about B / 8 uncompressed) are
  parsed, cast, validated and written as Parquet data files one after the
  other, so its peak follows B, not the file's size; each piece becomes one or
  more data files, and all of them are committed in one Iceberg commit.
- A file in an encoding whose line breaks are not single ASCII bytes (UTF-16,
  multi-byte Asian encodings) cannot be cut at line breaks: it is read whole.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from platform_assets.ingest.parsing.text import UTF8_NAMES, canonical_encoding

_MIB = 1 << 20
_Item = TypeVar("_Item")
WHOLE_SHARE = {"csv": 4, "parquet": 4, "json": 16}
"""B / share: the largest file, or group of files, read whole."""
PIECE_SHARE = {"csv": 8, "parquet": 8, "json": 32}
"""B / share: the text (Parquet: uncompressed bytes) of one streamed piece."""
MIN_PIECE_BYTES = 64


@dataclass(frozen=True)
class MemoryBudget:
    """The Arrow engine's memory budget in bytes, and the sizes derived from it (see the module docstring)."""

    budget_bytes: int

    @classmethod
    def of_mb(cls, megabytes: float) -> MemoryBudget:
        return cls(max(1, int(megabytes * _MIB)))

    def whole_bytes(self, file_format: str) -> int:
        """The largest file (or group of files) of ``file_format`` read whole."""
        return self.budget_bytes // WHOLE_SHARE.get(file_format, 4)

    def piece_bytes(self, file_format: str) -> int:
        """The bytes of one streamed piece of a file of ``file_format`` (at least 64)."""
        return max(MIN_PIECE_BYTES, self.budget_bytes // PIECE_SHARE.get(file_format, 8))

    def streams(self, size: int, file_format: str, encoding: str) -> bool:
        """Whether a file of ``size`` bytes is streamed rather than read whole."""
        return size > self.whole_bytes(file_format) and (file_format == "parquet" or splits_at_line_breaks(encoding))

    def groups(self, items: Sequence[_Item], size: Callable[[_Item], int], file_format: str) -> list[list[_Item]]:
        """``items`` in order, in groups whose sizes add up to at most :meth:`whole_bytes` (one item at least)."""
        limit = self.whole_bytes(file_format)
        groups: list[list[_Item]] = []
        total = 0
        for item in items:
            if not groups or total + size(item) > limit:
                groups.append([])
                total = 0
            groups[-1].append(item)
            total += size(item)
        return [group for group in groups if group]


def splits_at_line_breaks(encoding: str) -> bool:
    """Whether text in ``encoding`` may be cut after any CR or LF byte: UTF-8, ASCII and single-byte encodings."""
    name = canonical_encoding(encoding)
    return name in UTF8_NAMES or name == "ascii" or name.startswith(("iso8859-", "cp125", "latin", "koi8", "mac-"))
