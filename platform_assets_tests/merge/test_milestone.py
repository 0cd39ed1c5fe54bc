"""Milestoned merge, backend x milestone x mode: every row and its batch columns after every batch."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from platform_assets.merge import (
    BatchResultStatus,
    BatchStatus,
    MergeStore,
    batch_log,
    latest_committed_batch,
    merge_batch,
)
from platform_assets_tests.merge.conftest import (
    LIVE,
    Oracle,
    make_product,
    read_live_view,
    read_merge_table,
    rows_table,
)

MILESTONES = ["forensic", "live_only"]
MODES = ["snapshot", "incremental"]


def run_batches(
    store: MergeStore, product: Any, batches: Sequence[Sequence[Sequence[Any]]], oracle: Oracle | None = None
) -> Oracle:
    """Merge each batch in order and compare the whole table, the view and the counts with the oracle."""
    oracle = oracle or Oracle(product)
    done = [entry.batch for entry in batch_log(store, product.name)]
    for rows in batches:
        batch = max(done, default=0) + 1
        expected_counts = oracle.merge(batch, rows)
        result = merge_batch(store, product, batch, rows_table(product, rows), earlier_batches=done)
        done.append(batch)
        assert result.status == "committed"
        assert (result.inserted, result.updated, result.deleted) == expected_counts, f"batch {batch}"
        assert result.live_count == len(oracle.live)
        assert read_merge_table(store, product) == oracle.rows(), f"merge table after batch {batch}"
        assert read_live_view(store, product) == oracle.live_rows(), f"live view after batch {batch}"
    return oracle


# Batches exercising every kind of change and the traps of the reference implementation.
SEQUENCE = [
    [("1", "a", "x"), ("2", "b", None), ("3", "c", ""), ("4", "ab", "c"), ("6", "f", "f")],
    # 1 unchanged, 2 NULL -> '', 3 deleted, 4 ('ab','c') -> ('a','bc'), 5 new, 6 '' vs NULL the other way
    [("1", "a", "x"), ("2", "b", ""), ("4", "a", "bc"), ("5", "e", "e"), ("6", "f", None)],
    # 3 comes back after its delete, 5 deleted, 2 '' -> NULL, 1 changed
    [("1", "a", "y"), ("2", "b", None), ("3", "c", ""), ("4", "a", "bc"), ("6", "f", None)],
    # unchanged snapshot: a no-op batch
    [("1", "a", "y"), ("2", "b", None), ("3", "c", ""), ("4", "a", "bc"), ("6", "f", None)],
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("milestone", MILESTONES)
def test_sequence_of_batches_matches_the_model(store: MergeStore, milestone: str, mode: str) -> None:
    product = make_product(milestone, mode)
    run_batches(store, product, SEQUENCE)
    log = batch_log(store, product.name)
    assert [entry.status for entry in log] == ["committed"] * 4
    assert latest_committed_batch(store, product.name) == 4
    assert (log[-1].inserted, log[-1].updated, log[-1].deleted) == (0, 0, 0)


def test_forensic_snapshot_rows_explicitly(store: MergeStore) -> None:
    """The same sequence, expected rows written out by hand (guards the oracle too)."""
    product = make_product("forensic", "snapshot")
    for batch, rows in enumerate(SEQUENCE, start=1):
        merge_batch(store, product, batch, rows_table(product, rows), earlier_batches=range(1, batch))
    assert read_merge_table(store, product) == sorted(
        [
            ("1", "a", "x", 1, 2),
            ("1", "a", "y", 3, LIVE),
            ("2", "b", None, 1, 1),  # NULL -> '' closes the row
            ("2", "b", "", 2, 2),
            ("2", "b", None, 3, LIVE),
            ("3", "c", "", 1, 1),  # deleted in batch 2: _batch_out = 1
            ("3", "c", "", 3, LIVE),  # back in batch 3: a new history row
            ("4", "ab", "c", 1, 1),  # ('ab','c') -> ('a','bc') is a change
            ("4", "a", "bc", 2, LIVE),
            ("5", "e", "e", 2, 2),
            ("6", "f", "f", 1, 1),
            ("6", "f", None, 2, LIVE),
        ],
        key=repr,
    )


def test_live_only_snapshot_rows_explicitly(store: MergeStore) -> None:
    product = make_product("live_only", "snapshot")
    for batch, rows in enumerate(SEQUENCE, start=1):
        merge_batch(store, product, batch, rows_table(product, rows), earlier_batches=range(1, batch))
    assert read_merge_table(store, product) == sorted(
        [
            ("1", "a", "y", 3),
            ("2", "b", None, 3),
            ("3", "c", "", 3),
            ("4", "a", "bc", 2),
            ("6", "f", None, 2),
        ],
        key=repr,
    )


def test_incremental_forensic_rows_explicitly(store: MergeStore) -> None:
    product = make_product("forensic", "incremental")
    merge_batch(store, product, 1, rows_table(product, [("1", "a", "x"), ("2", "b", "y")]))
    result = merge_batch(
        store, product, 2, rows_table(product, [("2", "b", "z"), ("3", "c", None)]), earlier_batches=[1]
    )
    assert (result.inserted, result.updated, result.deleted, result.live_count) == (1, 1, 0, 3)
    assert read_merge_table(store, product) == sorted(
        [("1", "a", "x", 1, LIVE), ("2", "b", "y", 1, 1), ("2", "b", "z", 2, LIVE), ("3", "c", None, 2, LIVE)],
        key=repr,
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("milestone", MILESTONES)
def test_empty_first_snapshot_then_rows_then_nothing(store: MergeStore, milestone: str, mode: str) -> None:
    product = make_product(milestone, mode)
    oracle = run_batches(store, product, [[], [("1", "a", "b"), ("2", None, None)], []])
    if mode == "snapshot":  # the last, empty snapshot deletes every key
        assert oracle.live == {}
        assert read_live_view(store, product) == []
    else:  # an empty incremental batch changes nothing
        assert len(read_live_view(store, product)) == 2


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("milestone", MILESTONES)
def test_composite_keys_do_not_collide(store: MergeStore, milestone: str, mode: str) -> None:
    product = make_product(milestone, mode, columns={"k1": "string", "k2": "string", "v": "string"}, key=("k1", "k2"))
    run_batches(
        store,
        product,
        [
            [("1", "23", "x"), ("12", "3", "y"), ("", "123", "z"), ("123", "", "w")],
            [("1", "23", "x"), ("12", "3", "changed"), ("", "123", "z"), ("123", "", None)],
        ],
    )


@pytest.mark.parametrize("milestone", MILESTONES)
def test_unchanged_rows_are_not_touched(store: MergeStore, milestone: str) -> None:
    product = make_product(milestone, "snapshot")
    rows = [(str(number), f"name {number}", None if number % 3 else "") for number in range(50)]
    merge_batch(store, product, 1, rows_table(product, rows))
    before = read_merge_table(store, product)
    result = merge_batch(store, product, 2, rows_table(product, list(reversed(rows))), earlier_batches=[1])
    assert (result.status, result.inserted, result.updated, result.deleted, result.live_count) == (
        "committed",
        0,
        0,
        0,
        50,
    )
    assert read_merge_table(store, product) == before  # every row keeps batch 1


@pytest.mark.parametrize("milestone", MILESTONES)
def test_merging_a_merged_batch_is_a_noop(store: MergeStore, milestone: str) -> None:
    product = make_product(milestone, "snapshot")
    merge_batch(store, product, 1, rows_table(product, [("1", "a", "b")]))
    merge_batch(store, product, 2, rows_table(product, [("1", "a", "c")]), earlier_batches=[1])
    before = read_merge_table(store, product)
    log_before = batch_log(store, product.name)
    again = merge_batch(store, product, 2, rows_table(product, [("1", "a", "c")]), earlier_batches=[1])
    assert (again.status, again.inserted, again.updated, again.deleted, again.live_count) == ("noop", 0, 0, 0, 1)
    assert merge_batch(store, product, 1, rows_table(product, [("9", "z", "z")])).status == "noop"
    assert read_merge_table(store, product) == before
    assert batch_log(store, product.name) == log_before


@pytest.mark.parametrize("milestone", MILESTONES)
def test_many_rows_in_one_batch_are_set_based(store: MergeStore, milestone: str) -> None:
    """A few thousand rows per batch: counts and contents still exact."""
    product = make_product(milestone, "snapshot")
    first = [(f"k{number:05d}", str(number), None) for number in range(3000)]
    second = [
        (key, a, "changed" if index % 10 == 0 else b) for index, (key, a, b) in enumerate(first) if index % 20 != 1
    ] + [(f"n{number:05d}", "new", "") for number in range(200)]
    run_batches(store, product, [first, second])


def test_batch_log_records_times_and_counts(store: MergeStore) -> None:
    product = make_product("forensic", "snapshot")
    merge_batch(store, product, 1, rows_table(product, [("1", "a", "b"), ("2", "c", "d")]))
    merge_batch(store, product, 2, rows_table(product, [("1", "a", "B"), ("3", "e", "f")]), earlier_batches=[1])
    first, second = batch_log(store, product.name)
    assert (second.batch, second.status, second.inserted, second.updated, second.deleted, second.live_count) == (
        2,
        "committed",
        1,
        1,
        1,
        2,
    )
    for entry in (first, second):
        assert entry.started_at is not None and entry.started_at.utcoffset() == timedelta(0)
        assert entry.committed_at is not None and entry.committed_at >= entry.started_at
        assert entry.message is None and entry.error is None and entry.reason is None
    assert second.started_at is not None and first.committed_at is not None
    assert second.started_at >= first.committed_at


def test_batch_states_are_enums_over_the_stored_lowercase_text(store: MergeStore) -> None:
    product = make_product("live_only", "snapshot")
    merged = merge_batch(store, product, 1, rows_table(product, [("1", "a", "b")]))
    again = merge_batch(store, product, 1, rows_table(product, [("1", "a", "b")]))
    assert (merged.status, again.status) == (BatchResultStatus.COMMITTED, BatchResultStatus.NOOP)
    [entry] = batch_log(store, product.name)
    assert entry.status is BatchStatus.COMMITTED
    with store.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT status FROM merge_batches WHERE product = :product"), {"product": product.name}
        ).scalar_one()
    assert type(stored) is str and stored == "committed"
    assert f"{entry.status}, {merged.status}" == "committed, committed", "printed as the stored text"


def test_epoch_is_stable_and_per_store(store: MergeStore, tmp_path: Any) -> None:
    epoch = store.epoch()
    assert len(epoch) == 36
    assert MergeStore(store.url).epoch() == epoch
    assert MergeStore(f"sqlite:///{tmp_path / 'other.db'}").epoch() != epoch


def test_latest_committed_batch_without_a_log(tmp_path: Any) -> None:
    store = MergeStore(f"sqlite:///{tmp_path / 'empty.db'}")
    assert latest_committed_batch(store, "anything") is None
    assert latest_committed_batch(store.engine, "anything") is None
    assert batch_log(store, "anything") == []
