"""Pure parts of replication: the sync plan, COPY text parsing, keyset SQL, schema differences."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest

from platform_assets.column_types import BIGINT, DATE, INT, STRING, ColumnType
from platform_assets.errors import EXIT_FAILED, PlatformError, TransientError, UserError
from platform_assets.merge import MergeError
from platform_assets.merge.spec import merge_spec
from platform_assets.replication import errors as replication_errors
from platform_assets.replication.errors import BatchOutOfRange
from platform_assets.replication.plan import Plan, plan_sync, reset_reason, sync_point
from platform_assets.replication.queries import keyset_after, seed_parts
from platform_assets.replication.schema import replica_differences
from platform_assets.replication.state import Fingerprint, ReplicaState, SeedProgress, follows_in_place, layout_of
from platform_assets.replication.transfer import parse_text_line
from platform_assets.schema_change import schema_change
from platform_assets_tests.replication.replication_support import primary_product

FP = {batch: Fingerprint(f"2024-01-0{batch}T00:00:00.000000+00:00", "epoch-1") for batch in range(1, 10)}


def test_sync_point_caps_skips_excluded_batches_and_validates_requests() -> None:
    committed = [1, 2, 3, 5, 6, 9]
    assert sync_point("p", "beta", 1, 9, committed, None, 100) == 9
    assert sync_point("p", "beta", 1, 9, committed, None, 3) == 3  # 4 is excluded: the highest committed in (1, 4]
    assert sync_point("p", "beta", 6, 9, committed, None, 2) == 9  # 7, 8 excluded: the next committed batch
    assert sync_point("p", "beta", 9, 9, committed, None, 2) == 9
    with pytest.raises(BatchOutOfRange, match="--to-batch 12 is beyond the latest committed batch 9 of primary 'beta'"):
        sync_point("p", "beta", 1, 9, committed, 12, 2)
    with pytest.raises(BatchOutOfRange, match="batch 4 is not committed .* nearest committed batch below is 3"):
        sync_point("p", "beta", 1, 9, committed, 4, 2)
    with pytest.raises(BatchOutOfRange, match="cannot go back to batch 2"):
        sync_point("p", "beta", 3, 9, committed, 2, 2)


def _plan(
    state: ReplicaState,
    latest: int = 5,
    primary: str = "beta",
    fingerprints: Mapping[int, Fingerprint | None] = FP,
    requested: int | None = None,
) -> Plan:
    return plan_sync(
        state,
        product="p",
        primary=primary,
        latest=latest,
        committed=list(range(1, latest + 1)),
        layout="L",
        requested=requested,
        max_batches=100,
        fingerprint_of=fingerprints.get,
    )


def _reason(plan: Plan) -> str:
    assert plan.reseed_reason is not None, plan
    return plan.reseed_reason


def test_plan_first_seed_incremental_noop_and_resets() -> None:
    assert _plan(ReplicaState("p")).mode == "seed"
    synced = ReplicaState("p", layout="L", primary="beta", last_batch=3, fingerprint=FP[3])
    assert (_plan(synced).mode, _plan(synced).from_batch, _plan(synced).to_batch) == ("incremental", 3, 5)
    assert _plan(synced, latest=3).mode == "noop"
    assert "below the last synced batch 3" in _reason(_plan(synced, latest=2))
    rebuilt = {**FP, 3: Fingerprint(FP[3].committed_at, "epoch-2")}
    assert "rebuilt" in _reason(_plan(synced, fingerprints=rebuilt))
    assert "now 'gamma'" in _reason(_plan(synced, primary="gamma"))
    assert "milestone" in _reason(
        _plan(ReplicaState("p", layout="other", primary="beta", last_batch=3, fingerprint=FP[3]))
    )


def test_plan_resumes_a_valid_seed_and_drops_a_stale_one() -> None:
    seed = SeedProgress("beta", 2, FP[2], "L", part=0, last_key=["k7"], rows=8, chunks=2)
    resumed = _plan(ReplicaState("p", seed=seed), latest=9)
    assert (resumed.mode, resumed.to_batch, resumed.resume) == ("seed", 2, seed)
    stale = _plan(ReplicaState("p", seed=seed), fingerprints={**FP, 2: None})
    assert (stale.mode, stale.to_batch, stale.discard_seed, stale.resume) == ("seed", 5, True, None)
    # a reseed from gamma was interrupted; beta (followed before, unchanged) answers again: plain incremental
    synced = ReplicaState(
        "p", layout="L", primary="beta", last_batch=3, fingerprint=FP[3], seed=SeedProgress("gamma", 4, FP[4], "L")
    )
    back = _plan(synced)
    assert (back.mode, back.from_batch, back.discard_seed) == ("incremental", 3, True)


def test_reset_reason_is_none_for_a_healthy_primary() -> None:
    state = ReplicaState("p", layout="L", primary="beta", last_batch=3, fingerprint=FP[3])
    assert reset_reason(state, "beta", 3, "L", FP.get) is None


def test_parse_text_line_unescapes_copy_text_format() -> None:
    line = b"tab\\there\tnew\\nline\t\\N\tback\\\\slash\t\\\\N\t\\x41\\101\t\xc3\xbc\n"
    assert parse_text_line(line, 7) == ["tab\there", "new\nline", None, "back\\slash", "\\N", "AA", "ü"]
    assert parse_text_line(b"a\tb\n", 1) == ["a"]


def test_keyset_predicates_and_seed_parts() -> None:
    assert keyset_after(["id"], ["text"], cast=False) == '"id" > :k0'
    assert keyset_after(["a", "b"], ["text", "bigint"], cast=True) == (
        '"a" >= CAST(:k0 AS text) AND ("a", "b") > (CAST(:k0 AS text), CAST(:k1 AS bigint))'
    )
    spec = merge_spec(primary_product())
    live_only = merge_spec(primary_product(milestone="live_only"))
    assert [part.name for part in seed_parts(spec)] == ["live_at", "history"]
    assert [part.name for part in seed_parts(live_only)] == ["live_at"]
    chunk = seed_parts(spec)[1].chunk("customers_merge", 4, [3, "k"], 10, cast_keys=False)
    assert chunk.keyset == ("_batch_out", "id") and chunk.params == {"y": 4, "limit": 10, "k0": 3, "k1": "k"}
    assert "OFFSET" not in chunk.sql.upper()


def test_replica_differences_name_columns_missing_on_the_primary_and_retyped_ones() -> None:
    declared = {"id": STRING, "amount": ColumnType.decimal(12, 3), "n": INT, "gone": DATE}
    primary = {"id": STRING, "amount": ColumnType.decimal(12, 2), "n": BIGINT, "extra": INT}
    change = schema_change(declared, primary, widen_types=True)
    assert replica_differences(change, declared, primary) == [
        "column 'gone' (date) is declared here but not on the primary",
        "column 'amount' is decimal(12,2) on the primary but decimal(12,3) here",
    ]


USER_ERRORS = ["ReplicationRefused", "NotAReplica", "LiveOnlyPrimary", "ReplicaSchemaMismatch", "BatchOutOfRange"]
TRANSIENT_ERRORS = ["NoPrimaryAvailable", "ReplicationBusy", "ReplicationInterrupted"]


@pytest.mark.parametrize("name", USER_ERRORS + TRANSIENT_ERRORS)
def test_each_replication_error_is_on_the_branch_of_what_the_user_can_do(name: str) -> None:
    error_class = getattr(replication_errors, name)
    branch = UserError if name in USER_ERRORS else TransientError
    other = TransientError if branch is UserError else UserError
    error = error_class("message")
    assert isinstance(error, replication_errors.ReplicationError) and isinstance(error, branch)
    assert not isinstance(error, (other, MergeError)), "one branch each; replication is no merge error"
    assert (error.kind, error.exit_code, str(error)) == (branch.kind, EXIT_FAILED, "message")


def test_every_concrete_replication_error_is_listed() -> None:
    concrete = {
        name
        for name, value in vars(replication_errors).items()
        if isinstance(value, type) and issubclass(value, replication_errors.ReplicationError)
    } - {"ReplicationError"}
    assert concrete == set(USER_ERRORS + TRANSIENT_ERRORS)


def test_merge_errors_are_user_errors() -> None:
    assert issubclass(MergeError, UserError) and issubclass(MergeError, PlatformError)


def test_added_and_widened_columns_are_followed_in_place_anything_else_reseeds() -> None:
    spec = merge_spec(primary_product(columns={"id": "string", "n": "int"}))
    wider = replace(spec, columns=(("id", STRING), ("n", BIGINT), ("note", STRING)))
    assert follows_in_place(layout_of(spec), layout_of(wider))
    assert not follows_in_place(layout_of(wider), layout_of(spec)), "a column is never dropped in place"
    assert not follows_in_place(layout_of(spec), layout_of(replace(wider, milestone="live_only")))
    assert not follows_in_place(layout_of(spec), layout_of(replace(spec, columns=(("id", STRING), ("n", STRING)))))
    synced = ReplicaState("p", layout=layout_of(spec), primary="beta", last_batch=3, fingerprint=FP[3])
    assert reset_reason(synced, "beta", 5, layout_of(wider), FP.get) is None
    assert "declared columns" in (reset_reason(synced, "beta", 5, layout_of(replace(spec, key=("n",))), FP.get) or "")
    seed = SeedProgress("beta", 4, FP[4], layout_of(spec), chunks=2)
    resumed = plan_sync(
        ReplicaState("p", seed=seed),
        product="p",
        primary="beta",
        latest=5,
        committed=[1, 2, 3, 4, 5],
        layout=layout_of(wider),
        requested=None,
        max_batches=100,
        fingerprint_of=FP.get,
    )
    assert resumed.resume == seed and not resumed.discard_seed
