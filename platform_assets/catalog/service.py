"""The catalog service: the one way to the state catalog's tables.

Contract:
- :class:`Catalog` alone reads and writes ``products``, ``versions``,
  ``raw_files``, ``source_objects``, ``listing_pages``, ``runs``,
  ``workers``, ``schema_versions`` and ``audit_events`` (a static test keeps every other module off them). It
  takes and gives the typed records of :mod:`platform_assets.catalog.records`
  and the enums of :mod:`platform_assets.catalog.states`.
- Each method is one transaction; a state change and its audit event commit
  together or not at all. :meth:`Catalog.worker` alone keeps a connection
  open for as long as its block runs (a worker's advisory lock).
- Products are named by their config name; the catalog resolves a name to its
  row once and keeps it. A product appears on its first registered version;
  asking for one that has none raises UnknownProduct.
- The SQL lives in :mod:`platform_assets.catalog.queries`, one module per
  concern; a method here opens the transaction, resolves the product and
  delegates.
- :class:`Catalog` is built on :class:`~platform_assets.catalog.service_base.CatalogBase`
  (engine, transactions, product rows); a concern that grows large gets its own
  mixin in ``catalog/service_<concern>.py``, a subclass of ``CatalogBase`` that
  ``Catalog`` inherits. Callers only ever name ``Catalog``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from platform_assets.actions import reason_required
from platform_assets.catalog.errors import CannotSkip
from platform_assets.catalog.processes import this_process
from platform_assets.catalog.queries import audit, claims, files, products, review, runs, sources, versions, workers
from platform_assets.catalog.records import (
    AuditRecord,
    CaptureState,
    ChildVersion,
    ClaimedFile,
    ClaimPolicy,
    CopiedFile,
    CopyFailure,
    FailedFile,
    FileOutcome,
    FileRecord,
    LeaseHolder,
    PendingCopy,
    ProcessingStart,
    ProcessingState,
    ProductRef,
    RegisteredVersion,
    ReviewFile,
    RunRecord,
    VersionRecord,
    VersionSummary,
)
from platform_assets.catalog.service_audit import AuditCatalog
from platform_assets.catalog.service_base import CatalogBase
from platform_assets.catalog.service_drift import DriftCatalog
from platform_assets.catalog.service_progress import ProgressCatalog
from platform_assets.catalog.service_reconcile import ReconcileCatalog
from platform_assets.catalog.service_retention import RetentionCatalog
from platform_assets.catalog.service_schema import SchemaCatalog
from platform_assets.catalog.service_trace import TraceCatalog
from platform_assets.catalog.states import CaptureMode, Decision, FileStatus, RunKind, RunStatus, VersionOrigin
from platform_assets.storage.object_store import ObjectInfo
from platform_assets.storage.sql import is_postgres


class Catalog(
    ProgressCatalog,
    RetentionCatalog,
    AuditCatalog,
    DriftCatalog,
    ReconcileCatalog,
    SchemaCatalog,
    TraceCatalog,
    CatalogBase,
):
    """The state catalog at ``url`` (SQLite or PostgreSQL), migrated on first use."""

    # Discovery: listings in progress and version registration.

    def save_listing_page(self, product: str, scan_id: str, objects: list[ObjectInfo]) -> None:
        """Keep a page of an unfinished listing until the listing completes."""
        with self._transaction() as session:
            sources.save_pages(session, products.lock(session, product), scan_id, objects)

    def listing_pages(self, product: str, scan_id: str) -> list[ObjectInfo]:
        """The objects the listing ``scan_id`` saved so far, by key."""
        with self._transaction() as session:
            return sources.load_pages(session, products.lock(session, product), scan_id)

    def metadata_only_changes(self, product: str, listing: list[ObjectInfo]) -> dict[str, str]:
        """Listed keys whose etag changed at the same size, with the sha256 captured for the picture's version.

        Discovery hashes these objects and passes the equal ones to
        :meth:`register_version` as ``same_content``: a touched file is no change.
        """
        with self._transaction() as session:
            found = products.find(session, product)
            if found is None:
                return {}
            keys = sources.metadata_only_changes(listing, sources.known_source(session, found))
            return {key: sha for key, (sha, _) in sources.captured_hashes(session, found.id, keys).items()}

    def register_version(
        self,
        product: str,
        mode: CaptureMode,
        listing: list[ObjectInfo],
        actor: str,
        scan_id: str | None = None,
        same_content: Mapping[str, str] | None = None,
    ) -> RegisteredVersion | None:
        """Diff ``listing`` with the catalog's picture of the source and register the next version if it changed.

        Snapshot mode: the version holds every listed file; incremental mode: the
        new and changed ones (removals alone register nothing). No change: None,
        and nothing is written but the end of the listing ``scan_id``.

        A version whose capture failed because the source changed under it
        (:func:`.queries.versions.stale_captures`) is superseded here: a new
        version of the source's current state is registered whether or not the
        listing changed (in incremental mode it takes the stale version's files
        that are still listed), and the stale one turns SUPERSEDED, audited.

        ``same_content`` (key -> sha256 of the listed object) confirms changes
        seen only in the etag: a key whose content hashes to what was captured
        for it is unchanged (:func:`.queries.sources.confirm_unchanged`).
        """
        with self._transaction() as session:
            row = products.lock(session, product)
            if scan_id is not None:
                sources.discard_pages(session, row, scan_id)
            ref = ProductRef(row.id, row.name)
            stale = versions.stale_captures(session, ref)
            redo = [version.number for version in stale] if mode is CaptureMode.INCREMENTAL else []
            diff = sources.diff_listing(listing, sources.known_source(session, row, redo))
            if same_content:
                sources.confirm_unchanged(session, row, diff, same_content, redo)
            registered = None
            if mode is CaptureMode.INCREMENTAL and not (diff.new or diff.changed):
                sources.forget_removed(session, row.id, diff.removed)
            elif diff.has_changes or stale:
                number = products.allocate_version_number(session, row)
                superseded = tuple(version.number for version in stale)
                registered = sources.register(session, row, number, mode, diff, actor, superseded)
            versions.supersede(session, ref, stale, registered.number if registered else None, actor)
            return registered

    def pending_captures(self, product: str) -> list[int]:
        """Versions registered but not yet captured, oldest first (none for a product without versions)."""
        with self._transaction() as session:
            found = products.find(session, product)
            return versions.pending_capture_numbers(session, found) if found else []

    # Versions.

    def version(self, product: str, number: int) -> VersionRecord:
        """The version; VersionNotFound (suggesting the newest one) when there is none."""
        with self._transaction() as session:
            return versions.record_of(versions.get(session, self._product(session, product), number))

    def versions(self, product: str) -> list[VersionRecord]:
        """Every version of the product, oldest first."""
        with self._transaction() as session:
            return versions.records(session, self._product(session, product))

    def version_summaries(self, product: str) -> list[VersionSummary]:
        """Every version, oldest first, with how many of its files are in each status."""
        with self._transaction() as session:
            return versions.summaries(session, self._product(session, product))

    def has_version(self, product: str, number: int) -> bool:
        with self._transaction() as session:
            return versions.exists(session, self._product(session, product), number)

    def newest_captured(self, product: str) -> int | None:
        """The newest version whose files reached the raw zone (see ``CAPTURED_STATES``)."""
        with self._transaction() as session:
            return versions.newest_captured(session, self._product(session, product))

    def newest_unprocessed(self, product: str) -> int | None:
        """The newest captured, not excluded version without a successful processing yet."""
        with self._transaction() as session:
            return versions.newest_unprocessed(session, self._product(session, product))

    def exclude_version(self, product: str, number: int, reason: str, actor: str) -> None:
        """Take the version out of the merge order, audited (no-op when it already is)."""
        with self._transaction() as session:
            versions.exclude(session, self._product(session, product), number, reason, actor)

    # Capture.

    def pending_copies(self, product: str, number: int) -> list[PendingCopy]:
        """The version's files not copied into the raw zone yet, by key (VersionNotFound if there is no version)."""
        with self._transaction() as session:
            ref = self._product(session, product)
            versions.get(session, ref, number)
            return files.pending_copies(session, ref, number)

    def record_copies(
        self, product: str, number: int, outcomes: Sequence[CopiedFile | CopyFailure], actor: str
    ) -> None:
        """Copied files turn CAPTURED, failed ones FAILED with their reason, each with its audit event."""
        with self._transaction() as session:
            files.record_copies(session, self._product(session, product), number, outcomes, actor)

    def settle_capture(self, product: str, number: int, actor: str) -> CaptureState:
        """Move the version to CAPTURED or CAPTURE_FAILED once no file waits; its figures either way."""
        with self._transaction() as session:
            return files.settle_capture(session, self._product(session, product), number, actor)

    # Processing.

    def start_processing(
        self, product: str, number: int, *, retry_failed: bool, reprocess: bool, actor: str
    ) -> ProcessingStart:
        """Move the version into PROCESSING (see :func:`.queries.versions.start_processing`)."""
        with self._transaction() as session:
            ref = self._product(session, product)
            return versions.start_processing(session, ref, number, retry_failed, reprocess, actor)

    def fail_processing(self, product: str, number: int, reason: str, actor: str) -> None:
        """A PROCESSING version turns FAILED with ``reason`` (kept as its status_reason), audited."""
        with self._transaction() as session:
            versions.fail_processing(session, self._product(session, product), number, reason, actor)

    def finish_reset(self, product: str, number: int, generation: int) -> None:
        """The rows of the version's earlier generations are removed: clear its reset flag."""
        with self._transaction() as session:
            versions.finish_reset(session, self._product(session, product), number, generation)

    def inference_inputs(self, product: str, number: int, limit: int = 1) -> list[tuple[str, str]]:
        """(key, sha256) of the version's first non-empty captured files, to infer a schema from."""
        with self._transaction() as session:
            return files.inference_inputs(session, self._product(session, product), number, limit)

    def claim_files(
        self,
        product: str,
        number: int,
        worker: str,
        policy: ClaimPolicy,
        skip_ids: frozenset[int] = frozenset(),
        actor: str | None = None,
    ) -> list[ClaimedFile]:
        """Claim up to ``policy.batch_size`` files of the version for ``worker``, none of ``skip_ids``.

        Each claimable file goes to exactly one worker (see :mod:`.queries.claims`);
        a worker passes the files it failed itself, so a retry waits for a later run.
        """
        with self._transaction() as session:
            ref = self._product(session, product)
            return claims.claim(session, ref, number, worker, policy, skip_ids, is_postgres(self.engine), actor)

    def renew_leases(self, worker: str, file_ids: list[int], lease_seconds: int) -> int:
        """Push the lease of the worker's files forward and its heartbeat; returns how many files it still owns."""
        with self._transaction() as session:
            workers.heartbeat(session, worker)
            return claims.renew(session, worker, file_ids, lease_seconds) if file_ids else 0

    @contextmanager
    def worker(self, name: str) -> Iterator[None]:
        """This process is worker ``name`` while the block runs, so others can tell when it is gone.

        Registers the process (host, pid, start) under ``name``; on PostgreSQL
        holds the worker's advisory lock on a connection of its own meanwhile
        (see :mod:`.queries.workers`). On the way out the worker is marked
        stopped and the leases it still holds expire.
        """
        with self._transaction() as session:
            worker_id = workers.register(session, name, this_process())
        lock = self._take_worker_lock(worker_id) if is_postgres(self.engine) else None
        try:
            yield
        finally:
            try:
                with self._transaction() as session:
                    workers.stop(session, name, "finished")
            finally:
                if lock is not None:
                    with suppress(SQLAlchemyError):
                        workers.release_session_lock(lock, worker_id)
                    lock.close()

    def _take_worker_lock(self, worker_id: int) -> Connection | None:
        """A connection out of the pool holding the worker's advisory lock, or None when another session has it."""
        connection = self.engine.connect()
        connection.detach()  # the session lock must never go back to the pool with it
        taken = workers.take_session_lock(connection, worker_id)
        connection.commit()
        if not taken:
            connection.close()
            return None
        with self._transaction() as session:
            workers.mark_locked(session, worker_id)
        return connection

    def lease_holders(self, product: str, number: int) -> list[LeaseHolder]:
        """Who holds live leases on the version's files, with their process where known."""
        with self._transaction() as session:
            return workers.lease_holders(session, self._product(session, product), number)

    def record_outcomes(
        self,
        product: str,
        number: int,
        worker: str,
        outcomes: list[FileOutcome],
        policy: ClaimPolicy,
        actor: str | None = None,
    ) -> int:
        """Write the outcomes of the files ``worker`` still holds, with their audit events (by ``actor``, else the
        worker); how many applied."""
        if not outcomes:
            return 0
        with self._transaction() as session:
            ref = self._product(session, product)
            return claims.record_outcomes(session, ref, number, worker, outcomes, policy, actor)

    def unsettled_files(self, product: str, file_ids: set[int]) -> set[int]:
        """Those of ``file_ids`` whose processing outcome is not recorded yet."""
        if not file_ids:
            return set()
        with self._transaction() as session:
            return files.unsettled(session, self._product(session, product), file_ids)

    def settle_processing(self, product: str, number: int, actor: str, review: bool = False) -> ProcessingState:
        """PROCESSED when every file is done (then AWAITING_REVIEW with ``review``), FAILED when nothing is left to
        try; the version's figures."""
        with self._transaction() as session:
            return files.settle_processing(session, self._product(session, product), number, actor, review)

    def skip_file(self, product: str, number: int, key: str, reason: str, actor: str) -> FileStatus:
        """Give up on one file (SKIPPED, audited with ``reason``); returns its previous status."""
        if not reason.strip():
            raise CannotSkip(reason_required("the file is given up"))
        with self._transaction() as session:
            ref = self._product(session, product)
            return files.skip(session, ref, number, key, reason, actor, is_postgres(self.engine))

    # Review and publication (the rules: platform_assets/versions/review.py).

    def creators(self, product: str, number: int) -> set[str]:
        """Who registered, captured or processed the version (the actors of its events before review)."""
        with self._transaction() as session:
            return review.creators(session, self._product(session, product), number)

    def decide(self, product: str, number: int, decision: Decision, actor: str, notes: str | None) -> VersionRecord:
        """Approve or reject a version AWAITING_REVIEW (ReviewStateError otherwise), audited with ``notes``."""
        with self._transaction() as session:
            return versions.record_of(
                review.decide(session, self._product(session, product), number, decision, actor, notes)
            )

    def approve_with_child(
        self, product: str, number: int, origin: VersionOrigin, actor: str, notes: str | None
    ) -> ChildVersion:
        """In one transaction: approve the version when it awaits review (a rollback's parent is decided already),
        then create its child carrying its approved files (see :func:`.queries.review.create_child`)."""
        with self._transaction() as session:
            row = products.lock(session, product)
            ref = self._product(session, product)
            if origin is VersionOrigin.REVIEW:
                review.decide(session, ref, number, Decision.APPROVED, actor, notes)
            return review.create_child(session, row, ref, number, origin, actor, notes)

    def reject_file(self, product: str, number: int, key: str, reason: str, actor: str) -> None:
        with self._transaction() as session:
            review.reject_file(session, self._product(session, product), number, key, reason, actor)

    def review_files(self, product: str, number: int) -> list[ReviewFile]:
        """The version's files by key, with their rows and any reviewer's rejection."""
        with self._transaction() as session:
            return review.review_files(session, self._product(session, product), number)

    def supersede_older(self, product: str, number: int, actor: str) -> list[int]:
        """Older unmerged versions (awaiting review, approved or processed) become SUPERSEDED by ``number``."""
        with self._transaction() as session:
            return review.supersede_older(session, self._product(session, product), number, actor)

    def mark_published(self, product: str, number: int, actor: str) -> list[int]:
        """The merged version is PUBLISHED; returns the versions that were published before it (now SUPERSEDED)."""
        with self._transaction() as session:
            return review.mark_published(session, self._product(session, product), number, actor)

    def published_version(self, product: str) -> int | None:
        with self._transaction() as session:
            return review.published_number(session, self._product(session, product))

    # Figures of a version's files.

    def file_counts(self, product: str, number: int) -> dict[FileStatus, int]:
        with self._transaction() as session:
            return files.status_counts(session, self._product(session, product), number)

    def rows_written(self, product: str, number: int) -> int:
        """Rows the version's PROCESSED files wrote to the product's Iceberg table."""
        with self._transaction() as session:
            return files.rows_written(session, self._product(session, product), number)

    def failed_files(self, product: str, numbers: Iterable[int]) -> list[FailedFile]:
        """The FAILED and LOST files of the versions ``numbers``, by version and key."""
        with self._transaction() as session:
            return files.failed(session, self._product(session, product), numbers)

    def file_preview(self, product: str, number: int, limit: int) -> list[FileRecord]:
        """The version's first ``limit`` files by key."""
        with self._transaction() as session:
            return files.preview(session, self._product(session, product), number, limit)

    # Runs.

    def start_run(
        self, product: str, number: int | None, kind: RunKind, worker: str, dagster_run_id: str | None = None
    ) -> int:
        """A STARTED row in ``runs`` (of ``dagster_run_id``, else the catalog's run); its id for :meth:`finish_run`."""
        with self._transaction() as session:
            ref = self._product(session, product)
            return runs.start(session, ref, number, kind, worker, dagster_run_id or self.dagster_run_id)

    def runs(self, product: str, number: int) -> list[RunRecord]:
        """The ``runs`` rows of the version, oldest first, each with its Dagster run."""
        with self._transaction() as session:
            return runs.of_version(session, self._product(session, product), number)

    def finish_run(self, run_id: int, status: RunStatus, stats: dict[str, Any], error: str | None = None) -> None:
        with self._transaction() as session:
            runs.finish(session, run_id, status, stats, error)

    # Audit events that belong to no state change of the tables above.

    def record_replica_reseed(self, product: str, change: dict[str, Any], actor: str) -> None:
        """A replica of ``product`` is about to be seeded again, and why."""
        with self._transaction() as session:
            audit.record(session, "replica", product, "reseed", actor, change)

    def audit_events(self, entity_type: str, entity_id: str) -> list[AuditRecord]:
        """The events of one entity, oldest first."""
        with self._transaction() as session:
            return audit.events_for(session, entity_type, entity_id)
