"""A replica follows the primary's added columns and widened types in place, in the sync's transaction.

Each test runs with the two merge stores as two SQLite files and as two
PostgreSQL databases. The replica's declared columns stay the original ones:
a replica takes the primary's additive changes whatever it declares.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from platform_assets.failpoints import EXIT_CODE
from platform_assets.merge import MergeStore
from platform_assets.replication import replicate, replication_status
from platform_assets_tests.replication.replication_support import (
    COLUMNS,
    PRODUCT,
    History,
    primary_product,
    replica_config,
    replica_rows,
    row,
    run_replicate_subprocess,
    sort_key,
    write_replica_config,
)
from platform_assets_tests.replication.test_replication_recovery import many_keys, reseed_events, seed_state

WITH_EMAIL = {**COLUMNS, "email": "string"}
WIDER = {**COLUMNS, "amount": "decimal(14,2)", "email": "string"}
MILESTONES = ["live_only", "forensic"]


def evolve(history: History, columns: dict[str, str], *, widen_types: bool = False) -> None:
    """The primary declares ``columns`` from its next batch on; the model's earlier rows read NULL in new columns."""
    product = primary_product(columns=columns)
    schema = product.table_schema
    assert schema is not None
    history.product = product.model_copy(update={"schema_": schema.model_copy(update={"widen_types": widen_types})})
    width = len(columns) - 1
    history.snapshots = {
        batch: {key: values + (None,) * (width - len(values)) for key, values in snapshot.items()}
        for batch, snapshot in history.snapshots.items()
    }


def expected(history: History, batch: int, milestone: str) -> list[tuple[Any, ...]]:
    """What the replica as of ``batch`` holds, in :func:`replica_rows`' form."""
    if milestone == "forensic":
        return history.mirror_at(batch)
    return sorted(((key, *values) for key, values in history.live_only_at(batch).items()), key=sort_key)


def replica_view_columns(url: str) -> list[str]:
    with MergeStore(url).engine.connect() as connection:
        return list(connection.execute(text(f'SELECT * FROM "{PRODUCT}_live"')).keys())


def replica_types(url: str) -> dict[str, str]:
    store = MergeStore(url)
    with store.engine.connect() as connection:
        columns = store.dialect.existing_columns(connection, f"{PRODUCT}_merge")
    return {name: kind.replace(" ", "").lower() for name, kind in columns}


@pytest.mark.parametrize("milestone", MILESTONES)
def test_added_and_widened_columns_on_the_primary_reach_the_replica_without_a_reseed(
    stores: tuple[str, str], tmp_path: Path, milestone: str
) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, {"a": row("Ann"), "b": row("Bob")})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, milestone=milestone)
    assert replicate(config, config.products[0]).mode == "seed"

    evolve(history, WITH_EMAIL)
    history.merge(2, {"a": (*row("Ann"), None), "b": (*row("Bob"), "bob@example.com"), "c": (*row("Cy"), None)})
    status = replication_status(config, config.products[0])
    assert (status.reseed_needed, status.lag_batches) == (None, 1)
    added = replicate(config, config.products[0])
    assert (added.mode, added.from_batch, added.to_batch) == ("incremental", 1, 2)
    assert (added.inserted, added.updated, added.deleted) == (1, 1, 0), "a NULL in the new column is no change"
    assert added.schema_change is not None and "'email' (string) is added" in added.schema_change
    assert replica_view_columns(replica_url) == list(WITH_EMAIL)
    mirror = milestone == "forensic"
    assert replica_rows(replica_url, WITH_EMAIL, mirror) == expected(history, 2, milestone)

    evolve(history, WIDER, widen_types=True)
    big = (Decimal("123456789012.34"), dt.date(2024, 1, 1))
    history.merge(3, {"a": ("Ann", *big, None), "b": (*row("Bob"), "bob@example.com"), "c": (*row("Cy"), None)})
    widened = replicate(config, config.products[0])
    assert (widened.mode, widened.to_batch, widened.updated) == ("incremental", 3, 1)
    assert widened.schema_change is not None and "'amount' widens from decimal(12,2) to decimal(14,2)" in (
        widened.schema_change
    )
    assert replica_types(replica_url)["amount"] in ("numeric(14,2)", "decimal_text(14,2)")
    assert replica_rows(replica_url, WIDER, mirror) == expected(history, 3, milestone)
    assert replicate(config, config.products[0]).mode == "noop"
    assert reseed_events(config) == []


@pytest.mark.parametrize("milestone", MILESTONES)
def test_a_first_seed_takes_the_columns_the_primary_added(
    stores: tuple[str, str], tmp_path: Path, milestone: str
) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, {"a": row("Ann")})
    evolve(history, WITH_EMAIL)
    history.merge(2, {"a": (*row("Ann"), "ann@example.com")})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, milestone=milestone)
    seeded = replicate(config, config.products[0])
    assert (seeded.mode, seeded.to_batch) == ("seed", 2)
    assert replica_view_columns(replica_url) == list(WITH_EMAIL)
    assert replica_rows(replica_url, WITH_EMAIL, milestone == "forensic") == expected(history, 2, milestone)
    assert replicate(config, config.products[0]).mode == "noop"


def test_a_crash_before_the_incremental_commit_leaves_the_old_table_and_view(
    stores: tuple[str, str], tmp_path: Path
) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, many_keys(10))
    path = write_replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url})
    replicate(config, config.products[0])
    evolve(history, WIDER, widen_types=True)
    history.merge(2, {**{key: (*values, None) for key, values in many_keys(8).items()}, "new": (*row("N"), "n@x")})
    before = (replica_types(replica_url), replica_view_columns(replica_url), replica_rows(replica_url, COLUMNS, False))

    crashed = run_replicate_subprocess(path, "replicate.incremental.before_commit")
    assert crashed.returncode == EXIT_CODE, crashed.stderr
    after = (replica_types(replica_url), replica_view_columns(replica_url), replica_rows(replica_url, COLUMNS, False))
    assert after == before
    assert seed_state(replica_url).last_batch == 1

    rerun = replicate(config, config.products[0])
    assert (rerun.mode, rerun.inserted, rerun.updated, rerun.deleted) == ("incremental", 1, 0, 2)
    assert replica_view_columns(replica_url) == list(WIDER)
    assert replica_rows(replica_url, WIDER, False) == expected(history, 2, "live_only")


@pytest.mark.parametrize("milestone", MILESTONES)
def test_an_unfinished_seed_takes_the_primary_s_new_column_and_goes_on(
    stores: tuple[str, str], tmp_path: Path, milestone: str
) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, many_keys(30))
    path = write_replica_config(
        tmp_path / "alpha", replica_url, {"beta": primary_url}, chunk_size=4, milestone=milestone
    )
    crashed = run_replicate_subprocess(path, "replicate.seed.after_chunk=2")
    assert crashed.returncode == EXIT_CODE, crashed.stderr
    assert seed_state(replica_url).seed is not None

    evolve(history, WIDER, widen_types=True)
    history.merge(2, {**{key: (*values, None) for key, values in many_keys(30).items()}, "k001": (*row("x"), "@")})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, chunk_size=4, milestone=milestone)
    resumed = replicate(config, config.products[0])
    assert (resumed.mode, resumed.to_batch, resumed.resumed) == ("seed", 1, True)
    mirror = milestone == "forensic"
    assert replica_view_columns(replica_url) == list(WIDER)
    assert replica_rows(replica_url, WIDER, mirror) == expected(history, 1, milestone)

    caught_up = replicate(config, config.products[0])
    assert (caught_up.mode, caught_up.to_batch, caught_up.updated) == ("incremental", 2, 1)
    assert replica_rows(replica_url, WIDER, mirror) == expected(history, 2, milestone)
    assert reseed_events(config) == []
