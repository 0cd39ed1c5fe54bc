"""Version rows: lookups, summaries, status changes (each audited in its transaction), resolution, exclusion."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from platform_assets.actions import sync_action
from platform_assets.catalog.errors import VersionNotFound, VersionNotReady
from platform_assets.catalog.models import RawFile, Version, utc_now
from platform_assets.catalog.queries import audit
from platform_assets.catalog.records import ProcessingStart, ProductRef, VersionRecord, VersionSummary
from platform_assets.catalog.states import (
    CAPTURED_STATES,
    PROCESSABLE_STATES,
    REMOVED_STATES,
    REPROCESSABLE_STATES,
    UNPROCESSED_STATES,
    VANISHED,
    FileStatus,
    VersionStatus,
)


def get(session: Session, product: ProductRef, number: int, *, lock: bool = False) -> Version:
    """The version row (locked for the transaction with ``lock``); VersionNotFound suggests the newest one."""
    query = select(Version).where(Version.product_id == product.id, Version.number == number)
    version = session.scalars(query.with_for_update() if lock else query).one_or_none()
    if version is None:
        newest = newest_number(session, product)
        hint = (
            f"its newest version is {newest}"
            if newest
            else f"it has no versions yet: {sync_action(product.name)} makes the first"
        )
        raise VersionNotFound(f"product {product.name!r} has no version {number}; {hint}")
    return version


def exists(session: Session, product: ProductRef, number: int) -> bool:
    query = select(Version.id).where(Version.product_id == product.id, Version.number == number)
    return session.scalar(query) is not None


def newest_number(session: Session, product: ProductRef) -> int | None:
    return session.scalar(select(func.max(Version.number)).where(Version.product_id == product.id))


def newest_captured(session: Session, product: ProductRef) -> int | None:
    query = select(Version.number).where(Version.product_id == product.id, Version.status.in_(CAPTURED_STATES))
    return session.scalar(query.order_by(Version.number.desc()).limit(1))


def newest_unprocessed(session: Session, product: ProductRef) -> int | None:
    """The newest captured version without a successful processing yet that is not excluded."""
    query = select(Version.number).where(
        Version.product_id == product.id, Version.status.in_(UNPROCESSED_STATES), Version.excluded.is_(False)
    )
    return session.scalar(query.order_by(Version.number.desc()).limit(1))


def pending_capture_numbers(session: Session, product: ProductRef) -> list[int]:
    """Versions registered but not yet fully captured, oldest first."""
    query = select(Version.number).where(Version.product_id == product.id, Version.status == VersionStatus.DISCOVERED)
    return list(session.scalars(query.order_by(Version.number)))


def record_of(version: Version) -> VersionRecord:
    return VersionRecord(**_record_fields(version))


def records(session: Session, product: ProductRef) -> list[VersionRecord]:
    """Every version of the product, oldest first."""
    query = select(Version).where(Version.product_id == product.id).order_by(Version.number)
    return [record_of(version) for version in session.scalars(query)]


def summaries(session: Session, product: ProductRef) -> list[VersionSummary]:
    """Every version of the product, oldest first, with its files' status counts (two queries)."""
    counts: dict[int, dict[FileStatus, int]] = {}
    for number, status, count in session.execute(
        select(RawFile.version, RawFile.status, func.count())
        .where(RawFile.product_id == product.id)
        .group_by(RawFile.version, RawFile.status)
    ):
        counts.setdefault(number, {})[status] = count
    query = select(Version).where(Version.product_id == product.id).order_by(Version.number)
    return [
        VersionSummary(**_record_fields(version), file_statuses=counts.get(version.number, {}))
        for version in session.scalars(query)
    ]


def _record_fields(version: Version) -> dict[str, Any]:
    return {
        "number": version.number,
        "mode": version.mode,
        "status": version.status,
        "parent": version.parent_number,
        "files": version.file_count,
        "bytes": version.byte_count,
        "new": version.new_count,
        "changed": version.changed_count,
        "removed": version.removed_count,
        "excluded": version.excluded,
        "created_at": version.created_at,
        "captured_at": version.captured_at,
        "processed_at": version.processed_at,
        "status_reason": version.status_reason,
        "origin": version.origin,
        "awaiting_since": version.awaiting_since,
        "decision": version.decision,
        "decided_by": version.decided_by,
        "decided_at": version.decided_at,
        "decision_notes": version.decision_notes,
        "published_at": version.published_at,
        **{name: getattr(version, name) for name in RETENTION_FIELDS},
    }


RETENTION_FIELDS = (
    "deleted_at",
    "deleted_by",
    "delete_reason",
    "status_before_delete",
    "purge_started_at",
    "purge_rule",
    "purged_at",
    "purged_by",
)
"""Soft delete and retention's columns of a version, named alike in the row and the record."""


def set_status(
    session: Session,
    product: ProductRef,
    version: Version,
    status: VersionStatus,
    actor: str,
    reason: str | None = None,
    **details: Any,
) -> None:
    """Move ``version`` to ``status`` for ``reason`` (kept as its status_reason) and audit the change.

    No-op when the status and the reason are unchanged.
    """
    if version.status is status and version.status_reason == reason:
        return
    previous = version.status
    version.status = status
    version.status_reason = reason
    if reason is not None:
        details["reason"] = reason
    now = utc_now()
    if status is VersionStatus.CAPTURED:
        version.captured_at = now
    if status is VersionStatus.PROCESSED:
        version.processed_at = now
    if status is VersionStatus.AWAITING_REVIEW:
        version.awaiting_since = now
    if status is VersionStatus.PUBLISHED:
        version.published_at = now
    change = {"from": previous, "to": status, **details}
    audit.record(session, "version", audit.version_entity_id(product.name, version.number), "status", actor, change)


def start_processing(
    session: Session, product: ProductRef, number: int, retry_failed: bool, reprocess: bool, actor: str
) -> ProcessingStart:
    """Move the version into PROCESSING (a new generation when reprocessing a PROCESSED one).

    ``reprocess`` puts every processed or failed file back to CAPTURED and marks
    the version's rows for removal; ``retry_failed`` gives failed files their
    retries back. VersionNotReady when the version is excluded or not captured.
    """
    version = get(session, product, number, lock=True)
    if version.status in REMOVED_STATES or version.purge_started_at is not None:
        raise VersionNotReady(f"{record_of(version).removal(product.name)}; it is not processed")
    if version.excluded:
        raise VersionNotReady(
            f"version {number} of {product.name} is excluded ({version.exclude_reason}); it is not processed"
        )
    if version.status is VersionStatus.SUPERSEDED:
        why = version.status_reason or version.exclude_reason or "a newer version took its place"
        raise VersionNotReady(f"version {number} of {product.name} is SUPERSEDED ({why}); it is not processed")
    if version.status in CAPTURED_STATES and version.status not in PROCESSABLE_STATES:
        raise VersionNotReady(
            f"version {number} of {product.name} is {version.status}: its rows are decided on (reviewed, merged or "
            f"superseded) and processing would change them; a new version does (`platform-assets sync {product.name}`)"
        )
    if version.status not in PROCESSABLE_STATES:
        raise VersionNotReady(
            f"version {number} of {product.name} is {version.status}, not captured yet: "
            f"{sync_action(product.name)}, or materialize {product.name}/raw_files partition v{number}, first"
        )
    entity = audit.version_entity_id(product.name, number)
    files = (RawFile.product_id == product.id, RawFile.version == number, RawFile.sha256.is_not(None))
    if reprocess and version.status in REPROCESSABLE_STATES:
        version.process_generation += 1
        version.reset_pending = True
        session.execute(
            update(RawFile)
            .where(*files, RawFile.status.in_([FileStatus.PROCESSED, FileStatus.FAILED]))
            .values(
                status=FileStatus.CAPTURED,
                retry_count=0,
                next_attempt_at=None,
                error_type=None,
                error_message=None,
                rows_written=None,
                rows_rejected=None,
            )
        )
        audit.record(session, "version", entity, "reprocess", actor, {"generation": version.process_generation})
    elif retry_failed:
        result = session.connection().execute(
            update(RawFile)
            .where(*files, RawFile.status == FileStatus.FAILED)
            .values(status=FileStatus.CAPTURED, retry_count=0, next_attempt_at=None)
        )
        audit.record(session, "version", entity, "retry_failed", actor, {"files": result.rowcount})
    set_status(session, product, version, VersionStatus.PROCESSING, actor, generation=version.process_generation)
    return ProcessingStart(version.process_generation, version.reset_pending)


def finish_reset(session: Session, product: ProductRef, number: int, generation: int) -> None:
    """The version's rows of earlier generations are gone: clear its reset flag (for ``generation`` only)."""
    session.execute(
        update(Version)
        .where(Version.product_id == product.id, Version.number == number, Version.process_generation == generation)
        .values(reset_pending=False)
    )


def exclude(session: Session, product: ProductRef, number: int, reason: str, actor: str) -> None:
    """Take the version out of the merge order, audited (no-op when it already is)."""
    version = get(session, product, number)
    if version.excluded:
        return
    version.excluded = True
    version.exclude_reason = reason
    entity = audit.version_entity_id(product.name, number)
    audit.record(session, "version", entity, "excluded", actor, {"reason": reason})


def fail_processing(session: Session, product: ProductRef, number: int, reason: str, actor: str) -> None:
    """A PROCESSING version turns FAILED for ``reason`` (an error no worker can get past); else unchanged."""
    version = get(session, product, number, lock=True)
    if version.status is VersionStatus.PROCESSING:
        set_status(session, product, version, VersionStatus.FAILED, actor, reason=reason)


def stale_captures(session: Session, product: ProductRef) -> list[Version]:
    """Versions whose capture failed because the source changed under it, oldest first.

    Not excluded, CAPTURE_FAILED or FAILED (processing gave up on the same
    files), with a file FAILED at capture as ``vanished``: no run can ever finish
    them; the next version of the source takes their place.
    """
    vanished = (
        select(RawFile.id)
        .where(
            RawFile.product_id == product.id,
            RawFile.version == Version.number,
            RawFile.status == FileStatus.FAILED,
            RawFile.error_type == VANISHED,
        )
        .exists()
    )
    query = select(Version).where(
        Version.product_id == product.id,
        Version.excluded.is_(False),
        Version.status.in_([VersionStatus.CAPTURE_FAILED, VersionStatus.FAILED]),
        vanished,
    )
    return list(session.scalars(query.order_by(Version.number).with_for_update()))


def supersede(session: Session, product: ProductRef, stale: list[Version], by: int | None, actor: str) -> None:
    """Mark each stale version SUPERSEDED by version ``by`` (None: nothing of it is left to capture), audited."""
    for version in stale:
        keys = sorted(
            session.scalars(
                select(RawFile.key).where(
                    RawFile.product_id == product.id,
                    RawFile.version == version.number,
                    RawFile.status == FileStatus.FAILED,
                    RawFile.error_type == VANISHED,
                )
            )
        )
        shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
        successor = f"superseded by v{by}" if by is not None else "nothing new is left at the source to capture"
        reason = f"the source changed under its capture ({shown} vanished or changed); {successor}"
        set_status(session, product, version, VersionStatus.SUPERSEDED, actor, reason=reason, superseded_by=by)
