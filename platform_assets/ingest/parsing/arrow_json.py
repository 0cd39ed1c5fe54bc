"""The Arrow parser's JSON lines reader: one file's text into typed rows and rejects.

One object per non-blank line, with exactly the declared keys. Each value is
judged by its JSON kind (see ``types.py``) and, when it is text or a number,
cast like CSV text (``arrow_casting``). Lines are read one by one in Python, so
a line of any length parses (``platform.processing.max_line_bytes`` bounds
the CSV reader only).
"""

from __future__ import annotations

import mmap
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from platform_assets.column_types import BOOLEAN, ColumnType
from platform_assets.ingest.parsing.arrow_casting import cast_columns, rows_table
from platform_assets.ingest.parsing.result import FilePart, rejects_table
from platform_assets.ingest.parsing.text import (
    JSON_LINE_ERRORS,
    TEXT_BREAK,
    JsonFloat,
    JsonInt,
    is_blank_json_line,
    load_json_line,
)
from platform_assets.ingest.parsing.types import json_kind_reason


def _json_value(value: Any, column_type: ColumnType, column: str) -> tuple[str | None, str | None, bool]:
    """(text to cast, reason when the JSON kind cannot be the type, whether it came from a number)."""
    if value is None:
        return None, None, False
    if isinstance(value, (JsonInt, JsonFloat)):
        if column_type.is_numeric:
            return str(value), None, True
        return None, json_kind_reason(column, column_type, "number"), False
    if isinstance(value, str):
        return value, None, False
    if isinstance(value, bool):
        if column_type == BOOLEAN:
            return ("true" if value else "false"), None, False
        return None, json_kind_reason(column, column_type, "boolean"), False
    kind = "object" if isinstance(value, dict) else "array"
    return None, json_kind_reason(column, column_type, kind), False


def parse_json(key: str, data: bytes | mmap.mmap, schema: dict[str, ColumnType], first_line: int = 1) -> FilePart:
    """The rows and rejects of JSON lines text; line numbers count from ``first_line`` (a later piece of a file
    gives the line it starts on)."""
    declared = list(schema)
    known = set(declared)
    texts: list[list[str | None]] = [[] for _ in declared]
    kind_reasons: list[list[str | None]] = [[] for _ in declared]
    numbers: list[list[bool]] = [[] for _ in declared]
    lines_kept: list[int] = []
    raws_kept: list[str] = []
    rejected: list[tuple[int, str, str]] = []
    for number, line in enumerate(TEXT_BREAK.split(str(data, "utf-8")), start=first_line):
        if is_blank_json_line(line):
            continue
        try:
            value = load_json_line(line)
        except JSON_LINE_ERRORS:
            rejected.append((number, line, "invalid JSON"))
            continue
        if not isinstance(value, dict):
            rejected.append((number, line, "not a JSON object"))
            continue
        missing = [name for name in declared if name not in value]
        unknown = [name for name in value if name not in known]
        if missing or unknown:
            rejected.append((number, line, key_reason(missing, unknown)))
            continue
        for index, name in enumerate(declared):
            text, reason, is_number = _json_value(value[name], schema[name], name)
            texts[index].append(text)
            kind_reasons[index].append(reason)
            numbers[index].append(is_number)
        lines_kept.append(number)
        raws_kept.append(line)
    raw_columns = [pa.array(column, pa.string()) for column in texts]
    extra = [
        (pa.array(reasons, pa.string()), pa.array(flags, pa.bool_())) for reasons, flags in zip(kind_reasons, numbers)
    ]
    typed, reasons = cast_columns(schema, raw_columns, extra)
    rows = rows_table(key, schema, typed, reasons, pa.array(lines_kept, pa.int64()))
    found = list(rejected)
    if reasons is not None:
        for row in pc.indices_nonzero(pc.is_valid(reasons)).to_pylist():
            found.append((lines_kept[row], raws_kept[row], reasons[row].as_py()))
    if not found:
        return FilePart(rows=rows)
    found.sort(key=lambda item: item[0])
    return FilePart(rows=rows, rejects=rejects_table(key, found))


def key_reason(missing: list[str], unknown: list[str]) -> str:
    """The reject reason for a JSON object whose keys differ from the declared columns."""
    parts = []
    if missing:
        parts.append("missing column(s): " + ", ".join(missing))
    if unknown:
        parts.append("unknown column(s): " + ", ".join(unknown))
    return "; ".join(parts)
