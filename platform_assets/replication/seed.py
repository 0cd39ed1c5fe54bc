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
- A resumed seed whose layout changed only by columns the primary added or
  widened since the seed began (see :mod:`.schema`) goes on: the shadow takes
  them first, with the seed's new layout, in one transaction. The rows copied
  before are rows as of Y, which the primary stores with NULL in a column
  added after Y (and unchanged values in a widened one), as the shadow now does.
- When every part is done, Y's fingerprint is checked once more, then ONE
  transaction switches the replica to the shadow and records Y as the last
  synced batch. Nobody ever reads a half-finished seed; the old replica stays
  readable until that commit.

Between two PostgreSQL stores the chunks are read ahead: a thread runs each
chunk's ``COPY (SELECT ...) TO STDOUT`` on the primary into memory (COPY
binary format where :mod:`.binary` allows) while the replica loads and commits
the chunk before it, so the primary's and the replica's backends work at the
same time. The reader runs at most one chunk ahead of the queue, so at most
three chunks are in memory (one being read, one queued, one being loaded):
about ``3 x chunk_size x row width`` bytes. It reads as of the same Y and the
same keyset, so what each chunk's transaction commits, and how a seed resumes,
is as above. Other pairs (SQLite on either side) copy chunk by chunk.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from sqlalchemy import Connection

from platform_assets.column_types import INT, ColumnType
from platform_assets.failpoints import failpoint
from platform_assets.merge.names import quote_ident
from platform_assets.merge.spec import MergeSpec
from platform_assets.merge.store import MergeStore
from platform_assets.merge.tables import evolve_product_table
from platform_assets.progress import Progress, ProgressTask
from platform_assets.replication import binary as copy_binary
from platform_assets.replication.errors import ReplicationBusy, ReplicationInterrupted
from platform_assets.replication.primaries import Primary, batch_fingerprint
from platform_assets.replication.queries import SeedPart, seed_parts
from platform_assets.replication.shadow import (
    create_shadow,
    prepare_swap,
    shadow_exists,
    shadow_spec,
    swap_in_shadow,
)
from platform_assets.replication.state import (
    SeedProgress,
    advance_seed,
    layout_of,
    load_state,
    record_synced,
    set_seed_layout,
    start_seed,
)
from platform_assets.replication.transfer import (
    Buffered,
    Prefetch,
    binary_compatible,
    buffer_select,
    copy_select,
    load_buffered,
    primary_session,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SeedOutcome:
    """Rows and chunks of the whole seed (including chunks of earlier, interrupted runs); this run's rows and seconds.

    ``copy_s`` includes creating the shadow (a new seed), ``index_s`` the index builds, ``switch_s`` the switch.
    """

    rows: int
    chunks: int
    rows_now: int
    copy_s: float
    index_s: float
    switch_s: float


def column_types(spec: MergeSpec) -> dict[str, ColumnType]:
    """Declared type of every replica-side column (``int`` for the batch columns)."""
    return {**dict(spec.columns), "_batch_in": INT, "_batch_out": INT, "_batch_id": INT}


def begin_seed(store: MergeStore, spec: MergeSpec, seed: SeedProgress) -> None:
    """Record a new seed (``seed``, reset to its start by :func:`run_seed`) and create its empty shadow, atomically."""
    with store.engine.begin() as connection:
        store.dialect.lock_product(connection, spec.product)
        start_seed(connection, spec.product, seed)
        create_shadow(connection, spec, store.dialect)


def run_seed(
    store: MergeStore,
    primary: Primary,
    spec: MergeSpec,
    seed: SeedProgress,
    chunk_size: int,
    report: Progress | None = None,
) -> SeedOutcome:
    """Copy the remaining chunks of ``seed`` and switch the replica to them (see the module contract).

    ``report`` gets the rows copied so far (this seed's, earlier runs' included) after each chunk; the
    total is not known before the copy ends.
    """
    progress = seed
    if progress.chunks > 0 and not _has_shadow(store, spec):
        log.warning(
            "replica %s: the seed as of batch %d had %d chunk(s) but its shadow table %s is gone; starting it over",
            spec.product,
            seed.batch,
            seed.chunks,
            shadow_spec(spec).table,
        )
        progress = replace(progress, chunks=0)
    begin = progress.chunks == 0
    if begin:
        progress = replace(progress, part=0, last_key=None, rows=0, chunks=0, layout=layout_of(spec))
    else:
        progress = follow_primary(store, spec, progress)
    rows_before = progress.rows
    parts = seed_parts(spec)
    started = time.monotonic()
    task = ProgressTask(report, f"seed replica {spec.product} as of batch {seed.batch}", "rows", None, rows_before)

    def chunk_done(following: SeedProgress) -> None:
        task.update(following.rows, f"{following.chunks} chunks")

    if primary.dialect.copy_protocol and store.dialect.copy_protocol:
        progress = copy_chunks_read_ahead(store, primary, spec, progress, chunk_size, begin=begin, done=chunk_done)
    elif begin:
        begin_seed(store, spec, progress)
    while progress.part < len(parts):
        progress = copy_chunk(store, primary, spec, progress, chunk_size)
        chunk_done(progress)
        failpoint("replicate.seed.after_chunk")
    task.finish()
    copied = time.monotonic()
    index_s, switch_s = finish_seed(store, primary, spec, progress)
    return SeedOutcome(progress.rows, progress.chunks, progress.rows - rows_before, copied - started, index_s, switch_s)


def follow_primary(store: MergeStore, spec: MergeSpec, seed: SeedProgress) -> SeedProgress:
    """The seed going on with ``spec``'s layout: the shadow takes the primary's added or widened columns first."""
    layout = layout_of(spec)
    if seed.layout == layout:
        return seed
    with store.engine.begin() as connection:
        store.dialect.lock_product(connection, spec.product)
        _check_progress(connection, spec, seed)
        evolve_product_table(connection, shadow_spec(spec), store.dialect, widen_types=True)
        set_seed_layout(connection, spec.product, layout)
    log.info("replica %s: the unfinished seed's shadow takes the primary's new columns or types", spec.product)
    return replace(seed, layout=layout)


def _has_shadow(store: MergeStore, spec: MergeSpec) -> bool:
    with store.engine.connect() as connection:
        return shadow_exists(connection, spec, store.dialect)


def _after(seed: SeedProgress, rows: int, last_key: list | None, chunk_size: int) -> SeedProgress:
    """The progress once a chunk of ``rows`` rows ending at ``last_key`` is in: a short chunk ends its part."""
    done = rows < chunk_size
    return replace(
        seed,
        part=seed.part + 1 if done else seed.part,
        last_key=None if done else last_key,
        rows=seed.rows + rows,
        chunks=seed.chunks + 1,
    )


def _log_chunk(spec: MergeSpec, seed: SeedProgress, part: SeedPart, rows: int, following: SeedProgress) -> None:
    log.info(
        "replica %s: seed as of batch %d, part %s: %d rows (chunk %d, %d rows so far)",
        spec.product,
        seed.batch,
        part.name,
        rows,
        following.chunks,
        following.rows,
    )


def copy_chunk(
    store: MergeStore, primary: Primary, spec: MergeSpec, seed: SeedProgress, chunk_size: int
) -> SeedProgress:
    """Copy the next chunk of ``seed`` into the shadow and save the progress, in one transaction."""
    part = seed_parts(spec)[seed.part]
    select = part.chunk(spec.table, seed.batch, seed.last_key, chunk_size, cast_keys=primary.dialect.keyset_as_text)
    target = quote_ident(shadow_spec(spec).table)
    with store.engine.begin() as connection:
        _check_progress(connection, spec, seed)
        copied = copy_select(primary, select, connection, target, store.dialect, column_types(spec))
        following = _after(seed, copied.rows, copied.last_key, chunk_size)
        advance_seed(connection, spec.product, following.part, following.last_key, following.rows, following.chunks)
    _log_chunk(spec, seed, part, copied.rows, following)
    return following


@dataclass(frozen=True)
class _Chunk:
    """One chunk read ahead from the primary: the progress it starts from, and its rows in memory."""

    start: SeedProgress
    buffered: Buffered


def _binary_ok(source_cursor: object, store: MergeStore, parts: list[SeedPart]) -> bool:
    """COPY binary for the seed: both servers store UTF-8 text and every keyset type has a decoder."""
    if not all(copy_binary.supported(column_type) for part in parts for column_type in part.keyset_types):
        return False
    with store.engine.connect() as connection:
        return binary_compatible(source_cursor, connection)


def _read_chunks(
    primary: Primary, spec: MergeSpec, store: MergeStore, seed: SeedProgress, chunk_size: int
) -> Iterator[_Chunk]:
    """The remaining chunks of ``seed``, read from the primary one after the other on one connection."""
    parts = seed_parts(spec)
    with primary_session(primary) as source:
        cursor = source.cursor()
        binary = _binary_ok(cursor, store, parts)
        progress = seed
        while progress.part < len(parts):
            select = parts[progress.part].chunk(
                spec.table, progress.batch, progress.last_key, chunk_size, cast_keys=True
            )
            buffered = buffer_select(primary, cursor, select, binary)
            source.commit()  # end the read-only transaction: nothing is held on the primary between chunks
            yield _Chunk(progress, buffered)
            progress = _after(progress, buffered.rows, buffered.last_key, chunk_size)
        cursor.close()


def copy_chunks_read_ahead(
    store: MergeStore,
    primary: Primary,
    spec: MergeSpec,
    seed: SeedProgress,
    chunk_size: int,
    begin: bool = False,
    done: Callable[[SeedProgress], None] | None = None,
) -> SeedProgress:
    """PostgreSQL to PostgreSQL: copy every remaining chunk of ``seed``, reading the next while loading one.

    Each chunk commits in its own transaction with the progress, exactly as
    :func:`copy_chunk` does; the failpoint follows each commit. With ``begin``
    the seed is recorded and its shadow created (:func:`begin_seed`) while the
    first chunk is being read.

    Every chunk goes through the same replica session: PostgreSQL remembers,
    per session, the page a table's inserts go to, so each chunk is appended
    after the one before it. Chunks loaded from different sessions may start
    in free space the free-space map offers on earlier pages, which breaks the
    shadow's physical key order, and with it the fast path of the key index
    build (an already sorted input).
    """
    parts = seed_parts(spec)
    target = quote_ident(shadow_spec(spec).table)
    progress = seed
    reader = Prefetch(lambda: _read_chunks(primary, spec, store, seed, chunk_size), ahead=1, name="replica-seed-reader")
    with reader, store.engine.connect() as session:
        if begin:
            begin_seed(store, spec, seed)
        for chunk in reader:
            if chunk.start != progress:
                raise RuntimeError(
                    f"replica {spec.product!r}: the seed's reader and writer disagree on its progress (a bug)"
                )
            part = parts[progress.part]
            with session.begin():
                _check_progress(session, spec, progress)
                loaded = load_buffered(session, target, part.columns, chunk.buffered)
                if loaded != chunk.buffered.rows:
                    raise ReplicationInterrupted(
                        f"replica {spec.product!r}: a seed chunk of {chunk.buffered.rows} rows loaded {loaded}; "
                        "the chunk was rolled back, run the sync again"
                    )
                following = _after(progress, loaded, chunk.buffered.last_key, chunk_size)
                advance_seed(
                    session, spec.product, following.part, following.last_key, following.rows, following.chunks
                )
            _log_chunk(spec, progress, part, loaded, following)
            progress = following
            if done is not None:
                done(following)
            failpoint("replicate.seed.after_chunk")
    return progress


def _check_progress(connection: Connection, spec: MergeSpec, expected: SeedProgress) -> None:
    """ReplicationBusy if another process moved the seed on since this one read it."""
    current = load_state(connection, spec.product).seed
    if current is None or (current.batch, current.chunks, current.primary) != (
        expected.batch,
        expected.chunks,
        expected.primary,
    ):
        raise ReplicationBusy(
            f"replica {spec.product!r}: the seed's progress changed under this sync (another sync of the product is "
            "running against the same replica store); let it finish"
        )


def finish_seed(store: MergeStore, primary: Primary, spec: MergeSpec, seed: SeedProgress) -> tuple[float, float]:
    """Check Y's fingerprint again, build the shadow's indexes, then switch to it and record Y in one transaction.

    Returns the seconds of the index builds and of the switch.
    """
    if batch_fingerprint(primary, spec.product, seed.batch) != seed.fingerprint:
        raise ReplicationInterrupted(
            f"replica {spec.product!r}: primary {primary.name!r} was rebuilt while the seed as of batch {seed.batch} "
            "was being copied; the replica is unchanged. Run the sync again: it starts a new seed."
        )
    started = time.monotonic()
    with store.engine.begin() as connection:
        prepare_swap(connection, spec, store.dialect)
    indexed = time.monotonic()
    with store.engine.begin() as connection:
        store.dialect.lock_product(connection, spec.product)
        _check_progress(connection, spec, seed)
        swap_in_shadow(connection, spec, store.dialect)
        record_synced(connection, spec.product, primary.name, seed.batch, seed.fingerprint, seed.layout)
    return indexed - started, time.monotonic() - indexed
