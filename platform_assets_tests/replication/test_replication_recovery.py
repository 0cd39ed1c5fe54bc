"""Replication when things go wrong: crashes, rebuilt primaries, failover, drift, refused primaries.

Each test runs with the two merge stores as two SQLite files and as two
PostgreSQL databases.
"""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from platform_assets.catalog import Catalog
from platform_assets.errors import TransientError, UserError
from platform_assets.failpoints import EXIT_CODE
from platform_assets.merge import MergeStore
from platform_assets.replication import (
    LiveOnlyPrimary,
    NoPrimaryAvailable,
    NotAReplica,
    ReplicaSchemaMismatch,
    ReplicationRefused,
    replicate,
    replication_status,
)
from platform_assets.replication.state import STATE_TABLE, ReplicaState, load_state
from platform_assets_tests.replication.replication_support import (
    COLUMNS,
    History,
    primary_product,
    replica_config,
    replica_live_only,
    replica_mirror,
    row,
    run_replicate_subprocess,
    wipe_store,
    write_replica_config,
)


def unreachable(stores: tuple[str, str], tmp_path) -> str:
    """A merge-store URL of the same backend that nothing answers."""
    if stores[0].startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'nowhere' / 'gamma_merge.db'}"
    return "postgresql://postgres@127.0.0.1:1/gamma"


def many_keys(count: int, version: int = 1) -> dict[str, tuple]:
    return {f"k{index:03d}": row(f"name {index} v{version}") for index in range(count)}


def seed_state(url: str) -> ReplicaState:
    engine = MergeStore(url).engine
    if not inspect(engine).has_table(STATE_TABLE):
        return ReplicaState("customers")
    with engine.connect() as connection:
        return load_state(connection, "customers")


@pytest.mark.parametrize("milestone", ["live_only", "forensic"])
def test_interrupted_seed_resumes_as_of_the_same_batch(stores, tmp_path, milestone) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, many_keys(30))
    history.merge(2, {**many_keys(30), "k000": row("changed")})
    path = write_replica_config(
        tmp_path / "alpha", replica_url, {"beta": primary_url}, chunk_size=4, milestone=milestone
    )

    crashed = run_replicate_subprocess(path, "replicate.seed.after_chunk=2")
    assert crashed.returncode == EXIT_CODE, crashed.stderr
    state = seed_state(replica_url)
    assert state.seed is not None
    assert (state.last_batch, state.seed.batch, state.seed.chunks, state.seed.rows) == (None, 2, 2, 8)
    assert state.seed.last_key == ["k007"]

    # the primary moves on (every row changes, k002 goes, new keys come) while the seed waits
    history.merge(3, {key: value for key, value in many_keys(40, 3).items() if key != "k002"})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, chunk_size=4, milestone=milestone)
    resumed = replicate(config, config.products[0])
    mirror = milestone == "forensic"
    history_rows = 1 if mirror else 0  # k000's first version, closed at batch 1
    assert (resumed.mode, resumed.to_batch, resumed.resumed, resumed.lag_batches) == ("seed", 2, True, 1)
    assert (resumed.rows_copied, resumed.inserted) == (22 + history_rows, 30 + history_rows)
    if mirror:
        assert replica_mirror(replica_url) == history.mirror_at(2)
    else:
        assert replica_live_only(replica_url) == history.live_only_at(2)

    caught_up = replicate(config, config.products[0])
    assert (caught_up.mode, caught_up.from_batch, caught_up.to_batch) == ("incremental", 2, 3)
    if mirror:
        assert replica_mirror(replica_url) == history.mirror_at(3)
    else:
        assert replica_live_only(replica_url) == history.live_only_at(3)


def test_crash_before_incremental_commit_leaves_replica_unchanged(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, many_keys(10))
    path = write_replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url})
    replicate(config, config.products[0])
    history.merge(2, {**many_keys(8), "new": row("New"), "k000": row("changed")})
    before = replica_live_only(replica_url)

    crashed = run_replicate_subprocess(path, "replicate.incremental.before_commit")
    assert crashed.returncode == EXIT_CODE, crashed.stderr
    assert replica_live_only(replica_url) == before == history.live_only_at(1)
    assert seed_state(replica_url).last_batch == 1

    rerun = replicate(config, config.products[0])
    assert (rerun.mode, rerun.from_batch, rerun.to_batch, rerun.inserted, rerun.updated, rerun.deleted) == (
        "incremental",
        1,
        2,
        1,
        1,
        2,
    )
    assert replica_live_only(replica_url) == history.live_only_at(2)


def reseed_events(config) -> list:
    events = Catalog(config.platform.state_db).audit_events("replica", "customers")
    return [event for event in events if event.action == "reseed"]


def test_primary_reset_below_last_synced_batch_reseeds(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    for batch in range(1, 5):
        history.merge(batch, {"a": row("Ann", f"{batch}.00"), "b": row("Bob")})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, milestone="forensic")
    product = config.products[0]
    replicate(config, product)

    wipe_store(primary_url)
    rebuilt = History(MergeStore(primary_url))
    rebuilt.merge(1, {"a": row("Ann again"), "c": row("Cy")})
    rebuilt.merge(2, {"c": row("Cy")})
    result = replicate(config, product, actor="ops")
    assert (result.mode, result.from_batch, result.to_batch) == ("seed", 4, 2)
    assert "below the last synced batch 4" in (result.reseed_reason or "")
    assert replica_mirror(replica_url) == rebuilt.mirror_at(2)
    [event] = reseed_events(config)
    assert (event.actor, event.change["last_synced_batch"], event.change["seed_to_batch"]) == ("ops", 4, 2)


def test_wiped_primary_that_passed_the_last_synced_batch_reseeds(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, {"a": row("Ann"), "b": row("Bob")})
    history.merge(2, {"a": row("Ann", "2.00"), "b": row("Bob")})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url})
    product = config.products[0]
    replicate(config, product)

    wipe_store(primary_url)
    rebuilt = History(MergeStore(primary_url))
    for batch in range(1, 5):
        rebuilt.merge(batch, {"x": row("Xi", f"{batch}.00")})
    status = replication_status(config, product)
    assert status.reseed_needed and status.needs_sync and status.lag_batches == 4
    result = replicate(config, product)
    assert (result.mode, result.from_batch, result.to_batch) == ("seed", 2, 4)
    assert "rebuilt" in (result.reseed_reason or "")
    assert replica_live_only(replica_url) == rebuilt.live_only_at(4)
    assert len(reseed_events(config)) == 1
    assert replicate(config, product).mode == "noop"


def test_unreachable_first_primary_is_skipped(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, {"a": row("Ann")})
    down = unreachable(stores, tmp_path)
    config = replica_config(
        tmp_path / "alpha", replica_url, {"gamma": down, "beta": primary_url}, primaries=["gamma", "beta"]
    )
    product = config.products[0]
    result = replicate(config, product)
    assert result.primary == "beta" and list(result.skipped_primaries) == ["gamma"]
    assert replica_live_only(replica_url) == history.live_only_at(1)

    history.merge(2, {"a": row("Ann", "2.00")})
    nobody = replica_config(
        tmp_path / "alpha2",
        replica_url,
        {"gamma": down, "delta": down.replace("gamma", "delta")},
        primaries=["gamma", "delta"],
    )
    with pytest.raises(NoPrimaryAvailable) as failed:
        replicate(nobody, nobody.products[0])
    assert set(failed.value.errors) == {"gamma", "delta"}
    assert isinstance(failed.value, TransientError), "an unreachable primary may answer later"
    assert "gamma:" in str(failed.value) and "delta:" in str(failed.value)
    assert replica_live_only(replica_url) == history.live_only_at(1)
    status = replication_status(nobody, nobody.products[0])
    assert status.serving_primary is None and status.lag_exceeded and not status.needs_sync


@pytest.mark.parametrize(
    "declared, expected",
    [
        ({**COLUMNS, "extra": "int"}, "'extra' (int) is declared here but not on the primary"),
        ({**COLUMNS, "name": "int"}, "'name' is string on the primary but int here"),
        ({**COLUMNS, "amount": "decimal(12,3)"}, "'amount' is decimal(12,2) on the primary but decimal(12,3) here"),
        ({**COLUMNS, "amount": "decimal(14,2)"}, "'amount' is decimal(12,2) on the primary but decimal(14,2) here"),
    ],
    ids=["declared-only", "retyped", "other-scale", "narrower-on-primary"],
)
def test_schema_drift_stops_the_sync(stores, tmp_path, declared, expected) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, {"a": row("Ann")})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, columns=declared)
    with pytest.raises(ReplicaSchemaMismatch) as drift:
        replicate(config, config.products[0])
    assert expected in str(drift.value)
    assert isinstance(drift.value, UserError), "the sync fails again until someone fixes schema.columns"
    assert seed_state(replica_url).last_batch is None


def test_live_only_primary_is_refused(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url), product=primary_product(milestone="live_only"))
    history.merge(1, {"a": row("Ann")})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url})
    with pytest.raises(LiveOnlyPrimary, match="cannot show which keys were deleted") as refused:
        replicate(config, config.products[0])
    assert isinstance(refused.value, UserError)


def test_a_primary_product_is_not_replicated(tmp_path) -> None:
    config = replica_config(
        tmp_path / "alpha", f"sqlite:///{tmp_path / 'm.db'}", {"beta": "sqlite:///x.db"}, primaries=["alpha", "beta"]
    )
    with pytest.raises(NotAReplica, match="primary on platform 'alpha'") as primary_here:
        replicate(config, config.products[0])
    assert isinstance(primary_here.value, UserError)


def test_changed_milestone_reseeds_into_the_new_form(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    history = History(MergeStore(primary_url))
    history.merge(1, {"a": row("Ann"), "b": row("Bob")})
    history.merge(2, {"a": row("Ann", "2.00")})
    live = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url})
    replicate(live, live.products[0])
    mirror = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, milestone="forensic")
    result = replicate(mirror, mirror.products[0])
    assert result.mode == "seed" and "milestone" in (result.reseed_reason or "")
    assert replica_mirror(replica_url) == history.mirror_at(2)
    with MergeStore(replica_url).engine.connect() as connection:
        assert connection.execute(text('SELECT count(*) FROM "customers_live"')).scalar_one() == 1


def test_failover_to_another_primary_reseeds_from_it(stores, tmp_path, pg_database) -> None:
    primary_url, replica_url = stores
    gamma_url = f"sqlite:///{tmp_path / 'gamma_merge.db'}" if primary_url.startswith("sqlite") else pg_database("gamma")
    beta, gamma = History(MergeStore(primary_url)), History(MergeStore(gamma_url))
    beta.merge(1, {"a": row("Ann"), "b": row("Bob")})
    for batch in (1, 2):  # gamma ingests the same source on its own: its batch numbers are its own
        gamma.merge(batch, {"a": row("Ann"), "c": row(f"Cy {batch}")})
    both = {"beta": primary_url, "gamma": gamma_url}
    config = replica_config(tmp_path / "alpha", replica_url, both)
    assert replicate(config, config.products[0]).primary == "beta"

    beta_down = replica_config(
        tmp_path / "alpha", replica_url, {**both, "beta": unreachable(stores, tmp_path)}, primaries=["beta", "gamma"]
    )
    result = replicate(beta_down, beta_down.products[0])
    assert (result.primary, result.mode, result.to_batch, list(result.skipped_primaries)) == (
        "gamma",
        "seed",
        2,
        ["beta"],
    )
    assert "followed primary 'beta', now 'gamma'" in (result.reseed_reason or "")
    assert replica_live_only(replica_url) == gamma.live_only_at(2)


def test_a_second_sync_of_the_same_replica_is_refused_while_one_runs(stores, tmp_path) -> None:
    from platform_assets.replication import ReplicationBusy
    from platform_assets.replication.lock import replica_lock

    primary_url, replica_url = stores
    History(MergeStore(primary_url)).merge(1, {"a": row("Ann")})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url})
    with replica_lock(MergeStore(replica_url), "customers"):
        with pytest.raises(ReplicationBusy, match="another sync of it is running") as busy:
            replicate(config, config.products[0])
    assert isinstance(busy.value, TransientError), "the other sync ends; this one may run later"
    assert replicate(config, config.products[0]).mode == "seed"


def test_a_merge_table_this_platform_merged_itself_is_not_replaced(stores, tmp_path) -> None:
    primary_url, replica_url = stores
    History(MergeStore(primary_url)).merge(1, {"a": row("Ann")})
    own = History(MergeStore(replica_url))  # alpha was primary for the product before
    own.merge(1, {"mine": row("Mine")})
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url})
    with pytest.raises(ReplicationRefused, match="batches it merged itself") as refused:
        replicate(config, config.products[0])
    assert isinstance(refused.value, UserError)
    assert replica_mirror(replica_url) == own.mirror_at(1)
