"""Checks on a batch's rows before they touch the merge store (vectorized Arrow, no row loops).

Contract:
- :func:`conform_rows` returns the rows with exactly the product's columns in
  declared order and the declared Arrow types, or raises MergeSchemaMismatch naming
  the missing, extra or mistyped columns. Only lossless conversions within a
  type family are applied (large_string -> string, int64 -> int32 when every
  value fits, timestamp unit or zone -> us/UTC when exact, date64 -> date32).
- :func:`check_keys` raises NullKeys (naming the column and the count) or
  DuplicateKeys (naming up to 10 duplicated keys, smallest first).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from platform_assets.merge.errors import DuplicateKeys, MergeSchemaMismatch, NullKeys
from platform_assets.merge.spec import MergeSpec, arrow_schema

MAX_KEYS_SHOWN = 10


def conform_rows(spec: MergeSpec, rows: pa.Table, batch: int) -> pa.Table:
    """``rows`` as the product's declared Arrow schema (see the module contract)."""
    expected = arrow_schema(spec)
    names = rows.column_names
    missing = [name for name in expected.names if name not in names]
    extra = [name for name in names if name not in expected.names]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if missing or extra or repeated:
        raise MergeSchemaMismatch(
            f"batch {batch} of {spec.product!r}: the rows' columns do not match the declared schema "
            f"(missing {missing}, not declared {extra}, repeated {repeated}); declared: {list(expected.names)}"
        )
    table = rows.select(list(expected.names))
    columns = [_conform_column(spec, batch, table.column(field.name), field) for field in expected]
    return pa.Table.from_arrays(columns, schema=expected)


def _same_family(actual: pa.DataType, expected: pa.DataType) -> bool:
    checks = (
        pa.types.is_string,
        pa.types.is_integer,
        pa.types.is_floating,
        pa.types.is_boolean,
        pa.types.is_date,
        pa.types.is_timestamp,
        pa.types.is_decimal,
    )
    if pa.types.is_large_string(actual) and pa.types.is_string(expected):
        return True
    return any(check(actual) and check(expected) for check in checks)


def _conform_column(spec: MergeSpec, batch: int, column: pa.ChunkedArray, field: pa.Field) -> pa.ChunkedArray:
    if column.type == field.type:
        return column
    if _same_family(column.type, field.type):
        try:
            return column.cast(field.type, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
            reason = str(error).splitlines()[0]
        else:  # pragma: no cover - unreachable
            reason = ""
    else:
        reason = "a different kind of type"
    raise MergeSchemaMismatch(
        f"batch {batch} of {spec.product!r}: column {field.name!r} is {column.type} but the declared type needs "
        f"{field.type} ({reason}); convert the column when parsing, or fix the declared type"
    )


def check_keys(spec: MergeSpec, table: pa.Table, batch: int) -> None:
    """NullKeys / DuplicateKeys if the key columns are not a valid key of ``table``."""
    for name in spec.key:
        nulls = table.column(name).null_count
        if nulls:
            raise NullKeys(
                f"batch {batch} of {spec.product!r}: primary-key column {name!r} is NULL in {nulls} row(s); "
                "every row needs a key: fix the source files (or the key declaration) and process the version again",
                column=name,
                count=nulls,
            )
    if table.num_rows < 2 or _keys_unique(spec, table):
        return
    _raise_duplicates(spec, table, batch)


def _keys_unique(spec: MergeSpec, table: pa.Table) -> bool:
    if len(spec.key) == 1:
        return pc.count_distinct(table.column(spec.key[0])).as_py() == table.num_rows
    grouped = table.select(list(spec.key)).group_by(list(spec.key)).aggregate([])
    return grouped.num_rows == table.num_rows


def _raise_duplicates(spec: MergeSpec, table: pa.Table, batch: int) -> None:
    keys = list(spec.key)
    counted = table.select(keys).group_by(keys).aggregate([(keys[0], "count")])
    repeated = counted.filter(pc.greater(counted.column(f"{keys[0]}_count"), 1))
    shown = repeated.sort_by([(name, "ascending") for name in keys]).slice(0, MAX_KEYS_SHOWN)
    examples = list(zip(*(shown.column(name).to_pylist() for name in keys)))
    listed = ", ".join(_format_key(example) for example in examples)
    more = f" (first {len(examples)} shown)" if repeated.num_rows > len(examples) else ""
    raise DuplicateKeys(
        f"batch {batch} of {spec.product!r}: {repeated.num_rows} key(s) of ({', '.join(keys)}) occur more than once"
        f"{more}: {listed}. The merge table is unchanged. A key must identify one row, and a version never "
        f"changes: exclude it (`platform-assets exclude {spec.product} {batch} --reason TEXT`) and fix the source, "
        "whose next sync makes a new version; or, if the key is declared wrong, correct primary_key in "
        "platform.yaml and merge again",
        keys=examples,
        count=repeated.num_rows,
    )


def _format_key(values: tuple[object, ...]) -> str:
    return repr(values[0]) if len(values) == 1 else "(" + ", ".join(repr(value) for value in values) + ")"
