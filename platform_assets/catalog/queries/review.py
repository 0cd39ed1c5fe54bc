"""Review and publication: decisions, rejected files, child versions, superseding, publishing; each audited.

The rules (who may decide, in which order) live in ``platform_assets/versions/review.py``; these
functions check only the state a change needs and write it with its audit event in the caller's
transaction.
"""

from __future__ import annotations

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from platform_assets.catalog.errors import ReviewStateError
from platform_assets.catalog.models import AuditEvent, Product, RawFile, Version, table_of, utc_now
from platform_assets.catalog.queries import audit, versions
from platform_assets.catalog.records import ChildVersion, ProductRef, ReviewFile
from platform_assets.catalog.states import (
    Decision,
    FileStatus,
    VersionOrigin,
    VersionStatus,
)

UNMERGED_SUPERSEDABLE = frozenset({VersionStatus.AWAITING_REVIEW, VersionStatus.APPROVED, VersionStatus.PROCESSED})
"""Older unmerged versions an approved newer snapshot takes the place of."""


def enter_review(session: Session, product: ProductRef, version: Version, actor: str) -> None:
    """A PROCESSED version of a product under review waits for a reviewer, or, when its approval was
    carried from its parent (a child made by a review or a rollback), is APPROVED at once."""
    if version.status is not VersionStatus.PROCESSED:
        return
    if version.decision is Decision.APPROVED:
        parent, approver = version.parent_number, version.decided_by
        versions.set_status(
            session, product, version, VersionStatus.APPROVED, actor, carried_from=parent, approved_by=approver
        )
    else:
        versions.set_status(session, product, version, VersionStatus.AWAITING_REVIEW, actor)


def creators(session: Session, product: ProductRef, number: int) -> set[str]:
    """Who registered, captured or processed the version: the actors of its events before any review."""
    query = select(AuditEvent.actor, AuditEvent.action, AuditEvent.change).where(
        AuditEvent.entity_type == "version",
        AuditEvent.entity_id == audit.version_entity_id(product.name, number),
    )
    found = set()
    for actor, action, change in session.execute(query.order_by(AuditEvent.id)):
        if action == "status" and change.get("to") == VersionStatus.AWAITING_REVIEW:
            break
        found.add(actor)
    return found


def decide(
    session: Session, product: ProductRef, number: int, decision: Decision, actor: str, notes: str | None
) -> Version:
    """Record the decision on a version AWAITING_REVIEW: APPROVED, or REJECTED (and out of the merge order)."""
    version = versions.get(session, product, number, lock=True)
    if version.status is not VersionStatus.AWAITING_REVIEW:
        raise ReviewStateError(
            f"version {number} of {product.name} is {version.status}, not AWAITING_REVIEW: only a version awaiting "
            "review can be approved or rejected"
        )
    version.decision, version.decided_by, version.decided_at = decision, actor, utc_now()
    version.decision_notes = notes
    target = VersionStatus.APPROVED if decision is Decision.APPROVED else VersionStatus.REJECTED
    if decision is Decision.REJECTED:
        version.excluded, version.exclude_reason = True, f"rejected by {actor}: {notes}"
    versions.set_status(session, product, version, target, actor, notes=notes)
    return version


def reject_file(session: Session, product: ProductRef, number: int, key: str, reason: str, actor: str) -> None:
    """Mark one PROCESSED file of a version AWAITING_REVIEW as rejected by a reviewer, audited."""
    version = versions.get(session, product, number, lock=True)
    if version.status is not VersionStatus.AWAITING_REVIEW:
        raise ReviewStateError(
            f"version {number} of {product.name} is {version.status}, not AWAITING_REVIEW: files are rejected "
            "while their version awaits review"
        )
    file = session.scalars(
        select(RawFile).where(RawFile.product_id == product.id, RawFile.version == number, RawFile.key == key)
    ).one_or_none()
    if file is None:
        raise ReviewStateError(f"version {number} of {product.name} has no file {key!r}")
    if file.status is not FileStatus.PROCESSED:
        raise ReviewStateError(f"file {key!r} of version {number} is {file.status}, not PROCESSED: nothing to reject")
    file.rejected_reason = reason
    change = {"reason": reason, "rows": file.rows_written or 0}
    audit.record(session, "raw_file", audit.file_entity_id(product.name, number, key), "rejected", actor, change)


def review_files(session: Session, product: ProductRef, number: int) -> list[ReviewFile]:
    query = select(
        RawFile.key, RawFile.size, RawFile.sha256, RawFile.status, RawFile.rows_written, RawFile.rejected_reason
    ).where(RawFile.product_id == product.id, RawFile.version == number)
    return [
        ReviewFile(key, size, sha, status, rows or 0, rejected)
        for key, size, sha, status, rows, rejected in session.execute(query.order_by(RawFile.key))
    ]


def create_child(
    session: Session,
    product: Product,
    ref: ProductRef,
    parent_number: int,
    origin: VersionOrigin,
    actor: str,
    notes: str | None,
) -> ChildVersion:
    """A new version (the next number) holding the parent's PROCESSED, not rejected files by reference.

    The files keep the parent's raw copies (no byte is copied again) and are CAPTURED, so processing
    writes their rows as the child's; the child carries the approval (``decision`` approved by
    ``actor``). A review child supersedes its parent.
    """
    parent = versions.get(session, ref, parent_number, lock=True)
    carried = session.scalars(
        select(RawFile)
        .where(
            RawFile.product_id == ref.id,
            RawFile.version == parent_number,
            RawFile.status == FileStatus.PROCESSED,
            RawFile.rejected_reason.is_(None),
        )
        .order_by(RawFile.key)
    ).all()
    number = _allocate(session, product)
    now = utc_now()
    child = Version(
        product_id=ref.id,
        number=number,
        mode=parent.mode,
        status=VersionStatus.CAPTURED,
        parent_number=parent_number,
        file_count=len(carried),
        byte_count=sum(file.size for file in carried),
        origin=origin,
        decision=Decision.APPROVED,
        decided_by=actor,
        decided_at=now,
        decision_notes=notes,
        captured_at=now,
    )
    session.add(child)
    rows = [
        {
            "product_id": ref.id,
            "version": number,
            "key": file.key,
            "raw_location": file.raw_location,
            "size": file.size,
            "etag": file.etag,
            "sha256": file.sha256,
            "source_last_modified": file.source_last_modified,
            "change": file.change,
            "is_empty": file.is_empty,
            "status": FileStatus.CAPTURED,
            "retry_count": 0,
            "created_at": now,
            "updated_at": now,
            "ingested_at": file.captured_at,
        }
        for file in carried
    ]
    if rows:
        session.execute(insert(table_of(RawFile)), rows)
    change = {"parent": parent_number, "origin": origin, "files": len(carried), "notes": notes}
    audit.record(session, "version", audit.version_entity_id(ref.name, number), "created_from", actor, change)
    superseded = []
    if origin is VersionOrigin.REVIEW:
        supersede(session, ref, parent, actor, number)
        superseded.append(parent_number)
    return ChildVersion(number, parent_number, origin, len(carried), superseded)


def _allocate(session: Session, product: Product) -> int:
    result = session.execute(
        update(Product)
        .where(Product.id == product.id)
        .values(last_version=Product.last_version + 1)
        .returning(Product.last_version)
    )
    return int(result.scalar_one())


def supersede(session: Session, product: ProductRef, version: Version, actor: str, by: int) -> None:
    """The version will never merge: SUPERSEDED by version ``by`` and out of the merge order."""
    version.excluded, version.exclude_reason = True, f"superseded by version {by}"
    versions.set_status(session, product, version, VersionStatus.SUPERSEDED, actor, by=by)


def supersede_older(session: Session, product: ProductRef, number: int, actor: str) -> list[int]:
    """Older unmerged versions awaiting review (or approved, or processed) become SUPERSEDED by ``number``."""
    query = select(Version).where(
        Version.product_id == product.id,
        Version.number < number,
        Version.status.in_(UNMERGED_SUPERSEDABLE),
        Version.excluded.is_(False),
    )
    older = list(session.scalars(query.order_by(Version.number).with_for_update()))
    for version in older:
        supersede(session, product, version, actor, number)
    return [version.number for version in older]


def mark_published(session: Session, product: ProductRef, number: int, actor: str) -> list[int]:
    """The merged version is PUBLISHED; the versions published before it become SUPERSEDED. Idempotent."""
    version = versions.get(session, product, number, lock=True)
    if version.status is VersionStatus.PUBLISHED:
        return []
    earlier = list(
        session.scalars(
            select(Version).where(
                Version.product_id == product.id,
                Version.status == VersionStatus.PUBLISHED,
                Version.number != number,
            )
        )
    )
    versions.set_status(session, product, version, VersionStatus.PUBLISHED, actor)
    for other in earlier:
        versions.set_status(session, product, other, VersionStatus.SUPERSEDED, actor, by=number)
    return [other.number for other in earlier]


def published_number(session: Session, product: ProductRef) -> int | None:
    query = select(func.max(Version.number)).where(
        Version.product_id == product.id, Version.status == VersionStatus.PUBLISHED
    )
    return session.scalar(query)
