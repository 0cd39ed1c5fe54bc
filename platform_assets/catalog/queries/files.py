"""Raw files of a version: capture outcomes, figures, failed files, skips, and settling the version's status.

Contract: a file's state change and its audit event share one transaction;
capture and processing outcomes are written in bulk (one statement per kind).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, bindparam, func, select, update
from sqlalchemy.orm import Session

from platform_assets.catalog.errors import CannotSkip
from platform_assets.catalog.models import RawFile, table_of, utc_now
from platform_assets.catalog.queries import audit, versions, workers
from platform_assets.catalog.queries import review as reviews
from platform_assets.catalog.records import (
    CaptureState,
    CopiedFile,
    CopyFailure,
    FailedFile,
    FileRecord,
    PendingCopy,
    ProcessingState,
    ProductRef,
)
from platform_assets.catalog.states import (
    OPEN_FILE_STATES,
    UNCAPTURED_FILE_STATES,
    UNPROCESSED_STATES,
    FileStatus,
    VersionStatus,
)


def _of_version(product: ProductRef, number: int) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (RawFile.product_id == product.id, RawFile.version == number)


def status_counts(session: Session, product: ProductRef, number: int) -> dict[FileStatus, int]:
    rows = session.execute(
        select(RawFile.status, func.count()).where(*_of_version(product, number)).group_by(RawFile.status)
    )
    return {status: count for status, count in rows}


def rows_written(session: Session, product: ProductRef, number: int) -> int:
    """Rows the version's PROCESSED files wrote to its Iceberg table."""
    query = select(func.coalesce(func.sum(RawFile.rows_written), 0)).where(
        *_of_version(product, number), RawFile.status == FileStatus.PROCESSED
    )
    return int(session.scalar(query) or 0)


def rows_rejected(session: Session, product: ProductRef, number: int) -> int:
    """Rows the parsers rejected in the version's files (whatever became of the files)."""
    query = select(func.coalesce(func.sum(RawFile.rows_rejected), 0)).where(*_of_version(product, number))
    return int(session.scalar(query) or 0)


def failed(session: Session, product: ProductRef, numbers: Iterable[int]) -> list[FailedFile]:
    """The FAILED and LOST files of the versions ``numbers``, by version and key (a LOST file's raw copy is gone:
    processing cannot read it, so it counts as failed wherever failures are shown)."""
    rows = session.execute(
        select(RawFile.version, RawFile.key, RawFile.error_type, RawFile.error_message, RawFile.retry_count)
        .where(
            RawFile.product_id == product.id,
            RawFile.version.in_(list(numbers)),
            RawFile.status.in_([FileStatus.FAILED, FileStatus.LOST]),
        )
        .order_by(RawFile.version, RawFile.key)
    )
    return [FailedFile(*row) for row in rows]


def preview(session: Session, product: ProductRef, number: int, limit: int) -> list[FileRecord]:
    rows = session.execute(
        select(RawFile.key, RawFile.size, RawFile.change, RawFile.status, RawFile.sha256)
        .where(*_of_version(product, number))
        .order_by(RawFile.key)
        .limit(limit)
    )
    return [FileRecord(*row) for row in rows]


def inference_inputs(session: Session, product: ProductRef, number: int, limit: int) -> list[tuple[str, str]]:
    """(key, sha256) of the version's first non-empty captured files."""
    rows = session.execute(
        select(RawFile.key, RawFile.sha256)
        .where(*_of_version(product, number), RawFile.size > 0, RawFile.sha256.is_not(None))
        .order_by(RawFile.key)
        .limit(limit)
    )
    return [(key, sha) for key, sha in rows if sha is not None]


def pending_copies(session: Session, product: ProductRef, number: int) -> list[PendingCopy]:
    query = select(RawFile.id, RawFile.key, RawFile.etag).where(
        *_of_version(product, number), RawFile.status.in_(UNCAPTURED_FILE_STATES)
    )
    return [PendingCopy(*row) for row in session.execute(query.order_by(RawFile.key))]


def record_copies(
    session: Session,
    product: ProductRef,
    number: int,
    outcomes: Sequence[CopiedFile | CopyFailure],
    actor: str,
) -> None:
    """Each copied file turns CAPTURED with its raw copy's figures, each failure FAILED; one event each."""
    now = utc_now()
    captured, failures, events = [], [], []
    for outcome in outcomes:
        entity = audit.file_entity_id(product.name, number, outcome.key)
        if isinstance(outcome, CopiedFile):
            captured.append(
                {
                    "b_id": outcome.id,
                    "b_location": outcome.raw_location,
                    "b_size": outcome.size,
                    "b_sha": outcome.sha256,
                    "b_empty": outcome.size == 0,
                    "b_now": now,
                }
            )
            change: dict[str, object] = {"sha256": outcome.sha256, "size": outcome.size}
            events.append({"entity_type": "raw_file", "entity_id": entity, "action": "captured", "change": change})
        else:
            failures.append(
                {"b_id": outcome.id, "b_type": outcome.error_type, "b_message": outcome.message, "b_now": now}
            )
            change = {"error_type": outcome.error_type, "message": outcome.message}
            events.append({"entity_type": "raw_file", "entity_id": entity, "action": "failed", "change": change})
    table = table_of(RawFile)
    connection = session.connection()
    if captured:
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                status=FileStatus.CAPTURED,
                raw_location=bindparam("b_location"),
                size=bindparam("b_size"),
                sha256=bindparam("b_sha"),
                is_empty=bindparam("b_empty"),
                ingested_at=bindparam("b_now"),
                updated_at=bindparam("b_now"),
            ),
            captured,
        )
    if failures:
        connection.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                status=FileStatus.FAILED,
                error_type=bindparam("b_type"),
                error_message=bindparam("b_message"),
                updated_at=bindparam("b_now"),
            ),
            failures,
        )
    audit.record_many(session, events, actor)


def settle_capture(session: Session, product: ProductRef, number: int, actor: str) -> CaptureState:
    """CAPTURED once every file is copied, CAPTURE_FAILED when some failed; unchanged while files wait."""
    version = versions.get(session, product, number)
    files = session.execute(
        select(RawFile.key, RawFile.size, RawFile.status, RawFile.error_message, RawFile.is_empty).where(
            *_of_version(product, number)
        )
    ).all()
    failures = {key: message or "" for key, _, status, message, _ in files if status is FileStatus.FAILED}
    waiting = any(status in UNCAPTURED_FILE_STATES for _, _, status, _, _ in files)
    if version.status in (VersionStatus.DISCOVERED, VersionStatus.CAPTURE_FAILED) and not waiting:
        target = VersionStatus.CAPTURE_FAILED if failures else VersionStatus.CAPTURED
        versions.set_status(session, product, version, target, actor, failed_files=len(failures))
    return CaptureState(
        status=version.status,
        files=len(files),
        bytes=sum(size for _, size, _, _, _ in files),
        failed=failures,
        empty_files=sorted(key for key, _, _, _, empty in files if empty),
    )


def settle_processing(
    session: Session, product: ProductRef, number: int, actor: str, review: bool = False
) -> ProcessingState:
    """PROCESSED when every file is PROCESSED or SKIPPED (then, with ``review``, AWAITING_REVIEW or, carrying
    its parent's approval, APPROVED); FAILED when nothing is left to try; else unchanged."""
    version = versions.get(session, product, number)
    counts = status_counts(session, product, number)
    open_files = sum(counts.get(status, 0) for status in OPEN_FILE_STATES)
    finished = counts.get(FileStatus.PROCESSED, 0) + counts.get(FileStatus.SKIPPED, 0)
    if version.status not in UNPROCESSED_STATES:
        pass  # settled already (processed, in review, merged, ...): a late settle changes nothing
    elif finished == sum(counts.values()):
        versions.set_status(session, product, version, VersionStatus.PROCESSED, actor, files=finished)
        if review:
            reviews.enter_review(session, product, version, actor)
    elif not open_files:
        failed_count = counts.get(FileStatus.FAILED, 0)
        versions.set_status(session, product, version, VersionStatus.FAILED, actor, failed_files=failed_count)
    return ProcessingState(
        status=version.status,
        file_counts=counts,
        rows_written=rows_written(session, product, number),
        rows_rejected=rows_rejected(session, product, number),
        failed={file.key: file.error_message or "" for file in failed(session, product, [number])},
    )


def unsettled(session: Session, product: ProductRef, file_ids: set[int]) -> set[int]:
    """Those of ``file_ids`` whose processing outcome is not recorded yet (still CAPTURED or PROCESSING)."""
    query = select(RawFile.id).where(
        RawFile.product_id == product.id,
        RawFile.id.in_(sorted(file_ids)),
        RawFile.status.in_([FileStatus.PROCESSING, FileStatus.CAPTURED]),
    )
    return set(session.scalars(query))


def skip(
    session: Session, product: ProductRef, number: int, key: str, reason: str, actor: str, postgres: bool
) -> FileStatus:
    """Mark the file SKIPPED with ``reason``, audited; return its previous status.

    A file a live worker holds is refused; one whose holder is provably gone is not.
    """
    versions.get(session, product, number)
    row = session.scalars(
        select(RawFile).where(*_of_version(product, number), RawFile.key == key).with_for_update()
    ).one_or_none()
    name = product.name
    if row is None:
        raise CannotSkip(
            f"version {number} of {name} has no file {key!r}; `platform-assets versions {name}` lists the versions"
        )
    if row.status in (FileStatus.PROCESSED, FileStatus.SKIPPED):
        raise CannotSkip(f"{key!r} of {name} v{number} is already {row.status}; nothing to skip")
    held = row.status is FileStatus.PROCESSING and row.lease_expires_at and row.lease_expires_at > utc_now()
    if held and row.lease_owner and workers.holder_gone(session, row.lease_owner, postgres) is None:
        raise CannotSkip(
            f"{key!r} of {name} v{number} is being processed by {workers.describe(session, row.lease_owner)} until "
            f"{row.lease_expires_at:%H:%M:%S} UTC; wait for it to finish"
        )
    previous = row.status
    row.status = FileStatus.SKIPPED
    row.lease_owner = None
    row.lease_expires_at = None
    change = {"from": previous, "reason": reason}
    audit.record(session, "raw_file", audit.file_entity_id(name, number, key), "skipped", actor, change)
    return previous
