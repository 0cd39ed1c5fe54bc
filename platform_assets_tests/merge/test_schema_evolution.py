"""Schema evolution of the merge table: columns added and types widened in the batch's transaction.

Both backends, both milestones, both modes. The rule under test: a new column
that is NULL for every existing key opens no milestone; a value in it is a
change like any other.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text

from platform_assets.column_types import BIGINT, STRING
from platform_assets.config import ProductConfig
from platform_assets.failpoints import EXIT_CODE
from platform_assets.merge import MergeSchemaMismatch, MergeStore, batch_log, merge_batch
from platform_assets.merge.dialect import POSTGRESQL
from platform_assets_tests.merge.conftest import LIVE, make_product, read_live_view, read_merge_table, rows_table
from platform_assets_tests.merge.test_milestone_failures import _merge_in_subprocess

MILESTONES = ["forensic", "live_only"]
MODES = ["snapshot", "incremental"]


def evolved(product: ProductConfig, columns: dict[str, str], *, widen_types: bool = False) -> ProductConfig:
    """The same product (same name, same tables) declaring ``columns``."""
    schema = product.table_schema
    assert schema is not None
    return product.model_copy(
        update={"schema_": schema.model_copy(update={"columns": columns, "widen_types": widen_types})}
    )


def stored_types(store: MergeStore, product: ProductConfig) -> dict[str, str]:
    with store.engine.connect() as connection:
        columns = store.dialect.existing_columns(connection, f"{product.name}_merge")
    return {name: kind.replace(" ", "").lower() for name, kind in columns}


def plain(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows as both backends give them back alike: decimals as their text, NaN as 'NaN' (SQLite stores both as text)."""

    def value(item: Any) -> Any:
        if isinstance(item, Decimal):
            return str(item)
        if isinstance(item, float) and item != item:
            return "NaN"
        return item

    return sorted((tuple(value(item) for item in row) for row in rows), key=repr)


def view_columns(store: MergeStore, product: ProductConfig) -> list[str]:
    with store.engine.connect() as connection:
        return list(connection.execute(text(f'SELECT * FROM "{product.name}_live"')).keys())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("milestone", MILESTONES)
def test_an_added_column_null_for_every_key_opens_no_milestone_and_a_value_is_a_change(
    store: MergeStore, milestone: str, mode: str
) -> None:
    product = make_product(milestone, mode, columns={"id": "string", "a": "string"})
    first = [(str(number), "x") for number in range(5)]
    merge_batch(store, product, 1, rows_table(product, first))
    wider = evolved(product, {"id": "string", "a": "string", "email": "string"})

    second = [(key, value, None) for key, value in first] + [("new", "y", "new@example.com")]
    result = merge_batch(store, wider, 2, rows_table(wider, second), earlier_batches=[1])
    assert (result.inserted, result.updated, result.deleted) == (1, 0, 0)
    assert result.schema_change is not None and "'email' (string) is added" in result.schema_change
    assert view_columns(store, wider) == ["id", "a", "email"]
    batch_in = 1 if milestone == "forensic" else None
    untouched = [(key, value, None, batch_in, LIVE) if batch_in else (key, value, None, 1) for key, value in first]
    new_row = ("new", "y", "new@example.com", 2, LIVE) if batch_in else ("new", "y", "new@example.com", 2)
    assert read_merge_table(store, wider) == sorted(untouched + [new_row], key=repr)

    third = [("0", "x", "zero@example.com")] if mode == "incremental" else [*second[1:], ("0", "x", "zero@example.com")]
    result = merge_batch(store, wider, 3, rows_table(wider, third), earlier_batches=[1, 2])
    assert (result.inserted, result.updated, result.deleted, result.schema_change) == (0, 1, 0, None)
    rows = read_merge_table(store, wider)
    if milestone == "forensic":
        assert ("0", "x", None, 1, 2) in rows and ("0", "x", "zero@example.com", 3, LIVE) in rows
        assert len(rows) == 7
    else:
        assert ("0", "x", "zero@example.com", 3) in rows and len(rows) == 6
    assert ("0", "x", "zero@example.com") in read_live_view(store, wider)


@pytest.mark.parametrize("milestone", MILESTONES)
def test_widened_types_keep_every_stored_value_exactly(store: MergeStore, milestone: str) -> None:
    columns = {"id": "int", "label": "string", "amount": "decimal(10,2)", "score": "double"}
    product = make_product(milestone, "snapshot", columns=columns)
    first = [(1, "a", Decimal("12.30"), float("nan")), (2, "b", Decimal("-0.05"), 1.5), (3, None, None, None)]
    merge_batch(store, product, 1, rows_table(product, first))
    wider = evolved(
        product,
        {"id": "bigint", "label": "string", "amount": "decimal(14,2)", "score": "double", "note": "string"},
        widen_types=True,
    )

    second = [(*row, None) for row in first] + [(2**40, "big", Decimal("123456789012.34"), 0.0, "n")]
    result = merge_batch(store, wider, 2, rows_table(wider, second), earlier_batches=[1])
    assert (result.inserted, result.updated, result.deleted) == (1, 0, 0)
    assert result.schema_change is not None
    assert "'id' widens from int to bigint" in result.schema_change
    assert "'amount' widens from decimal(10,2) to decimal(14,2)" in result.schema_change
    types = stored_types(store, wider)
    if store.dialect is POSTGRESQL:
        assert (types["id"], types["amount"], types["note"]) == ("bigint", "numeric(14,2)", "text")
    else:
        assert (types["id"], types["amount"], types["note"]) == ("bigint", "decimal_text(14,2)", "text")
        with store.engine.connect() as connection:
            stored = connection.execute(
                text(f'SELECT "id", "amount", typeof("amount"), "score" FROM "{product.name}_merge" ORDER BY "id"')
            ).all()
        assert [tuple(row) for row in stored] == [
            (1, "12.30", "text", "NaN"),
            (2, "-0.05", "text", 1.5),
            (3, None, "null", None),
            (2**40, "123456789012.34", "text", 0.0),
        ]
    assert plain(read_live_view(store, wider)) == plain(second)

    # the key index still holds: a later batch matches the widened keys by value
    third = [(1, "a2", Decimal("12.30"), 2.0, None), (2**40, "big", Decimal("123456789012.34"), 0.0, "n")]
    result = merge_batch(store, wider, 3, rows_table(wider, third), earlier_batches=[1, 2])
    assert (result.inserted, result.updated, result.deleted) == (0, 1, 2)
    assert plain(read_live_view(store, wider)) == plain(third)


def test_the_indexes_survive_a_widening(store: MergeStore) -> None:
    product = make_product("forensic", "snapshot", columns={"id": "int", "a": "string"})
    merge_batch(store, product, 1, rows_table(product, [(1, "x")]))
    before = _index_names(store, product)
    wider = evolved(product, {"id": "bigint", "a": "string"}, widen_types=True)
    merge_batch(store, wider, 2, rows_table(wider, [(1, "y")]), earlier_batches=[1])
    assert _index_names(store, product) == before
    assert {f"{product.name}_merge$key", f"{product.name}_merge$bin", f"{product.name}_merge$bout"} <= before


def _index_names(store: MergeStore, product: ProductConfig) -> set[str]:
    if store.dialect is POSTGRESQL:
        query = "SELECT indexname FROM pg_indexes WHERE tablename LIKE :table"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name LIKE :table AND sql IS NOT NULL"
    with store.engine.connect() as connection:
        return set(connection.execute(text(query), {"table": f"{product.name}_merge%"}).scalars())


def test_a_widening_without_widen_types_fails_and_changes_nothing(store: MergeStore) -> None:
    product = make_product("forensic", "snapshot", columns={"id": "string", "n": "int"})
    merge_batch(store, product, 1, rows_table(product, [("1", 7)]))
    before = (stored_types(store, product), read_merge_table(store, product))
    wider = evolved(product, {"id": "string", "n": "bigint"}, widen_types=False)
    with pytest.raises(MergeSchemaMismatch, match=r"'n' widens from int to bigint, but schema\.widen_types is false"):
        merge_batch(store, wider, 2, rows_table(wider, [("1", 7)]), earlier_batches=[1])
    assert (stored_types(store, product), read_merge_table(store, product)) == before


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        ({"id": "string", "b": "string"}, r"'a' \(string\) is missing.*never taken for a rename"),
        ({"id": "string", "a": "int"}, r"'a' changes from string to int, which is not a widening"),
        ({"id": "string", "x": "string", "a": "string"}, r"'x' \(string\) is added before the existing column 'a'"),
    ],
)
def test_changes_that_are_not_an_evolution_are_refused(
    store: MergeStore, columns: dict[str, str], expected: str
) -> None:
    product = make_product("live_only", "snapshot", columns={"id": "string", "a": "string"})
    merge_batch(store, product, 1, rows_table(product, [("1", "v")]))
    changed = evolved(product, columns, widen_types=True)
    with pytest.raises(MergeSchemaMismatch, match=expected):
        row = tuple("1" if name == "id" else None for name in columns)
        merge_batch(store, changed, 2, rows_table(changed, [row]), earlier_batches=[1])
    assert view_columns(store, product) == ["id", "a"]


def test_a_narrowing_is_refused_even_with_widen_types(store: MergeStore) -> None:
    product = make_product("forensic", "snapshot", columns={"id": "string", "n": "bigint"})
    merge_batch(store, product, 1, rows_table(product, [("1", 7)]))
    narrower = evolved(product, {"id": "string", "n": "int"}, widen_types=True)
    with pytest.raises(MergeSchemaMismatch, match="'n' narrows from bigint to int"):
        merge_batch(store, narrower, 2, rows_table(narrower, [("1", 7)]), earlier_batches=[1])


@pytest.mark.parametrize("milestone", MILESTONES)
def test_a_crash_before_commit_leaves_the_old_table_and_view_and_the_rerun_evolves_them(
    store: MergeStore, milestone: str
) -> None:
    product = make_product(milestone, "snapshot", columns={"id": "string", "n": "int"})
    first = [(str(number), number) for number in range(10)]
    merge_batch(store, product, 1, rows_table(product, first))
    before = (stored_types(store, product), view_columns(store, product), read_merge_table(store, product))
    wider = evolved(product, {"id": "string", "n": "bigint", "note": "string"}, widen_types=True)
    second: list[tuple[Any, ...]] = [(key, number, None) for key, number in first[2:]] + [("big", 2**40, "n")]

    crashed = _merge_in_subprocess(store, wider, 2, second, [1])
    assert crashed.returncode == EXIT_CODE, crashed.stdout + crashed.stderr
    assert (stored_types(store, product), view_columns(store, product), read_merge_table(store, product)) == before
    assert {entry.batch: entry.status for entry in batch_log(store, product.name)} == {1: "committed", 2: "started"}

    result = merge_batch(MergeStore(store.url), wider, 2, rows_table(wider, second), earlier_batches=[1])
    assert (result.status, result.inserted, result.updated, result.deleted) == ("committed", 1, 0, 2)
    assert view_columns(store, wider) == ["id", "n", "note"]
    assert stored_types(store, wider)["n"] == "bigint"
    assert sorted(read_live_view(store, wider), key=repr) == sorted(second, key=repr)


def test_ensure_tables_leaves_a_pending_evolution_to_the_batch(store: MergeStore) -> None:
    product = make_product("forensic", "incremental", columns={"id": "string", "a": "string"})
    merge_batch(store, product, 1, rows_table(product, [("1", "v")]))
    wider = evolved(product, {"id": "string", "a": "string", "b": "string"})
    MergeStore(store.url).ensure_tables(wider)
    assert view_columns(store, product) == ["id", "a"]
    merge_batch(store, wider, 2, rows_table(wider, [("2", "w", "b")]), earlier_batches=[1])
    assert read_live_view(store, wider) == [("1", "v", None), ("2", "w", "b")]


@pytest.mark.parametrize("milestone", MILESTONES)
def test_a_batch_under_columns_the_files_added_evolves_the_table_the_config_does_not_declare(
    store: MergeStore, milestone: str
) -> None:
    """The catalog's schema version (columns a file added, a type it widened) drives the batch, not the config."""
    declared = {"id": "string", "n": "int"}
    product = evolved(make_product(milestone, "incremental", columns=declared), declared, widen_types=True)
    merge_batch(store, product, 1, rows_table(product, [("1", 7), ("2", 8)]))
    files_schema = {"id": STRING, "n": BIGINT, "city": STRING}
    wider = evolved(product, {name: str(kind) for name, kind in files_schema.items()}, widen_types=True)
    rows = rows_table(wider, [("1", 7, None), ("3", 2**40, "Bern")])
    result = merge_batch(store, product, 2, rows, earlier_batches=[1], columns=files_schema)
    assert (result.inserted, result.updated) == (1, 0)  # key 1: the new column NULL, 7 as bigint equals 7
    assert view_columns(store, product) == ["id", "n", "city"]
    assert stored_types(store, product)["n"] == "bigint"
    MergeStore(store.url).ensure_tables(product)  # the config is behind the table: reading it goes on
    assert sorted(read_live_view(store, wider), key=repr) == sorted(
        [("1", 7, None), ("2", 8, None), ("3", 2**40, "Bern")], key=repr
    )
    with pytest.raises(MergeSchemaMismatch, match="'city'"):  # merging under the config's columns would drop it
        merge_batch(store, product, 3, rows_table(product, [("4", 1)]), earlier_batches=[1, 2])
