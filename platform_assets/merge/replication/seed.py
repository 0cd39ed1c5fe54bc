"""The seed: copy the replica as of batch Y from a primary, chunk by chunk, then switch to it.

Contract of :func:`run_seed`:

- :func:`begin_seed` records the seed (Y, Y's fingerprint, primary, layout,
  why) and creates an empty shadow table in ONE transaction.
- Each chunk is ONE transaction on the replica store: up to ``chunk_size``
  rows of the current part (see :mod:`.queries`), after the last key saved,
  go into the shadow, and the new last key (or the next part) is saved with
  them. The failpoint ``replicate.seed.after_chunk`` follows each commit. An
  interrupted seed therefore resumes at the next chunk, as of the same Y,
  however far the primary has moved meanwhile (rows live at Y stay
  ``_batch_in <= Y <= _batch_out`` on the primary for good).
- When every part is done, Y's fingerprint is checked once more, then ONE
  transaction switches the replica to the shadow and records Y as the last
  synced batch. Nobody ever reads a half-finished seed; the old replica stays
  readable until that commit.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from platform_assets.failpoints import failpoint
from platform_assets.merge.batch_log import lock_product
from platform_assets.merge.names import quote_ident
from platform_assets.merge.replication.errors import ReplicationBusy, ReplicationError
from platform_assets.merge.replication.primaries import Primary, batch_fingerprint
from platform_assets.merge.replication.queries import seed_parts
from platform_assets.merge.replication.shadow import create_shadow, prepare_swap, shadow_exists, shadow_spec, swap_in_shadow
from platform_assets.merge.replication.state import SeedProgress, advance_seed, load_state, record_synced, start_seed
from platform_assets.merge.replication.transfer import copy_select
from platform_assets.merge.spec import MergeSpec
from platform_assets.merge.store import MergeStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedOutcome:
    """Rows and chunks of the whole seed (including chunks of earlier, interrupted runs); this run's rows and seconds."""

    rows: int
    chunks: int
    rows_now: int
    copy_s: float
    index_s: float
    switch_s: float


def column_types(spec: MergeSpec) -> dict[str, str]:
    """Declared type of every replica-side column (``int`` for the batch columns)."""
    return {**dict(spec.columns), "_batch_in": "int", "_batch_out": "int", "_batch_id": "int"}


def begin_seed(store: MergeStore, spec: MergeSpec, seed: SeedProgress) -> SeedProgress:
    """Record a new seed and create its empty shadow, in one transaction."""
    with store.engine.begin() as connection:
        lock_product(connection, spec.product, store.postgres)
        start_seed(connection, spec.product, seed)
        create_shadow(connection, spec, store.postgres)
    return replace(seed, part=0, last_key=None, rows=0, chunks=0)


def run_seed(store: MergeStore, primary: Primary, spec: MergeSpec, seed: SeedProgress, chunk_size: int) -> SeedOutcome:
    """Copy the remaining chunks of ``seed`` and switch the replica to them (see the module contract)."""
    progress = seed
    if progress.chunks > 0 and not _has_shadow(store, spec):
        log.warning(
            "replica %s: the seed as of batch %d had %d chunk(s) but its shadow table %s is gone; starting it over",
            spec.product, seed.batch, seed.chunks, shadow_spec(spec).table,
        )
        progress = replace(progress, chunks=0)
    if progress.chunks == 0:
        progress = begin_seed(store, spec, progress)
    rows_before = progress.rows
    parts = seed_parts(spec)
    started = time.monotonic()
    while progress.part < len(parts):
        progress = copy_chunk(store, primary, spec, progress, chunk_size)
        failpoint("replicate.seed.after_chunk")
    copied = time.monotonic()
    index_s, switch_s = finish_seed(store, primary, spec, progress)
    return SeedOutcome(progress.rows, progress.chunks, progress.rows - rows_before, copied - started, index_s, switch_s)


def _has_shadow(store: MergeStore, spec: MergeSpec) -> bool:
    with store.engine.connect() as connection:
        return shadow_exists(connection, spec, store.postgres)


def copy_chunk(store: MergeStore, primary: Primary, spec: MergeSpec, seed: SeedProgress, chunk_size: int) -> SeedProgress:
    """Copy the next chunk of ``seed`` into the shadow and save the progress, in one transaction."""
    part = seed_parts(spec)[seed.part]
    select = part.chunk(spec.table, seed.batch, seed.last_key, chunk_size, cast_keys=primary.postgres)
    target = quote_ident(shadow_spec(spec).table)
    with store.engine.begin() as connection:
        _check_progress(connection, spec, seed)
        copied = copy_select(primary, select, connection, target, store.postgres, column_types(spec))
        done = copied.rows < chunk_size
        following = replace(
            seed,
            part=seed.part + 1 if done else seed.part,
            last_key=None if done else copied.last_key,
            rows=seed.rows + copied.rows,
            chunks=seed.chunks + 1,
        )
        advance_seed(connection, spec.product, following.part, following.last_key, following.rows, following.chunks)
    log.info(
        "replica %s: seed as of batch %d, part %s: %d rows (chunk %d, %d rows so far)",
        spec.product, seed.batch, part.name, copied.rows, following.chunks, following.rows,
    )
    return following


def _check_progress(connection: Connection, spec: MergeSpec, expected: SeedProgress) -> None:
    """ReplicationBusy if another process moved the seed on since this one read it."""
    current = load_state(connection, spec.product).seed
    if current is None or (current.batch, current.chunks, current.primary) != (expected.batch, expected.chunks, expected.primary):
        raise ReplicationBusy(
            f"replica {spec.product!r}: the seed's progress changed under this sync (another sync of the product is "
            "running against the same replica store); let it finish"
        )


def finish_seed(store: MergeStore, primary: Primary, spec: MergeSpec, seed: SeedProgress) -> tuple[float, float]:
    """Check Y's fingerprint again, build the shadow's indexes, then switch to it and record Y in one transaction.

    Returns the seconds of the index builds and of the switch.
    """
    if batch_fingerprint(primary, spec.product, seed.batch) != seed.fingerprint:
        raise ReplicationError(
            f"replica {spec.product!r}: primary {primary.name!r} was rebuilt while the seed as of batch {seed.batch} "
            "was being copied; the replica is unchanged. Run the sync again: it starts a new seed."
        )
    started = time.monotonic()
    with store.engine.begin() as connection:
        prepare_swap(connection, spec, store.postgres)
    indexed = time.monotonic()
    with store.engine.begin() as connection:
        lock_product(connection, spec.product, store.postgres)
        _check_progress(connection, spec, seed)
        swap_in_shadow(connection, spec, store.postgres)
        record_synced(connection, spec.product, primary.name, seed.batch, seed.fingerprint, seed.layout)
    return indexed - started, time.monotonic() - indexed
