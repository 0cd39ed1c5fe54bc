"""A seed reports its progress (rows copied so far, chunk by chunk) through the Progress callback, both pairs of
stores (the PostgreSQL pair reads ahead)."""

from __future__ import annotations

from platform_assets.merge import MergeStore
from platform_assets.progress import ProgressUpdate
from platform_assets.replication import replicate
from platform_assets_tests.replication.replication_support import History, replica_config, row


def test_a_seed_reports_the_rows_it_copied_after_each_chunk(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, {key: row(key) for key in "abcdefg"})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, chunk_size=2)
    seen: list[ProgressUpdate] = []
    seeded = replicate(config, config.products[0], actor="test", progress=seen.append)
    assert seeded.mode == "seed" and seeded.chunks >= 4
    assert [update.task for update in seen] == ["seed replica customers as of batch 1"] * len(seen)
    done = [update.done for update in seen if not update.finished]
    assert done == sorted(done) and done[-1] == 7 and len(done) == seeded.chunks
    assert seen[-1].finished and seen[-1].line().startswith("seed replica customers as of batch 1: 7 rows, ")
    assert not any(update.total for update in seen), "the total is not known before the copy ends"
