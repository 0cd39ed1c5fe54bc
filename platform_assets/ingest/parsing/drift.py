"""Schema drift messages: how a file's columns differ from the product's.

Each function returns one human line per difference, in a fixed order: new
columns (file order), missing columns (declared order), then retyped or
repeated columns. A file error built from them (``result.drift_error``) names
the file and says what to do.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping

import pyarrow as pa

from platform_assets.column_types import ColumnType
from platform_assets.ingest.parsing.types import describe_arrow_type, parquet_castable

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def show_name(name: str) -> str:
    """A column name as printed in messages (quoted when it is not a plain identifier)."""
    return name if _IDENTIFIER.match(name) else json.dumps(name)


def schema_differences(expected: Mapping[str, ColumnType], found: Mapping[str, ColumnType]) -> list[str]:
    """Lines describing how ``found`` (name -> declared type) differs from ``expected``."""
    lines = [f"new column {show_name(name)}" for name in found if name not in expected]
    lines += [f"missing column {show_name(name)}" for name in expected if name not in found]
    lines += [
        f"column {show_name(name)} was {expected[name]} now {found[name]}"
        for name in expected
        if name in found and found[name] != expected[name]
    ]
    return lines


def header_differences(declared: list[str], header: list[str]) -> list[str]:
    """Lines describing how a CSV header differs from the declared column names (order is free)."""
    lines = [f"new column {show_name(name)}" for name in _unique(header) if name not in declared]
    lines += [f"missing column {show_name(name)}" for name in declared if name not in header]
    counts = Counter(header)
    lines += [f"column {show_name(name)} appears {counts[name]} times" for name in _unique(header) if counts[name] > 1]
    return lines


def parquet_differences(expected: Mapping[str, ColumnType | str], found: pa.Schema) -> list[str]:
    """Lines describing why a Parquet file's schema cannot be read as ``expected``."""
    names = found.names
    lines = [f"new column {show_name(name)}" for name in _unique(names) if name not in expected]
    lines += [f"missing column {show_name(name)}" for name in expected if name not in names]
    counts = Counter(names)
    lines += [f"column {show_name(name)} appears {counts[name]} times" for name in _unique(names) if counts[name] > 1]
    for name, column_type in expected.items():
        if counts.get(name) == 1:
            data_type = found.field(name).type
            if not parquet_castable(data_type, column_type):
                lines.append(f"column {show_name(name)} was {column_type} now {describe_arrow_type(data_type)}")
    return lines


def _unique(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))
