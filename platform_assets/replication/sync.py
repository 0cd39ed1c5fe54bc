"""Entry points: :func:`replicate` (one sync of a replicated product) and :func:`replication_status`.

Contract of :func:`replicate` (docs/architecture.md, "One file, from the sensor to a replica"):

1. The product must be a replica here (not in ``primary_platforms``) with a
   declared schema and key; only one sync per product and replica store runs
   at a time (:mod:`.lock`).
2. The first primary that answers, in ``primary_platforms`` order, serves the
   sync (:mod:`.primaries`); its merge table must be forensic with the
   replica's declared columns, maybe widened, maybe with more columns: the
   replica follows those additive changes (:mod:`.schema`).
3. :mod:`.plan` decides: resume an unfinished seed, seed (first sync, reset
   primary, changed layout, other primary), apply (X, Y], or nothing.
   A reseed is logged as a warning and audited in this platform's state
   catalog (entity_type ``replica``, action ``reseed``) before it starts.
4. :mod:`.seed` or :mod:`.incremental` does the work; errors leave the replica
   readable as it was.

The result reports the primary, X -> Y, the mode, the changes, the time and
the lag behind the primary's latest committed batch after the sync.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from psycopg2 import Error as PsycopgError  # raw COPY streams raise it outside SQLAlchemy
from sqlalchemy import Connection, inspect
from sqlalchemy.exc import SQLAlchemyError

from platform_assets.catalog import Catalog, default_actor
from platform_assets.config import PlatformConfig, ProductConfig
from platform_assets.merge.batch_log import latest_committed_batch
from platform_assets.merge.dialect import MergeDialect
from platform_assets.merge.names import META_TABLE
from platform_assets.merge.spec import MergeSpec, merge_spec
from platform_assets.merge.store import MergeStore
from platform_assets.merge.tables import read_epoch
from platform_assets.progress import Progress
from platform_assets.replication.errors import (
    NotAReplica,
    ReplicationError,
    ReplicationInterrupted,
    ReplicationRefused,
)
from platform_assets.replication.incremental import apply_delta
from platform_assets.replication.lock import replica_lock
from platform_assets.replication.plan import Plan, SyncMode, plan_sync, reset_reason
from platform_assets.replication.primaries import Primary, choose_primary, describe_error, probe_all, read_latest
from platform_assets.replication.schema import check_primary_table
from platform_assets.replication.seed import run_seed
from platform_assets.replication.shadow import drop_shadow
from platform_assets.replication.state import (
    STATE_TABLE,
    Fingerprint,
    ReplicaState,
    SeedProgress,
    clear_seed,
    ensure_state_table,
    layout_of,
    load_state,
    stamp,
)

log = logging.getLogger(__name__)

DATABASE_ERRORS = (SQLAlchemyError, PsycopgError, OSError)


@dataclass(frozen=True)
class ReplicationResult:
    """What one :func:`replicate` call did.

    ``inserted``/``updated``/``deleted``: for an incremental sync, keys whose
    live state changed from X to Y; for a seed, ``inserted`` is every row the
    replica holds as of Y. ``lag_batches``: the primary's latest committed
    batch (read after the sync) minus Y. ``timings``: seconds of the phases
    (seed: ``copy_s``, ``index_s``, ``switch_s``; incremental: ``copy_s``,
    ``apply_s``, the latter with the commit). ``schema_change``: the columns an
    incremental sync added to the replica's table or widened there (following
    the primary), described; None when it changed none.
    """

    product: str
    primary: str | None
    from_batch: int | None
    to_batch: int | None
    mode: SyncMode
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    rows_copied: int = 0
    chunks: int = 0
    duration_s: float = 0.0
    lag_batches: int = 0
    primary_latest: int | None = None
    reseed_reason: str | None = None
    resumed: bool = False
    milestone: str = ""
    skipped_primaries: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    schema_change: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The result as plain JSON values (``mode`` as its text)."""
        return {**asdict(self), "mode": str(self.mode)}

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> ReplicationResult:
        """The result :meth:`as_json` gave."""
        return cls(**{**value, "mode": SyncMode(value["mode"])})


@dataclass(frozen=True)
class PrimaryStatus:
    """One primary as seen now: its latest committed batch, or why it did not answer."""

    name: str
    latest: int | None
    error: str | None = None


@dataclass(frozen=True)
class ReplicationStatus:
    """Where a replica stands against its primaries (for sensors and checks; never raises for a primary)."""

    product: str
    last_synced_batch: int | None
    followed_primary: str | None
    serving_primary: str | None
    primaries: list[PrimaryStatus]
    lag_batches: int | None
    seed_in_progress: bool
    reseed_needed: str | None
    max_lag_batches: int
    seed_chunks: int = 0

    @property
    def needs_sync(self) -> bool:
        """True when a sync would do something: a primary is ahead, a seed is unfinished, or a reseed is due."""
        return self.serving_primary is not None and (
            self.seed_in_progress or self.reseed_needed is not None or (self.lag_batches or 0) > 0
        )

    @property
    def lag_exceeded(self) -> bool:
        """True when the lag is unknown (no primary answers) or above ``max_lag_batches``."""
        return self.lag_batches is None or self.lag_batches > self.max_lag_batches

    @property
    def serving_latest(self) -> int | None:
        for primary in self.primaries:
            if primary.name == self.serving_primary:
                return primary.latest
        return None


def check_replica(config: PlatformConfig, product: ProductConfig) -> MergeSpec:
    """The replica's MergeSpec; NotAReplica if the product is primary here, MergeError without schema or key."""
    if config.is_primary(product):
        raise NotAReplica(
            f"product {product.name!r} is primary on platform {config.platform.name!r} (primary_platforms: "
            f"{product.primary_platforms or 'empty, so every platform'}): it ingests from its source here and is not "
            "replicated; run sync/process/merge instead"
        )
    return merge_spec(product)


def _check_not_self(replica_epoch: str | None, primary: Primary, spec: MergeSpec) -> None:
    """A replica must never be its own primary: the seed's switch would drop the primary's table.

    ``replica_epoch`` is None when the replica store has no meta table: then it is not the primary's store.
    """
    if replica_epoch == primary.epoch:
        raise ReplicationRefused(
            f"replica {spec.product!r}: primary {primary.name!r} ({primary.masked_url}) is this platform's own merge "
            "store (same epoch); fix its merge_store URL under platforms: in platform.yaml"
        )


def _check_not_merged_here(store: MergeStore, spec: MergeSpec) -> None:
    """Refuse to replace a merge table this platform merged itself (it was primary before): move it aside first."""
    merged = latest_committed_batch(store.engine, spec.product)
    if merged is not None:
        raise ReplicationRefused(
            f"replica {spec.product!r}: this platform's merge store holds {spec.table!r} with batches it merged itself "
            f"(up to batch {merged}, from the time it was primary for the product); a seed would replace that table. "
            "If the product is a replica here now, rename or drop the table and its batch-log rows deliberately, "
            "then sync again."
        )


def _read_replica(store: MergeStore, product: str, session: Connection | None) -> tuple[str | None, ReplicaState]:
    """The replica store's epoch (None without a meta table; nothing is created for it) and the product's state.

    Through ``session`` (the lock's autocommit session) when given, else in a transaction of its own.
    """
    if session is not None:
        return _replica_epoch_and_state(session, store.dialect, product)
    with store.engine.begin() as connection:
        return _replica_epoch_and_state(connection, store.dialect, product)


def _replica_epoch_and_state(
    connection: Connection, dialect: MergeDialect, product: str
) -> tuple[str | None, ReplicaState]:
    missing = dialect.missing_tables(connection, (STATE_TABLE, META_TABLE))
    if STATE_TABLE in missing:
        ensure_state_table(connection)
    epoch = None if META_TABLE in missing else read_epoch(connection)
    return epoch, load_state(connection, product)


def replicate(
    config: PlatformConfig,
    product: ProductConfig,
    *,
    to_batch: int | None = None,
    actor: str | None = None,
    progress: Progress | None = None,
) -> ReplicationResult:
    """Sync the replica of ``product`` on this platform up to ``to_batch`` (default: see :mod:`.plan`).

    A seed reports the rows it copied to ``progress`` after each chunk.
    """
    started = time.monotonic()
    spec = check_replica(config, product)
    store = MergeStore(config.platform.merge_store)
    with replica_lock(store, product.name) as session:
        primary, skipped = choose_primary(config, product)
        replica_epoch, state = _read_replica(store, product.name, session)
        _check_not_self(replica_epoch, primary, spec)
        spec = check_primary_table(primary, spec)  # the declared columns, plus those the primary added or widened
        plan = plan_sync(
            state,
            product=product.name,
            primary=primary.name,
            latest=primary.latest,
            committed=primary.committed,
            layout=layout_of(spec),
            requested=to_batch,
            max_batches=product.replication.max_batches_per_sync,
            fingerprint_of=primary.fingerprint,
        )
        if plan.mode == SyncMode.SEED and state.last_batch is None:
            _check_not_merged_here(store, spec)
        if plan.discard_seed:
            _discard_seed(store, spec)
        chunk_size = product.replication.chunk_size
        result = _execute(config, store, primary, spec, plan, actor or default_actor(), chunk_size, progress)
    latest = read_latest(primary, product.name)
    return ReplicationResult(
        **{
            **result,
            "product": product.name,
            "primary": primary.name,
            "from_batch": plan.from_batch,
            "to_batch": plan.to_batch,
            "mode": plan.mode,
            "duration_s": time.monotonic() - started,
            "lag_batches": max(0, latest - plan.to_batch),
            "primary_latest": latest,
            "reseed_reason": plan.reseed_reason,
            "milestone": spec.milestone,
            "skipped_primaries": skipped,
        }
    )


def _execute(
    config: PlatformConfig,
    store: MergeStore,
    primary: Primary,
    spec: MergeSpec,
    plan: Plan,
    actor: str,
    chunk_size: int,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the planned sync; the counts of the result. Database errors become ReplicationInterrupted (what is left)."""
    try:
        return _run(config, store, primary, spec, plan, actor, chunk_size, progress)
    except DATABASE_ERRORS as error:
        left = (
            "the replica is unchanged"
            if plan.mode == SyncMode.INCREMENTAL
            else "the replica is unchanged and the seed keeps the chunks it committed: the next sync resumes it"
        )
        raise ReplicationInterrupted(
            f"replica {spec.product!r}: the {plan.mode} sync from primary {primary.name!r} failed "
            f"({describe_error(error)}); {left}. Run the sync again once the cause is fixed."
        ) from error


def _run(
    config: PlatformConfig,
    store: MergeStore,
    primary: Primary,
    spec: MergeSpec,
    plan: Plan,
    actor: str,
    chunk_size: int,
    progress: Progress | None = None,
) -> dict[str, Any]:
    if plan.mode == SyncMode.NOOP:
        return {}
    if plan.mode == SyncMode.INCREMENTAL:
        assert plan.from_batch is not None
        fingerprint = _fingerprint_of_y(primary, spec, plan)
        delta = apply_delta(store, primary, spec, plan.from_batch, plan.to_batch, fingerprint, layout_of(spec))
        timings = {"copy_s": delta.copy_s, "apply_s": delta.apply_s}
        return {
            "inserted": delta.inserted,
            "updated": delta.updated,
            "deleted": delta.deleted,
            "rows_copied": delta.rows_copied,
            "timings": timings,
            "schema_change": delta.schema_change,
        }
    seed = plan.resume or _new_seed(config, primary, spec, plan, actor)
    outcome = run_seed(store, primary, spec, seed, chunk_size, progress)
    timings = {"copy_s": outcome.copy_s, "index_s": outcome.index_s, "switch_s": outcome.switch_s}
    return {
        "inserted": outcome.rows,
        "rows_copied": outcome.rows_now,
        "chunks": outcome.chunks,
        "resumed": plan.resume is not None,
        "timings": timings,
    }


def _fingerprint_of_y(primary: Primary, spec: MergeSpec, plan: Plan) -> Fingerprint:
    """Y's fingerprint as the probe read it (the plan only picks committed batches; a requested one is checked)."""
    fingerprint = primary.fingerprint(plan.to_batch)
    if fingerprint is None:
        raise ReplicationInterrupted(
            f"batch {plan.to_batch} of {spec.product!r} is not committed on primary {primary.name!r} any more; run "
            "the sync again"
        )
    return fingerprint


def _new_seed(config: PlatformConfig, primary: Primary, spec: MergeSpec, plan: Plan, actor: str) -> SeedProgress:
    fingerprint = _fingerprint_of_y(primary, spec, plan)
    if plan.reseed_reason is not None:
        log.warning(
            "replica %s: reseeding from %s as of batch %d: %s",
            spec.product,
            primary.name,
            plan.to_batch,
            plan.reseed_reason,
        )
        audit_reseed(config, spec.product, actor, primary, plan)
    return SeedProgress(
        primary.name, plan.to_batch, fingerprint, layout_of(spec), reason=plan.reseed_reason, started_at=stamp()
    )


def audit_reseed(config: PlatformConfig, product: str, actor: str, primary: Primary, plan: Plan) -> None:
    """Record the reseed in this platform's state catalog (entity_type ``replica``, action ``reseed``)."""
    change = {
        "primary": primary.name,
        "primary_merge_store": primary.masked_url,
        "last_synced_batch": plan.from_batch,
        "seed_to_batch": plan.to_batch,
        "primary_latest_batch": primary.latest,
        "reason": plan.reseed_reason,
    }
    Catalog(config.platform.state_db).record_replica_reseed(product, change, actor)


def _discard_seed(store: MergeStore, spec: MergeSpec) -> None:
    with store.engine.begin() as connection:
        store.dialect.lock_product(connection, spec.product)
        drop_shadow(connection, spec)
        clear_seed(connection, spec.product)


def replication_status(config: PlatformConfig, product: ProductConfig) -> ReplicationStatus:
    """The replica's last synced batch, each primary's latest committed batch (or error), and the lag."""
    spec = check_replica(config, product)
    store = MergeStore(config.platform.merge_store)
    state = ReplicaState(product=product.name)
    if inspect(store.engine).has_table(STATE_TABLE):
        with store.engine.connect() as connection:
            state = load_state(connection, product.name)
    probed = probe_all(config, product)
    primaries = [
        PrimaryStatus(name, found.latest) if isinstance(found, Primary) else PrimaryStatus(name, None, found)
        for name, found in probed.items()
    ]
    serving = next((found for found in probed.values() if isinstance(found, Primary)), None)
    reseed, lag = _lag(state, spec, serving)
    return ReplicationStatus(
        product=product.name,
        last_synced_batch=state.last_batch,
        followed_primary=state.primary,
        serving_primary=serving.name if serving else None,
        primaries=primaries,
        lag_batches=lag,
        seed_in_progress=state.seed is not None,
        reseed_needed=reseed,
        max_lag_batches=product.replication.max_lag_batches,
        seed_chunks=state.seed.chunks if state.seed is not None else 0,
    )


def _lag(state: ReplicaState, spec: MergeSpec, serving: Primary | None) -> tuple[str | None, int | None]:
    """(why a reseed is due or None, batches the replica is behind the serving primary or None)."""
    if serving is None:
        return None, None
    if state.last_batch is None:
        return None, serving.latest
    try:
        spec = check_primary_table(serving, spec)
    except ReplicationError:
        pass  # the sync reports the drift; the declared layout stands here
    reason = reset_reason(state, serving.name, serving.latest, layout_of(spec), serving.fingerprint)
    if reason is not None:
        return reason, serving.latest
    return None, max(0, serving.latest - state.last_batch)
