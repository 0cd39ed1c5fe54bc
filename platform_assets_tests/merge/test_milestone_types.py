"""Every declared column type: exact round trip, exact change detection; schema checks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import text

from platform_assets.merge import MergeSchemaMismatch, MergeStore, batch_log, merge_batch
from platform_assets.merge.dialect import POSTGRESQL
from platform_assets_tests.merge.conftest import declared, make_product, read_merge_table, rows_table

TYPES = {
    "id": "int",
    "s": "string",
    "i": "int",
    "big": "bigint",
    "d": "double",
    "flag": "boolean",
    "day": "date",
    "at": "timestamp",
    "amount": "decimal(12,2)",
}
T0 = datetime(2024, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)
BASE = (0, "text", 1, 2**40, 0.1, True, date(2024, 1, 31), T0, Decimal("1234567890.12"))
TRICKY_STRINGS = ["", " ", "NULL", "\\N", "\\.", 'a "quoted", value', "line\nbreak\r\n", "ü€😀", "back\\slash", ","]


def _variants() -> list[tuple[Any, ...]]:
    """Row 0 is the base; each later row differs from the base in exactly one column (by one step or by NULL)."""
    changes = [
        (1, None),
        (1, ""),
        (2, None),
        (2, -2147483648),
        (3, None),
        (3, -(2**63)),
        (4, None),
        (4, 0.30000000000000004),
        (5, None),
        (5, False),
        (6, None),
        (6, date(1, 1, 1)),
        (7, None),
        (7, T0 + timedelta(microseconds=1)),
        (8, None),
        (8, Decimal("-0.01")),
    ]
    rows: list[tuple[Any, ...]] = [BASE]
    for number, (column, value) in enumerate(changes, start=1):
        row = list(BASE)
        row[0] = number
        row[column] = value
        rows.append(tuple(row))
    for number, value in enumerate(TRICKY_STRINGS, start=len(rows)):
        row = list(BASE)
        row[0], row[1] = number, value
        rows.append(tuple(row))
    return rows


def _as_stored(store: MergeStore, value: Any) -> Any:
    """What the backend returns for a value we merged (SQLite keeps canonical text)."""
    if store.dialect is POSTGRESQL or value is None:
        return value
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%fZ")
    if isinstance(value, (date, Decimal)):
        return str(value) if isinstance(value, Decimal) else value.isoformat()
    return value


def _stored_rows(
    store: MergeStore, rows: list[tuple[Any, ...]], batch_columns: tuple[Any, ...]
) -> list[tuple[Any, ...]]:
    return sorted((tuple(_as_stored(store, value) for value in row) + batch_columns for row in rows), key=repr)


@pytest.mark.parametrize("milestone", ["forensic", "live_only"])
def test_every_type_round_trips_and_every_change_is_seen(store: MergeStore, milestone: str) -> None:
    product = make_product(milestone, "snapshot", columns=TYPES)
    rows = _variants()
    merge_batch(store, product, 1, rows_table(product, rows))
    batch_1 = (1, 2147483647) if milestone == "forensic" else (1,)
    assert read_merge_table(store, product) == _stored_rows(store, rows, batch_1)

    # batch 2: every row takes the base values: each non-base row has exactly one column to change back
    same = [(row[0],) + BASE[1:] for row in rows]
    result = merge_batch(store, product, 2, rows_table(product, same), earlier_batches=[1])
    assert (result.inserted, result.updated, result.deleted) == (0, len(rows) - 1, 0)
    # batch 3: the same again: nothing changes (no false positives on doubles, decimals, timestamps)
    again = merge_batch(store, product, 3, rows_table(product, same), earlier_batches=[1, 2])
    assert (again.inserted, again.updated, again.deleted) == (0, 0, 0)
    live = (2, 2147483647) if milestone == "forensic" else (2,)
    expected_live = _stored_rows(store, same[1:], live) + _stored_rows(store, same[:1], batch_1)
    stored = read_merge_table(store, product)
    live_rows = [row for row in stored if milestone == "live_only" or row[-1] == 2147483647]
    assert live_rows == sorted(expected_live, key=repr)
    if milestone == "forensic":  # the closed versions are the batch-1 rows, ended at batch 1
        closed = [row for row in stored if row[-1] != 2147483647]
        assert closed == _stored_rows(store, rows[1:], (1, 1))


@pytest.mark.parametrize("mode", ["snapshot", "incremental"])
def test_typed_composite_keys(store: MergeStore, mode: str) -> None:
    product = make_product("forensic", mode, columns={"day": "date", "n": "bigint", "v": "string"}, key=("day", "n"))
    first = [(date(2024, 1, 1), 1, "a"), (date(2024, 1, 1), 2, "b"), (date(2024, 1, 2), 1, "c")]
    merge_batch(store, product, 1, rows_table(product, first))
    second = [(date(2024, 1, 1), 1, "a"), (date(2024, 1, 1), 2, "B"), (date(2024, 1, 3), 1, "d")]
    result = merge_batch(store, product, 2, rows_table(product, second), earlier_batches=[1])
    deleted = 1 if mode == "snapshot" else 0
    assert (result.inserted, result.updated, result.deleted) == (1, 1, deleted)


def test_rows_must_have_the_declared_columns(store: MergeStore) -> None:
    product = make_product()
    with pytest.raises(MergeSchemaMismatch, match=r"missing \['b'\]"):
        merge_batch(store, product, 1, pa.table({"id": ["1"], "a": ["x"]}))
    with pytest.raises(MergeSchemaMismatch, match=r"not declared \['c'\]"):
        merge_batch(store, product, 1, pa.table({"id": ["1"], "a": ["x"], "b": ["y"], "c": ["z"]}))
    assert batch_log(store, product.name)[-1].status == "failed"
    assert read_merge_table(store, product) == []


def test_lossless_conversions_are_applied_and_others_refused(store: MergeStore) -> None:
    product = make_product(columns={"id": "int", "s": "string", "at": "timestamp"})
    rows = pa.table(
        {
            "at": pa.array([datetime(2024, 1, 1, 1, tzinfo=UTC)], pa.timestamp("s", tz="UTC")),
            "s": pa.array(["x"], pa.large_string()),
            "id": pa.array([7], pa.int64()),
        }
    )
    assert merge_batch(store, product, 1, rows).inserted == 1  # columns reordered, types converted
    with pytest.raises(MergeSchemaMismatch, match="'id'"):
        merge_batch(store, product, 2, rows.set_column(2, "id", pa.array([2**40], pa.int64())), earlier_batches=[1])
    with pytest.raises(MergeSchemaMismatch, match="'id' is string"):
        merge_batch(store, product, 2, rows.set_column(2, "id", pa.array(["7"])), earlier_batches=[1])


def test_existing_table_with_other_columns_is_refused(store: MergeStore) -> None:
    product = make_product()
    merge_batch(store, product, 1, rows_table(product, [("1", "a", "b")]))
    changed = product.model_copy(
        update={
            "schema_": declared(product).model_copy(update={"columns": {"id": "string", "a": "string", "b": "int"}})
        }
    )
    with pytest.raises(MergeSchemaMismatch, match="column .b. changes from string to int, which is not a widening"):
        MergeStore(store.url).ensure_tables(changed)
    other_form = product.model_copy(update={"milestone": "live_only"})
    with pytest.raises(MergeSchemaMismatch, match="_batch_in"):
        MergeStore(store.url).ensure_tables(other_form)


def test_live_view_has_product_columns_only(store: MergeStore) -> None:
    product = make_product()
    merge_batch(store, product, 1, rows_table(product, [("1", "a", "b")]))
    with store.engine.connect() as connection:
        result = connection.execute(text(f'SELECT * FROM "{product.name}_live"'))
        assert list(result.keys()) == ["id", "a", "b"]


def test_ensure_tables_is_idempotent(store: MergeStore) -> None:
    product = make_product("forensic")
    for _ in range(2):
        MergeStore(store.url).ensure_tables(product)
    merge_batch(store, product, 1, rows_table(product, [("1", "a", "b")]))
    MergeStore(store.url).ensure_tables(product)
    assert len(read_merge_table(store, product)) == 1


@pytest.mark.parametrize("milestone", ["forensic", "live_only"])
def test_special_doubles_are_kept_and_compared_exactly(store: MergeStore, milestone: str) -> None:
    product = make_product(milestone, "snapshot", columns={"id": "int", "d": "double"})
    nan, inf = float("nan"), float("inf")
    rows = [(1, nan), (2, inf), (3, -inf), (4, None), (5, 0.1), (6, 1e-300)]
    merge_batch(store, product, 1, rows_table(product, rows))
    assert merge_batch(store, product, 2, rows_table(product, rows), earlier_batches=[1]).updated == 0
    next_after = 0.10000000000000002  # one ulp above 0.1
    changed = [(1, None), (2, inf), (3, -inf), (4, nan), (5, next_after), (6, 1e-300)]
    result = merge_batch(store, product, 3, rows_table(product, changed), earlier_batches=[1, 2])
    assert (result.inserted, result.updated, result.deleted) == (0, 3, 0)
    with store.engine.connect() as connection:
        stored: dict[int, Any] = dict(connection.execute(text(f'SELECT id, d FROM "{product.name}_live"')).all())
    assert stored[1] is None and stored[2] == inf and stored[3] == -inf and stored[6] == 1e-300
    assert stored[5] == next_after
    assert stored[4] != stored[4] or stored[4] == "NaN"  # NaN (PostgreSQL) or its text form (SQLite)
