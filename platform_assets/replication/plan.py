"""What one sync does: seed, resume a seed, apply (X, Y], or nothing; and up to which batch Y.

Contracts:

- :func:`sync_point` (incremental): ``--to-batch Y`` when given (it must be a
  batch the primary committed, not beyond its latest committed batch, and not
  below the replica's X); otherwise the highest committed batch in
  ``(X, X + max_batches_per_sync]`` (a far-behind replica catches up in
  steps), or the first committed batch above X when every batch of that window
  was excluded; X itself when nothing is newer.
- :func:`seed_point`: ``--to-batch Y`` (validated the same way) or the
  primary's latest committed batch.
- :func:`reset_reason` says why a synced replica must reseed rather than apply
  a delta: its layout changed other than by columns added or widened (which
  the delta's transaction applies to the table in place), it follows another
  primary now, the
  primary's latest committed batch is below X (counter reset), or batch X's
  fingerprint (commit time + epoch) is not the one synced (rebuilt store).
- :func:`plan_sync` combines them with an unfinished seed, which resumes as of
  its own Y when its primary, Y's fingerprint and the layout still hold, and
  is discarded (reseed) otherwise; columns added or widened since it began
  do not discard it (the shadow takes them, see :mod:`.seed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from platform_assets.replication.errors import BatchOutOfRange
from platform_assets.replication.state import Fingerprint, ReplicaState, SeedProgress, follows_in_place


class SyncMode(StrEnum):
    """What one sync does (its text is what results, metadata and logs show)."""

    SEED = "seed"
    """Copy the replica as of Y afresh (or go on with an unfinished seed)."""
    INCREMENTAL = "incremental"
    """Apply what changed in (X, Y]."""
    NOOP = "noop"
    """Nothing: the replica is at Y already."""


@dataclass(frozen=True)
class Plan:
    """The sync to run.

    ``resume``: the unfinished seed to go on with. ``reseed_reason``: why a new
    seed replaces the replica (or an unfinished seed). ``discard_seed``: an
    unfinished seed that cannot go on must be dropped first.
    """

    mode: SyncMode
    from_batch: int | None
    to_batch: int
    reseed_reason: str | None = None
    resume: SeedProgress | None = None
    discard_seed: bool = False


def check_requested(product: str, primary: str, requested: int, latest: int, committed: Sequence[int]) -> None:
    """BatchOutOfRange unless ``requested`` is a committed batch of the primary."""
    if requested > latest:
        raise BatchOutOfRange(
            f"replica {product!r}: --to-batch {requested} is beyond the latest committed batch {latest} of primary "
            f"{primary!r}; sync to {latest} or below, or wait for the primary to commit batch {requested}"
        )
    if requested not in set(committed):
        below = [batch for batch in committed if batch < requested]
        nearest = f"the nearest committed batch below is {below[-1]}" if below else "no committed batch is below it"
        raise BatchOutOfRange(
            f"replica {product!r}: batch {requested} is not committed on primary {primary!r} (excluded, failed or "
            f"never merged); {nearest}: pass a committed batch to --to-batch"
        )


def seed_point(product: str, primary: str, latest: int, committed: Sequence[int], requested: int | None) -> int:
    """Y of a seed: the requested batch, or the primary's latest committed batch."""
    if requested is None:
        return latest
    check_requested(product, primary, requested, latest, committed)
    return requested


def sync_point(
    product: str,
    primary: str,
    last: int,
    latest: int,
    committed: Sequence[int],
    requested: int | None,
    max_batches: int,
) -> int:
    """Y of an incremental sync from X = ``last`` (see the module contract)."""
    if requested is not None:
        check_requested(product, primary, requested, latest, committed)
        if requested < last:
            raise BatchOutOfRange(
                f"replica {product!r} is at batch {last} of {primary!r}; it cannot go back to batch {requested} "
                "by applying changes. Sync to a batch at or above it."
            )
        return requested
    newer = [batch for batch in committed if batch > last]
    window = [batch for batch in newer if batch <= last + max_batches]
    if window:
        return window[-1]
    return newer[0] if newer else last


def reset_reason(
    state: ReplicaState, primary: str, latest: int, layout: str, fingerprint_of: Callable[[int], Fingerprint | None]
) -> str | None:
    """Why the synced replica in ``state`` must reseed from ``primary`` (None: the delta may be applied)."""
    last = state.last_batch
    assert last is not None
    if state.layout != layout and not (state.layout is not None and follows_in_place(state.layout, layout)):
        return "the replica's declared columns, key or milestone changed since it was built"
    if state.primary != primary:
        return (
            f"the replica followed primary {state.primary!r}, now {primary!r} serves it: batch numbers differ "
            "between platforms"
        )
    if latest < last:
        return (
            f"primary {primary!r}'s latest committed batch is {latest}, below the last synced batch {last}: "
            "its batch counter was reset"
        )
    current = fingerprint_of(last)
    if current != state.fingerprint:
        was = state.fingerprint
        now = (
            "not committed any more"
            if current is None
            else f"committed at {current.committed_at}, epoch {current.epoch}"
        )
        synced = f"committed at {was.committed_at}, epoch {was.epoch}" if was else "unknown"
        return f"batch {last} on primary {primary!r} is {now}, but the synced one was {synced}: the primary was rebuilt"
    return None


def seed_still_valid(
    seed: SeedProgress, primary: str, layout: str, fingerprint_of: Callable[[int], Fingerprint | None]
) -> str | None:
    """Why the unfinished ``seed`` cannot go on (None: resume it)."""
    if seed.layout != layout and not follows_in_place(seed.layout, layout):
        return "the replica's declared columns, key or milestone changed"
    if seed.primary != primary:
        return f"it was copying from primary {seed.primary!r}, now {primary!r} serves the replica"
    if fingerprint_of(seed.batch) != seed.fingerprint:
        return (
            f"batch {seed.batch} on primary {primary!r} is not the one the seed started from (the primary was rebuilt)"
        )
    return None


def plan_sync(
    state: ReplicaState,
    *,
    product: str,
    primary: str,
    latest: int,
    committed: Sequence[int],
    layout: str,
    requested: int | None,
    max_batches: int,
    fingerprint_of: Callable[[int], Fingerprint | None],
) -> Plan:
    """The sync to run now (see the module contract)."""
    discarded = None
    if state.seed is not None:
        why = seed_still_valid(state.seed, primary, layout, fingerprint_of)
        if why is None:
            return Plan(SyncMode.SEED, state.last_batch, state.seed.batch, state.seed.reason, resume=state.seed)
        discarded = f"the unfinished seed as of batch {state.seed.batch} was dropped: {why}"
    dropping = discarded is not None
    if state.last_batch is None:
        return Plan(
            SyncMode.SEED,
            None,
            seed_point(product, primary, latest, committed, requested),
            discarded,
            discard_seed=dropping,
        )
    reason = reset_reason(state, primary, latest, layout, fingerprint_of)
    if reason is not None:
        y = seed_point(product, primary, latest, committed, requested)
        return Plan(SyncMode.SEED, state.last_batch, y, reason, discard_seed=dropping)
    target = sync_point(product, primary, state.last_batch, latest, committed, requested, max_batches)
    mode = SyncMode.NOOP if target == state.last_batch else SyncMode.INCREMENTAL
    return Plan(mode, state.last_batch, target, discard_seed=dropping)
