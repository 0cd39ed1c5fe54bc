"""A crash between the two stores a review step writes leaves nothing half done: the next step finishes it.

The process is killed at a failpoint (``platform_assets/failpoints.py``), then the data is checked and the
work resumed; both state backends.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from platform_assets.config import load_config
from platform_assets.merge import BatchStatus, batch_log
from platform_assets.merge.versions import pending_merges, ready_merges
from platform_assets.platform import Platform
from platform_assets.storage.iceberg_tags import published_state
from platform_assets_tests.conftest import write_csv
from platform_assets_tests.versions.test_review_cli import ANN, BOB, CID, review_config


def processed_version(platform: Platform, tmp_path: Path, rows: list[tuple[str, ...]]) -> int:
    write_csv(tmp_path / "landing" / "a.csv", rows)
    registered = platform.sync("customers")
    assert registered is not None
    platform.capture("customers", registered.number)
    assert platform.process("customers", registered.number).version_status == "AWAITING_REVIEW"
    return registered.number


def crash(path: str, failpoint: str, code: str) -> None:
    script = f"from platform_assets.platform import Platform\np = Platform.from_path({path!r}, actor='dave')\n{code}"
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "PLATFORM_FAILPOINTS": failpoint},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 86, result.stderr


def test_a_crash_after_the_merge_commit_publishes_on_the_next_merge(tmp_path: Path, db_url: str) -> None:
    path = review_config(tmp_path, db_url)
    platform = Platform(load_config(path), actor="carol")
    assert processed_version(platform, tmp_path, [ANN, BOB]) == 1
    crash(path, "merge.before_publish", "p.approve('customers', 1)\np.merge('customers', 1)")
    product = platform.product("customers")
    entries = {entry.batch: entry.status for entry in batch_log(platform.services.merge_store, "customers")}
    assert entries == {1: BatchStatus.COMMITTED}
    assert platform.catalog.version("customers", 1).status == "APPROVED", "committed, not yet published"
    table = platform.services.iceberg.load(platform.services.iceberg.data_table("customers"))
    assert published_state(table) == (None, None)
    assert pending_merges(platform.services, product) == [1] and ready_merges(platform.services, product) == [1]

    platform.merge("customers", 1)  # the merge is a no-op; the publication is finished
    assert platform.catalog.version("customers", 1).status == "PUBLISHED"
    table = platform.services.iceberg.load(platform.services.iceberg.data_table("customers"))
    assert published_state(table)[0] == 1
    assert pending_merges(platform.services, product) == []


def test_a_crash_between_a_rejection_and_the_batch_log_does_not_block_the_merge_order(
    tmp_path: Path, db_url: str
) -> None:
    path = review_config(tmp_path, db_url)
    platform = Platform(load_config(path), actor="carol")
    assert processed_version(platform, tmp_path, [ANN]) == 1
    crash(path, "review.before_batch_log", "p.reject('customers', 1, 'wrong export')")
    assert platform.catalog.version("customers", 1).status == "REJECTED"
    assert batch_log(platform.services.merge_store, "customers") == [], "the batch log never heard of it"

    assert processed_version(platform, tmp_path, [ANN, CID]) == 2
    dave = Platform(load_config(path), actor="dave")
    dave.approve("customers", 2)
    assert ready_merges(dave.services, dave.product("customers")) == [2]
    result = dave.merge("customers", 2)
    assert result.inserted == 2
    entries = {entry.batch: entry.status for entry in batch_log(dave.services.merge_store, "customers")}
    assert entries == {1: BatchStatus.EXCLUDED, 2: BatchStatus.COMMITTED}


@pytest.mark.parametrize("who", ["carol", "erin"])
def test_refusals_change_nothing(tmp_path: Path, db_url: str, who: str) -> None:
    path = review_config(tmp_path, db_url)
    platform = Platform(load_config(path), actor="carol")
    processed_version(platform, tmp_path, [ANN])
    before = [(e.action, e.actor) for e in platform.catalog.audit_events("version", "customers/1")]
    from platform_assets.versions.review import ReviewRefused

    with pytest.raises(ReviewRefused):
        Platform(load_config(path), actor=who).approve("customers", 1)
    after = [(e.action, e.actor) for e in platform.catalog.audit_events("version", "customers/1")]
    assert after == before and platform.catalog.version("customers", 1).decided_by is None
