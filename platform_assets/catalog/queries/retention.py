"""Soft delete, restore and retention's purge of versions: the rows and their audit events.

The rules (which versions retention selects) live in ``platform_assets/versions/retention.py``; the steps
of a purge (raw copies, Iceberg rows) in ``platform_assets/versions/purge.py``. These functions check the
state a change needs and write it with its audit event in the caller's transaction:

- :func:`delete`: any version but a PUBLISHED one, one in flight (DISCOVERED, PROCESSING) or one deleted
  or purged already turns DELETED; its status before is kept (``status_before_delete``).
- :func:`restore`: a DELETED version whose purge has not begun gets that status back.
- :func:`start_purge` marks the intent (``purge_started_at``; the version's files turn DELETED, so
  reconciliation expects no copy of them from then on) before anything is removed, so a purge that dies
  half way is found and finished by the next run (its plan lists it); :func:`finish_purge` turns
  the version PURGED once its copies and rows are gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from platform_assets.catalog.errors import RetentionStateError
from platform_assets.catalog.models import RawFile, Version, utc_now
from platform_assets.catalog.queries import audit, versions
from platform_assets.catalog.records import ProductRef
from platform_assets.catalog.states import FileStatus, VersionStatus

IN_FLIGHT = frozenset({VersionStatus.DISCOVERED, VersionStatus.PROCESSING})
"""A step is writing these versions: deleting or purging one would race it."""

CHUNK = 500  # bound parameters per IN list


def _entity(product: ProductRef, number: int) -> str:
    return audit.version_entity_id(product.name, number)


def delete(session: Session, product: ProductRef, number: int, reason: str, actor: str) -> Version:
    """Soft-delete the version (DELETED, restorable), audited with ``reason``; RetentionStateError when its state
    forbids it (the message says why and what to do)."""
    version = versions.get(session, product, number, lock=True)
    name, status = product.name, version.status
    if status is VersionStatus.PUBLISHED:
        raise RetentionStateError(
            f"version {number} of {name} is PUBLISHED: it is what readers of {name} get now, so it cannot be "
            f"deleted; publish another version first ({_publish_another(session, product, number)}), then delete it"
        )
    if status is VersionStatus.DELETED:
        raise RetentionStateError(
            f"version {number} of {name} is deleted already (by {version.deleted_by} at "
            f"{version.deleted_at:%Y-%m-%d %H:%M} UTC: {version.delete_reason}); "
            f"`platform-assets restore-version {name} {number}` brings it back"
        )
    if status is VersionStatus.PURGED or version.purge_started_at is not None:
        raise RetentionStateError(
            f"version {number} of {name} is purged by retention (rule {version.purge_rule}): its data is gone and "
            "there is nothing left to delete"
        )
    if status in IN_FLIGHT:
        raise RetentionStateError(
            f"version {number} of {name} is {status}: a step is writing it now; delete it once that step has "
            f"ended (`platform-assets versions {name}` shows its status)"
        )
    version.status_before_delete = status
    version.status = VersionStatus.DELETED
    version.deleted_at, version.deleted_by, version.delete_reason = utc_now(), actor, reason
    change = {"from": status, "to": VersionStatus.DELETED, "reason": reason}
    audit.record(session, "version", _entity(product, number), "deleted", actor, change)
    return version


def _publish_another(session: Session, product: ProductRef, number: int) -> str:
    """How to publish a version other than ``number``: re-publish the newest one published before it, else sync."""
    earlier = session.scalar(
        select(Version.number)
        .where(
            Version.product_id == product.id,
            Version.number != number,
            Version.published_at.is_not(None),
            Version.status == VersionStatus.SUPERSEDED,
        )
        .order_by(Version.number.desc())
        .limit(1)
    )
    newer = f"capture, process and approve a newer one (`platform-assets run {product.name}`)"
    if earlier is None:
        return newer
    return f"{newer}, or re-publish v{earlier} with `platform-assets publish {product.name} --version {earlier}`"


def restore(session: Session, product: ProductRef, number: int, actor: str) -> Version:
    """A DELETED version gets back the status it had before, audited; RetentionStateError otherwise."""
    version = versions.get(session, product, number, lock=True)
    name = product.name
    if version.purge_started_at is not None or version.status is VersionStatus.PURGED:
        raise RetentionStateError(
            f"version {number} of {name} is purged by retention (rule {version.purge_rule}): its raw copies and "
            "rows are gone, so it cannot be restored; capture the data again with a new version "
            f"(`platform-assets sync {name}`)"
        )
    if version.status is not VersionStatus.DELETED or version.status_before_delete is None:
        raise RetentionStateError(
            f"version {number} of {name} is {version.status}, not DELETED: there is nothing to restore"
        )
    previous = version.status_before_delete
    change = {
        "from": VersionStatus.DELETED,
        "to": previous,
        "deleted_by": version.deleted_by,
        "delete_reason": version.delete_reason,
    }
    version.status, version.status_before_delete = previous, None
    version.deleted_at, version.deleted_by, version.delete_reason = None, None, None
    audit.record(session, "version", _entity(product, number), "restored", actor, change)
    return version


def start_purge(session: Session, product: ProductRef, rules: Mapping[int, str], actor: str) -> list[int]:
    """Mark the intent to purge each version of ``rules`` (number -> the rule that selects it), audited.

    Checked again in this transaction: a version that is PUBLISHED or in flight now is left alone (not in
    the result); one whose purge began already is returned as it is. Returns the numbers to purge, ascending.
    """
    if not rules:
        return []
    query = select(Version).where(Version.product_id == product.id, Version.number.in_(sorted(rules)))
    started = []
    now = utc_now()
    for version in session.scalars(query.order_by(Version.number).with_for_update()):
        if version.status is VersionStatus.PURGED:
            continue
        if version.purge_started_at is None:
            if version.status is VersionStatus.PUBLISHED or version.status in IN_FLIGHT:
                continue
            version.purge_started_at, version.purge_rule = now, rules[version.number]
            change = {"status": version.status, "rule": version.purge_rule}
            audit.record(session, "version", _entity(product, version.number), "purge_started", actor, change)
            _files_deleted(session, product, version, actor)
        started.append(version.number)
    return started


def _files_deleted(session: Session, product: ProductRef, version: Version, actor: str) -> None:
    """The version's files turn DELETED before their copies go (reconcile expects no copy of them), audited."""
    number = version.number
    files = list(
        session.execute(
            select(RawFile.key, RawFile.status).where(
                RawFile.product_id == product.id, RawFile.version == number, RawFile.status != FileStatus.DELETED
            )
        )
    )
    session.execute(
        update(RawFile)
        .where(RawFile.product_id == product.id, RawFile.version == number)
        .values(status=FileStatus.DELETED, updated_at=utc_now(), lease_owner=None, lease_expires_at=None)
    )
    events = (
        {
            "entity_type": "raw_file",
            "entity_id": audit.file_entity_id(product.name, number, key),
            "action": "purged",
            "change": {"from": status, "to": FileStatus.DELETED, "rule": version.purge_rule},
        }
        for key, status in files
    )
    audit.record_many(session, events, actor)


def raw_locations(session: Session, product: ProductRef, number: int) -> list[tuple[str, str]]:
    """(key, raw_location) of the version's files that have a raw copy, by key."""
    query = select(RawFile.key, RawFile.raw_location).where(
        RawFile.product_id == product.id, RawFile.version == number, RawFile.raw_location.is_not(None)
    )
    return [(key, location or "") for key, location in session.execute(query.order_by(RawFile.key))]


def locations_in_use(session: Session, product: ProductRef, locations: Iterable[str]) -> set[str]:
    """Those of ``locations`` that a file of a version neither purged nor being purged still references (a child
    version carries its parent's copies by reference)."""
    wanted = sorted(set(locations))
    used: set[str] = set()
    surviving = (
        select(Version.number)
        .where(
            Version.product_id == product.id,
            Version.purge_started_at.is_(None),
            Version.status != VersionStatus.PURGED,
        )
        .scalar_subquery()
    )
    for start in range(0, len(wanted), CHUNK):
        query = select(RawFile.raw_location).where(
            RawFile.product_id == product.id,
            RawFile.raw_location.in_(wanted[start : start + CHUNK]),
            RawFile.version.in_(surviving),
        )
        used.update(location for location in session.scalars(query.distinct()) if location is not None)
    return used


def finish_purge(session: Session, product: ProductRef, number: int, actor: str, figures: dict[str, Any]) -> bool:
    """The version's copies and rows are gone: PURGED (who, when), audited with ``figures``. Idempotent: False when
    it was PURGED already."""
    version = versions.get(session, product, number, lock=True)
    if version.status is VersionStatus.PURGED:
        return False
    if version.purge_started_at is None:
        raise RetentionStateError(f"version {number} of {product.name} has no purge begun: nothing to finish")
    previous = version.status
    version.status, version.purged_at, version.purged_by = VersionStatus.PURGED, utc_now(), actor
    change = {"from": previous, "to": VersionStatus.PURGED, "rule": version.purge_rule, **figures}
    audit.record(session, "version", _entity(product, number), "purged", actor, change)
    return True
