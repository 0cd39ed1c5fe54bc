"""What a file says about its columns, read on the driver before any engine parses it; and the two rewrites
schema evolution needs, done the same way whichever engine parses.

Contract:

- :func:`file_columns` gives a file's columns in file order: a CSV file's
  header names (None for a file without a header line, a blank header or
  ``source.header: false``: such files are read by position), the keys of a
  JSON lines file (every object line's keys, first seen first) or a Parquet
  file's schema. Types: a Parquet column's declared type (None where none
  maps); a JSON key's type from the kinds of its values (integers bigint,
  any other number double, booleans boolean, anything else string; strings
  are never read as numbers or dates, so a later value cannot contradict
  the type); a CSV column has none (new columns are strings). It never
  raises for bad content: the parser reports that.
- :func:`normalize_json` rewrites a JSON lines file so every object line holds
  exactly the given keys (a key it lacks is null) and, with ``rescued``, the
  keys outside them packed into one ``_rescued`` key as a JSON text (null when
  the line has none). Other lines are kept as they are, so line numbers stay;
  numbers are written as they were read.
- :func:`rescued_values` packs columns of parsed rows (CSV text, Parquet
  values) into the ``_rescued`` JSON texts, one per row.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from platform_assets.column_types import BIGINT, BOOLEAN, DOUBLE, STRING, ColumnType
from platform_assets.config import SourceSettings
from platform_assets.ingest.parsing.result import InputFile
from platform_assets.ingest.parsing.spark_files import read_head
from platform_assets.ingest.parsing.text import (
    JSON_LINE_ERRORS,
    UTF8_NAMES,
    Dialect,
    JsonFloat,
    JsonInt,
    canonical_encoding,
    first_nonblank_line,
    header_names,
    is_blank_json_line,
    load_json_line,
    to_utf8,
)
from platform_assets.ingest.parsing.types import declared_type_of

LATIN1 = "iso8859-1"
RESCUED = "_rescued"
"""The column that holds, under ``schema.evolution: rescue``, a row's unknown columns as one JSON object."""


@dataclass(frozen=True)
class FileColumns:
    """A file's columns (see the module contract).

    ``types``: name -> declared type where the file tells one (Parquet, JSON);
    ``unmapped``: Parquet columns of a type no declared type holds (name -> the
    type's text); ``arrow``: a Parquet file's own schema; ``uniform``: every
    JSON object line holds every key.
    """

    names: tuple[str, ...]
    types: dict[str, ColumnType] = field(default_factory=dict)
    unmapped: dict[str, str] = field(default_factory=dict)
    arrow: pa.Schema | None = None
    uniform: bool = True


def file_columns(item: InputFile, source: SourceSettings, known: Collection[str] = ()) -> FileColumns | None:
    """The file's columns, or None when it names none (empty, no header, headerless CSV, unreadable).

    Reads a CSV file up to its header line and a JSON file line by line: no
    file has to fit in memory. JSON keys in ``known`` (the product's columns)
    get no type: only new keys need one.
    """
    try:
        if source.format == "parquet":
            return _parquet_columns(item.path)
        if source.format == "json":
            return _json_columns(item.path, source.encoding, frozenset(known))
        return _csv_columns(item.path, source) if source.header else None
    except (OSError, ValueError, pa.ArrowInvalid):
        return None  # unreadable or undecodable: the parser reports it


def _csv_columns(path: str, source: SourceSettings) -> FileColumns | None:
    encoding = canonical_encoding(source.encoding)
    if encoding in UTF8_NAMES or encoding == LATIN1:
        head, _ = read_head(path, strip_bom=encoding in UTF8_NAMES)
        text = head.decode(encoding).encode("utf-8") if encoding == LATIN1 else head
    else:
        with open(path, "rb") as handle:
            decoded, failure = to_utf8(handle.read(), source.encoding)
        if failure is not None or decoded is None:
            return None
        text = bytes(decoded)
    first = first_nonblank_line(text)
    if first is None:
        return None
    _, start, end, _ = first
    names = header_names(text[start:end], Dialect.of(source))
    if not any(names) or len(set(names)) != len(names):
        return None  # the parser reports a blank or repeated header
    return FileColumns(tuple(names))


def _lines(path: str, encoding: str) -> Iterator[str]:
    """The file's lines without their breaks (CRLF, CR or LF), decoded as the parsers decode it."""
    name = canonical_encoding(encoding)
    with open(path, encoding="utf-8-sig" if name in UTF8_NAMES else name, newline="") as handle:
        for line in handle:
            yield line.rstrip("\r\n")


def _parquet_columns(path: str) -> FileColumns | None:
    schema = pq.read_schema(path)
    if len(set(schema.names)) != len(schema.names):
        return None  # the parser reports the repeated column
    types, unmapped = {}, {}
    for column in schema:
        declared = declared_type_of(column.type)
        if declared is None:
            unmapped[column.name] = str(column.type)
        else:
            types[column.name] = declared
    return FileColumns(tuple(schema.names), types, unmapped, arrow=schema)


def _json_columns(path: str, encoding: str, known: frozenset[str]) -> FileColumns | None:
    names: dict[str, None] = {}
    kinds: dict[str, set[str]] = {}
    key_sets: set[frozenset[str]] = set()
    for line in _lines(path, encoding):
        if is_blank_json_line(line):
            continue
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            continue  # the parser rejects the line
        if not isinstance(value, dict):
            continue
        keys = frozenset(value)
        if keys not in key_sets:
            key_sets.add(keys)
            names.update(dict.fromkeys(value))
        for name in keys - known:
            kinds.setdefault(name, set()).add(_kind(value[name]))
    if not names:
        return None
    types = {name: _json_type(found) for name, found in kinds.items()}
    return FileColumns(tuple(names), types, uniform=len(key_sets) == 1)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if -(2**63) <= value < 2**63 else "number"
    if isinstance(value, float):
        return "number"
    return "text"


def _json_type(kinds: set[str]) -> ColumnType:
    present = kinds - {"null"}
    if present == {"boolean"}:
        return BOOLEAN
    if present == {"integer"}:
        return BIGINT
    if present and present <= {"integer", "number"}:
        return DOUBLE
    return STRING


def normalize_json(item: InputFile, source: SourceSettings, keys: Sequence[str], rescued: bool, target: str) -> None:
    """Write ``item`` normalized to ``target`` in UTF-8 (LF breaks; see the module contract).

    The caller parses ``target`` as UTF-8, whatever ``source.encoding`` says.
    """
    wanted = list(keys)
    known = set(wanted)
    with open(target, "w", encoding="utf-8", newline="") as out:
        for line in _lines(item.path, source.encoding):
            out.write(_normalized_line(line, wanted, known, rescued) + "\n")


def _normalized_line(line: str, wanted: list[str], known: set[str], rescued: bool) -> str:
    if is_blank_json_line(line):
        return line
    try:
        value = load_json_line(line)
    except JSON_LINE_ERRORS:
        return line
    if not isinstance(value, dict):
        return line
    fields = [(name, value.get(name)) for name in wanted]
    if rescued:
        unknown = {name: item for name, item in value.items() if name not in known}
        fields.append((RESCUED, _dump(unknown) if unknown else None))
    return "{" + ",".join(json.dumps(name, ensure_ascii=False) + ":" + _dump(item) for name, item in fields) + "}"


def _dump(value: Any) -> str:
    """``value`` as JSON text; numbers as they were written."""
    if isinstance(value, (JsonInt, JsonFloat)):
        return str(value)
    if isinstance(value, dict):
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + _dump(v) for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_dump(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def rescued_values(columns: dict[str, pa.Array | pa.ChunkedArray], rows: int) -> pa.Array:
    """One JSON object text per row holding ``columns`` (name -> values); NULL for every row when there are none."""
    if not columns:
        return pa.nulls(rows, pa.string())
    names = list(columns)
    values = [column.to_pylist() for column in columns.values()]
    packed = [
        json.dumps(dict(zip(names, row)), ensure_ascii=False, separators=(",", ":"), default=_plain)
        for row in zip(*values)
    ]
    return pa.array(packed, pa.string())


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)
