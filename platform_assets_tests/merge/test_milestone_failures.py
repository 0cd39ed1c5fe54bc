"""Failed batches leave the merge table exactly as it was; order, exclusion, crash and atomicity."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from platform_assets.config import ProductConfig
from platform_assets.failpoints import EXIT_CODE
from platform_assets.merge import (
    DeleteGuardTripped,
    DuplicateKeys,
    ExcludedBatch,
    MergeError,
    MergeStore,
    NullKeys,
    OutOfOrderBatch,
    batch_log,
    exclude_batch,
    latest_committed_batch,
    merge_batch,
)
from platform_assets.merge import milestone as milestone_module
from platform_assets.merge.dialect import POSTGRESQL
from platform_assets.storage.sql import create_db_engine
from platform_assets_tests.merge.conftest import (
    LIVE,
    declared,
    make_product,
    read_live_view,
    read_merge_table,
    rows_table,
)

MILESTONES = ["forensic", "live_only"]
REPO = Path(__file__).resolve().parents[2]


def _statuses(store: MergeStore, product: Any) -> dict[int, str]:
    return {entry.batch: entry.status for entry in batch_log(store, product.name)}


@pytest.mark.parametrize("mode", ["snapshot", "incremental"])
@pytest.mark.parametrize("milestone", MILESTONES)
def test_duplicate_keys_fail_the_batch_and_name_the_keys(store: MergeStore, milestone: str, mode: str) -> None:
    product = make_product(milestone, mode)
    merge_batch(store, product, 1, rows_table(product, [("1", "a", "b"), ("2", "c", "d")]))
    before = read_merge_table(store, product)
    rows: list[tuple[str, str, str | None]] = [(str(number), "x", "y") for number in range(30)]
    rows += [(str(number), "again", None) for number in range(12)]  # 12 duplicated keys: 0..11
    with pytest.raises(DuplicateKeys) as raised:
        merge_batch(store, product, 2, rows_table(product, rows), earlier_batches=[1])
    error = raised.value
    assert error.count == 12
    assert len(error.keys) == 10
    assert "12 key(s)" in str(error) and "'0'" in str(error) and "'10'" in str(error)
    assert read_merge_table(store, product) == before
    entry = batch_log(store, product.name)[-1]
    assert (entry.batch, entry.status) == (2, "failed")
    assert entry.error and "more than once" in entry.error
    assert latest_committed_batch(store, product.name) == 1
    # the fixed version merges afterwards
    result = merge_batch(store, product, 2, rows_table(product, rows[:30]), earlier_batches=[1])
    assert result.status == "committed"
    assert _statuses(store, product) == {1: "committed", 2: "committed"}


def test_duplicate_composite_keys_are_named(store: MergeStore) -> None:
    product = make_product(columns={"k1": "string", "k2": "string", "v": "string"}, key=("k1", "k2"))
    rows = [("1", "23", "a"), ("12", "3", "b"), ("1", "23", "c")]
    with pytest.raises(DuplicateKeys, match=r"\('1', '23'\)") as raised:
        merge_batch(store, product, 1, rows_table(product, rows))
    assert raised.value.keys == [("1", "23")]


def test_null_key_fails_naming_the_column(store: MergeStore) -> None:
    product = make_product(columns={"k1": "string", "k2": "string", "v": "string"}, key=("k1", "k2"))
    with pytest.raises(NullKeys, match=r"'k2' is NULL in 2 row") as raised:
        merge_batch(store, product, 1, rows_table(product, [("1", None, "a"), ("2", None, "b"), ("3", "", "c")]))
    assert (raised.value.column, raised.value.count) == ("k2", 2)
    assert read_merge_table(store, product) == []
    assert _statuses(store, product) == {1: "failed"}


@pytest.mark.parametrize("milestone", MILESTONES)
def test_delete_guard_trips_and_leaves_the_table(store: MergeStore, milestone: str) -> None:
    product = make_product(milestone, "snapshot", max_delete_fraction=0.25)
    rows = [(str(number), "a", "b") for number in range(8)]
    merge_batch(store, product, 1, rows_table(product, rows))
    merge_batch(store, product, 2, rows_table(product, rows[2:]), earlier_batches=[1])  # 2 of 8 = 25%: allowed
    before = read_merge_table(store, product)
    with pytest.raises(DeleteGuardTripped) as raised:
        merge_batch(store, product, 3, rows_table(product, rows[4:] + [("new", "n", "n")]), earlier_batches=[1, 2])
    error = raised.value
    assert (error.deleted, error.live, error.limit) == (2, 6, 0.25)
    assert "33.33%" in str(error) and "25.00%" in str(error) and "max_delete_fraction" in str(error)
    assert "exclude" in str(error)
    assert read_merge_table(store, product) == before
    assert _statuses(store, product)[3] == "failed"


def test_delete_guard_is_off_by_default_and_ignores_incremental(store: MergeStore) -> None:
    rows = [(str(number), "a", "b") for number in range(4)]
    product = make_product("forensic", "snapshot")
    merge_batch(store, product, 1, rows_table(product, rows))
    assert merge_batch(store, product, 2, rows_table(product, []), earlier_batches=[1]).deleted == 4
    guarded = make_product("forensic", "incremental", max_delete_fraction=0.0)
    merge_batch(store, guarded, 1, rows_table(guarded, rows))
    assert merge_batch(store, guarded, 2, rows_table(guarded, rows[:1]), earlier_batches=[1]).live_count == 4


@pytest.mark.parametrize("milestone", MILESTONES)
def test_out_of_order_is_refused_then_exclusion_lets_later_batches_merge(store: MergeStore, milestone: str) -> None:
    product = make_product(milestone, "snapshot")
    merge_batch(store, product, 1, rows_table(product, [("1", "a", "b"), ("2", "c", "d")]))
    before = read_merge_table(store, product)
    with pytest.raises(OutOfOrderBatch, match="version 2 is not merged") as raised:
        merge_batch(store, product, 4, rows_table(product, [("1", "a", "z")]), earlier_batches=[1, 2, 3])
    assert raised.value.blocking == 2
    assert read_merge_table(store, product) == before
    assert 4 not in _statuses(store, product)  # a refused batch did not start

    exclude_batch(store, product, 2, "truncated files")
    with pytest.raises(OutOfOrderBatch, match="version 3") as raised:
        merge_batch(store, product, 4, rows_table(product, [("1", "a", "z")]), earlier_batches=[1, 2, 3])
    assert raised.value.blocking == 3
    exclude_batch(store, product, 3, "duplicate upload")
    result = merge_batch(store, product, 4, rows_table(product, [("1", "a", "z")]), earlier_batches=[1, 2, 3])
    assert (result.batch, result.inserted, result.updated, result.deleted) == (4, 0, 1, 1)
    if milestone == "forensic":  # batch ids keep the gap; closed rows end at 3 (= 4 - 1)
        assert read_merge_table(store, product) == sorted(
            [("1", "a", "b", 1, 3), ("1", "a", "z", 4, LIVE), ("2", "c", "d", 1, 3)], key=repr
        )
    else:
        assert read_merge_table(store, product) == [("1", "a", "z", 4)]
    log = {entry.batch: entry for entry in batch_log(store, product.name)}
    assert log[2].status == "excluded" and log[2].reason == "truncated files"
    assert latest_committed_batch(store, product.name) == 4

    with pytest.raises(ExcludedBatch):  # an excluded version stays out
        merge_batch(store, product, 2, rows_table(product, []), earlier_batches=[1])
    with pytest.raises(ExcludedBatch, match="committed"):  # a committed one cannot be excluded
        exclude_batch(store, product, 4, "too late")


def test_an_earlier_batch_cannot_merge_after_a_later_one(store: MergeStore) -> None:
    product = make_product()
    merge_batch(store, product, 1, rows_table(product, [("1", "a", "b")]))
    merge_batch(store, product, 3, rows_table(product, [("1", "a", "c")]), earlier_batches=[1])  # 2 unknown to caller
    with pytest.raises(OutOfOrderBatch, match="batch 3 is committed already") as raised:
        merge_batch(store, product, 2, rows_table(product, [("1", "x", "y")]), earlier_batches=[1])
    assert raised.value.blocking == 3


def test_a_failed_batch_blocks_later_ones(store: MergeStore) -> None:
    product = make_product()
    with pytest.raises(DuplicateKeys):
        merge_batch(store, product, 1, rows_table(product, [("1", "a", "b"), ("1", "a", "b")]))
    with pytest.raises(OutOfOrderBatch, match=r"version 1 is not merged \(status: failed\)"):
        merge_batch(store, product, 2, rows_table(product, [("1", "a", "b")]), earlier_batches=[1])


def test_products_without_key_or_schema_cannot_merge(store: MergeStore) -> None:
    product = make_product(key=())
    with pytest.raises(MergeError, match="no primary_key"):
        merge_batch(store, product, 1, rows_table(product, []))
    with pytest.raises(MergeError, match="no primary_key"):
        store.ensure_tables(product)


@pytest.mark.parametrize("milestone", MILESTONES)
def test_reader_sees_old_state_until_commit(store: MergeStore, milestone: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Just before COMMIT every merge statement has run; another connection still sees the old state."""
    product = make_product(milestone, "snapshot")
    first = [(f"k{number:04d}", "a", "b") for number in range(300)]
    merge_batch(store, product, 1, rows_table(product, first))
    old_live = read_live_view(store, product)
    second = [(key, "changed", b) for key, _, b in first[100:]] + [(f"n{number}", "n", None) for number in range(200)]
    observed: list[list[tuple[Any, ...]]] = []

    def look(name: str) -> None:
        observed.append(_read_live_from_another_connection(store, product))

    monkeypatch.setattr(milestone_module, "failpoint", look)
    result = merge_batch(store, product, 2, rows_table(product, second), earlier_batches=[1])
    assert (result.inserted, result.updated, result.deleted) == (200, 200, 100)
    assert observed == [old_live]
    assert len(read_live_view(store, product)) == 400


def _read_live_from_another_connection(store: MergeStore, product: ProductConfig) -> list[tuple[Any, ...]]:
    columns = ", ".join(f'"{name}"' for name in declared(product).columns)
    query = f'SELECT {columns} FROM "{product.name}_live"'
    if store.dialect is POSTGRESQL:
        engine = create_db_engine(store.url)
        try:
            with engine.connect() as connection:
                rows = [tuple(row) for row in connection.execute(text(query))]
        finally:
            engine.dispose()
    else:  # a plain reader (no BEGIN IMMEDIATE): WAL gives it the last committed state
        path = store.engine.url.database
        assert path is not None
        reader = sqlite3.connect(path, timeout=1)
        try:
            rows = [tuple(row) for row in reader.execute(query)]
        finally:
            reader.close()
    return sorted(rows, key=repr)


CRASH_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import pyarrow as pa
    from platform_assets.config import ProductConfig
    from platform_assets.merge import MergeStore, merge_batch
    from platform_assets.merge.spec import arrow_schema, merge_spec
    url, product_json, rows_json, batch, earlier = sys.argv[1:6]
    product = ProductConfig.model_validate(json.loads(product_json))
    rows = [tuple(row) for row in json.loads(rows_json)]
    schema = arrow_schema(merge_spec(product))
    table = pa.Table.from_arrays(
        [pa.array([row[i] for row in rows], field.type) for i, field in enumerate(schema)], schema=schema
    )
    merge_batch(MergeStore(url), product, int(batch), table, earlier_batches=json.loads(earlier))
    print("merged without crashing")
    """
)


def _merge_in_subprocess(store: MergeStore, product: Any, batch: int, rows: list[tuple[Any, ...]], earlier: list[int]):
    env = {
        **os.environ,
        "PLATFORM_FAILPOINTS": "merge.before_commit",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    arguments = [
        store.url,
        json.dumps(product.model_dump(by_alias=True, mode="json")),
        json.dumps(rows),
        str(batch),
        json.dumps(earlier),
    ]
    return subprocess.run(
        [sys.executable, "-c", CRASH_SCRIPT, *arguments], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("milestone", MILESTONES)
def test_crash_before_commit_leaves_the_table_and_the_rerun_completes(store: MergeStore, milestone: str) -> None:
    product = make_product(milestone, "snapshot")
    first = [(str(number), "a", None) for number in range(20)]
    merge_batch(store, product, 1, rows_table(product, first))
    before = read_merge_table(store, product)
    second = [(key, "b", None) for key, _, _ in first[5:]] + [("new", "", "")]

    crashed = _merge_in_subprocess(store, product, 2, second, [1])
    assert crashed.returncode == EXIT_CODE, crashed.stdout + crashed.stderr
    assert "merge.before_commit" in crashed.stderr
    assert read_merge_table(store, product) == before
    assert _statuses(store, product) == {1: "committed", 2: "started"}
    assert latest_committed_batch(store, product.name) == 1

    result = merge_batch(store, product, 2, rows_table(product, second), earlier_batches=[1])
    assert (result.status, result.inserted, result.updated, result.deleted, result.live_count) == (
        "committed",
        1,
        15,
        5,
        16,
    )
    assert _statuses(store, product) == {1: "committed", 2: "committed"}
    assert sorted(read_live_view(store, product), key=repr) == sorted(second, key=repr)
    if milestone == "forensic":
        assert len(read_merge_table(store, product)) == 20 + 16


@pytest.mark.parametrize("milestone", MILESTONES)
def test_concurrent_merges_of_one_batch_commit_once(store: MergeStore, milestone: str) -> None:
    product = make_product(milestone, "snapshot")
    merge_batch(store, product, 1, rows_table(product, [(str(number), "a", "b") for number in range(500)]))
    second = rows_table(product, [(str(number), "changed", "b") for number in range(250, 1000)])
    results: list[Any] = []
    errors: list[BaseException] = []

    def merge() -> None:
        try:
            results.append(merge_batch(MergeStore(store.url), product, 2, second, earlier_batches=[1]))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=merge) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(result.status for result in results) == ["committed", "noop", "noop"]
    committed = next(result for result in results if result.status == "committed")
    assert (committed.inserted, committed.updated, committed.deleted, committed.live_count) == (500, 250, 250, 750)
    assert len(read_live_view(store, product)) == 750
