"""Queries and state changes of versions (each change audited in its transaction)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from platform_assets.catalog import audit
from platform_assets.catalog.models import FileStatus, Product, RawFile, Version, VersionStatus, utc_now
from platform_assets.catalog.products import get_product


class VersionNotFound(LookupError):
    """An explicitly asked-for version does not exist; the message suggests the newest one."""


@dataclass(frozen=True)
class VersionSummary:
    """One version as `platform-assets versions` shows it."""

    number: int
    mode: str
    status: str
    parent: int | None
    files: int
    bytes: int
    new: int
    changed: int
    removed: int
    excluded: bool
    file_statuses: dict[str, int]
    created_at: datetime
    captured_at: datetime | None
    processed_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        for name in ("created_at", "captured_at", "processed_at"):
            value = data[name]
            data[name] = value.isoformat() if value else None
        return data


def get_version(session: Session, product: Product, number: int) -> Version:
    version = session.scalar(select(Version).where(Version.product_id == product.id, Version.number == number))
    if version is None:
        newest = newest_version_number(session, product)
        hint = (
            f"the newest version is {newest}: try --version {newest}"
            if newest
            else "it has no versions yet: run `platform-assets sync` first"
        )
        raise VersionNotFound(f"product {product.name!r} has no version {number}; {hint}")
    return version


def newest_version_number(session: Session, product: Product) -> int | None:
    return session.scalar(select(func.max(Version.number)).where(Version.product_id == product.id))


def set_version_status(
    session: Session, product: Product, version: Version, status: VersionStatus, actor: str, **details: Any
) -> None:
    """Move ``version`` to ``status`` and audit the change (no-op when unchanged)."""
    if version.status == status.value:
        return
    previous = version.status
    version.status = status.value
    now = utc_now()
    if status is VersionStatus.CAPTURED:
        version.captured_at = now
    if status is VersionStatus.PROCESSED:
        version.processed_at = now
    change = {"from": previous, "to": status.value, **details}
    audit.record(session, "version", audit.version_entity_id(product.name, version.number), "status", actor, change)


def file_status_counts(session: Session, product_id: int, number: int) -> dict[str, int]:
    rows = session.execute(
        select(RawFile.status, func.count())
        .where(RawFile.product_id == product_id, RawFile.version == number)
        .group_by(RawFile.status)
    )
    return {status: count for status, count in rows}


def list_versions(session: Session, product_name: str) -> list[VersionSummary]:
    """Every version of the product, oldest first, with its files' status counts."""
    product = get_product(session, product_name)
    versions = session.scalars(select(Version).where(Version.product_id == product.id).order_by(Version.number))
    counts: dict[int, dict[str, int]] = {}
    for number, status, count in session.execute(
        select(RawFile.version, RawFile.status, func.count())
        .where(RawFile.product_id == product.id)
        .group_by(RawFile.version, RawFile.status)
    ):
        counts.setdefault(number, {})[status] = count
    return [
        VersionSummary(
            number=version.number,
            mode=version.mode,
            status=version.status,
            parent=version.parent_number,
            files=version.file_count,
            bytes=version.byte_count,
            new=version.new_count,
            changed=version.changed_count,
            removed=version.removed_count,
            excluded=version.excluded,
            file_statuses=counts.get(version.number, {}),
            created_at=version.created_at,
            captured_at=version.captured_at,
            processed_at=version.processed_at,
        )
        for version in versions
    ]


def pending_capture_numbers(session: Session, product: Product) -> list[int]:
    """Versions registered but not yet fully captured, oldest first."""
    query = select(Version.number).where(Version.product_id == product.id, Version.status == VersionStatus.DISCOVERED)
    return list(session.scalars(query.order_by(Version.number)))


TERMINAL_CAPTURE_STATES = (FileStatus.CAPTURED, FileStatus.FAILED, FileStatus.SKIPPED)
