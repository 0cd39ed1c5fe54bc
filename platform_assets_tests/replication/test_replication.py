"""Replication between two platforms: seed, incremental syncs, mirror, cap, idempotence.

Each test runs twice: the two merge stores as two SQLite files, and as two
PostgreSQL databases.
"""

from __future__ import annotations

import pytest

from platform_assets.merge import MergeStore
from platform_assets.replication import BatchOutOfRange, SyncMode, replicate, replication_status
from platform_assets_tests.replication.replication_support import (
    History,
    live_view_count,
    replica_config,
    replica_live_only,
    replica_mirror,
    row,
)


def five_batches(history: History) -> None:
    """Insert, update, delete, re-insert, and a key that lives for batch 3 only."""
    history.merge(1, {"a": row("Ann"), "b": row("Bob"), "c": row("Cy"), "d": row("Di")})
    history.merge(2, {"a": row("Ann", "2.00"), "b": row("Bob"), "d": row("Di"), "e": row("Eve")})
    history.merge(3, {"a": row("Ann", "2.00"), "b": row(""), "d": row("Di"), "e": row("Eve"), "z": row("Zed")})
    history.merge(4, {"a": row("Ann", "2.00"), "b": row(None), "c": row("Cy again"), "e": row("Eve", None)})
    history.merge(
        5, {"a": row("Ann", "3.00", 5), "b": row(None), "c": row("Cy again"), "e": row("Eve", None), "f": row("Fay")}
    )


def test_seed_below_latest_then_catch_up(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    five_batches(history)
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, chunk_size=2)
    product = config.products[0]

    seeded = replicate(config, product, to_batch=2, actor="test")
    assert (seeded.mode, seeded.from_batch, seeded.to_batch, seeded.primary) == ("seed", None, 2, "beta")
    assert seeded.chunks >= 3 and seeded.lag_batches == 3 and seeded.mode is SyncMode.SEED
    assert replica_live_only(replica_url) == history.live_only_at(2)

    caught_up = replicate(config, product, actor="test")
    assert (caught_up.mode, caught_up.from_batch, caught_up.to_batch, caught_up.lag_batches) == ("incremental", 2, 5, 0)
    assert replica_live_only(replica_url) == history.live_only_at(5) and caught_up.mode is SyncMode.INCREMENTAL
    assert live_view_count(replica_url) == len(history.live_only_at(5))
    # 2 -> 5: a and e changed, b changed, d deleted, c re-inserted, f new (z came and went)
    assert (caught_up.inserted, caught_up.updated, caught_up.deleted) == (2, 3, 1)


def test_one_batch_at_a_time_live_only(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, {"a": row("Ann"), "b": row("Bob")})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url})
    product = config.products[0]
    assert replicate(config, product).mode == "seed"
    batches = {
        2: {"a": row("Ann", "2.00"), "b": row("Bob"), "c": row("Cy")},  # update a, insert c
        3: {"a": row("Ann", "2.00"), "c": row("Cy"), "z": row("Zed")},  # delete b, z appears
        4: {"a": row("Ann", "2.00"), "b": row("Bob"), "c": row("Cy")},  # b re-inserted, z lived for batch 3 only
        5: {"a": row("Ann", "2.00"), "b": row("Bob"), "c": row("Cy")},  # nothing changed
    }
    expected_counts = {2: (1, 1, 0), 3: (1, 0, 1), 4: (1, 0, 1), 5: (0, 0, 0)}
    for batch, snapshot in batches.items():
        history.merge(batch, snapshot)
        result = replicate(config, product)
        assert (result.mode, result.from_batch, result.to_batch) == ("incremental", batch - 1, batch)
        assert (result.inserted, result.updated, result.deleted) == expected_counts[batch]
        assert replica_live_only(replica_url) == history.live_only_at(batch)


def test_mirror_below_and_at_latest(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    five_batches(history)
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, milestone="forensic", chunk_size=2)
    product = config.products[0]

    below = replicate(config, product, to_batch=3)
    assert (below.mode, below.to_batch) == ("seed", 3)
    assert replica_mirror(replica_url) == history.mirror_at(3)
    assert replicate(config, product, to_batch=4).mode == "incremental"
    assert replica_mirror(replica_url) == history.mirror_at(4)
    at_latest = replicate(config, product)
    assert (at_latest.mode, at_latest.from_batch, at_latest.to_batch) == ("incremental", 4, 5)
    assert replica_mirror(replica_url) == history.mirror_at(5)

    fresh_url = replica_url.replace("alpha_merge", "alpha2_merge") if replica_url.startswith("sqlite") else None
    if fresh_url:
        fresh = replica_config(
            tmp_path / "alpha2", fresh_url, {"beta": primary_url}, milestone="forensic", chunk_size=3
        )
        assert replicate(fresh, fresh.products[0]).to_batch == 5
        assert replica_mirror(fresh_url) == history.mirror_at(5)


def test_mirror_one_batch_at_a_time_with_a_single_batch_key(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, {"a": row("Ann")})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, milestone="forensic")
    product = config.products[0]
    replicate(config, product)
    for batch, snapshot in {
        2: {"a": row("Ann"), "z": row("Zed")},
        3: {"a": row("Ann", "2.00")},
        4: {"z": row("Zed")},
    }.items():
        history.merge(batch, snapshot)
        replicate(config, product)
        assert replica_mirror(replica_url) == history.mirror_at(batch)


def test_idempotent_resync_and_catch_up_cap(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    for batch in range(1, 8):
        history.merge(batch, {"a": row("Ann", f"{batch}.00"), **({"b": row("Bob")} if batch % 2 else {})})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, max_batches_per_sync=2)
    product = config.products[0]
    assert replicate(config, product, to_batch=1).to_batch == 1
    steps = [replicate(config, product) for _ in range(3)]
    assert [(step.from_batch, step.to_batch, step.lag_batches) for step in steps] == [(1, 3, 4), (3, 5, 2), (5, 7, 0)]
    assert replica_live_only(replica_url) == history.live_only_at(7)

    again = replicate(config, product)
    same = replicate(config, product, to_batch=7)
    assert (again.mode, same.mode, again.inserted + again.updated + again.deleted) == ("noop", "noop", 0)
    assert replica_live_only(replica_url) == history.live_only_at(7)

    with pytest.raises(BatchOutOfRange) as beyond:
        replicate(config, product, to_batch=9)
    assert "9" in str(beyond.value) and "latest committed batch 7" in str(beyond.value)
    with pytest.raises(BatchOutOfRange, match="cannot go back"):
        replicate(config, product, to_batch=5)

    status = replication_status(config, product)
    assert (status.last_synced_batch, status.lag_batches, status.needs_sync) == (7, 0, False)
