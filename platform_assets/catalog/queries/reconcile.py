"""Reconciliation of the catalog with the raw zone: the bulk read, and the repairs' state changes with their events.

Contract: :func:`raw_copies` is one statement over the product's files (the
reconciliation's one catalog read); every change (files turning LOST, copies
restored, objects quarantined, a finished reconciliation) writes its audit
events in the caller's transaction through :mod:`.audit`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import String, and_, bindparam, case, null, or_, select, type_coerce, update
from sqlalchemy.orm import Session

from platform_assets.catalog.models import RawFile, Version, table_of, utc_now
from platform_assets.catalog.queries import audit
from platform_assets.catalog.records import LostCopy, ProductRef, QuarantinedObject, RawCopyRow, RestoredCopy
from platform_assets.catalog.states import (
    COPY_ABSENT_STATES,
    COPY_HOLDING_FILE_STATES,
    LOST_ERROR_TYPE,
    FileStatus,
    VersionOrigin,
)

LOOKUP_CHUNK = 200  # (version, key) pairs per statement when looking rows up
SHOWN_KEYS = 5  # keys a version's status_reason names


def raw_copies(session: Session, product: ProductRef, listed_at: datetime, with_details: bool) -> list[RawCopyRow]:
    """Every file of the product (see ``RawCopyRow``), in one statement; a copy recorded at or after ``listed_at``
    is not held (the listing may predate it). Core rows of plain columns: no per-row type processing."""
    holds = case(
        (
            and_(
                RawFile.captured_at.is_not(None),
                RawFile.captured_at < listed_at,
                type_coerce(RawFile.status, String).in_(sorted(COPY_HOLDING_FILE_STATES)),
                type_coerce(RawFile.status, String).not_in(COPY_ABSENT_STATES),
                type_coerce(Version.status, String).not_in(COPY_ABSENT_STATES),
            ),
            1,
        ),
        else_=0,
    )
    carried = case((type_coerce(Version.origin, String) != VersionOrigin.SOURCE.value, RawFile.raw_location))
    query = (
        select(
            RawFile.version,
            RawFile.key,
            RawFile.size,
            holds,
            carried,
            RawFile.etag if with_details else null(),
            RawFile.sha256 if with_details else null(),
        )
        .join(Version, and_(Version.product_id == RawFile.product_id, Version.number == RawFile.version))
        .where(RawFile.product_id == product.id)
    )
    result = session.connection().execute(query)
    try:  # every column is a plain type (no result processing): the driver's tuples are the rows
        return cast(list[RawCopyRow], result.cursor.fetchall())
    finally:
        result.close()


def held(session: Session, product: ProductRef, pairs: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Those (version, key) pairs that have a row in ``raw_files`` (a re-check before moving an object)."""
    wanted = sorted(set(pairs))
    found: set[tuple[int, str]] = set()
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        match = or_(*(and_(RawFile.version == number, RawFile.key == key) for number, key in chunk))
        query = select(RawFile.version, RawFile.key).where(RawFile.product_id == product.id, match)
        found.update((number, key) for number, key in session.execute(query))
    return found


def lost_files(session: Session, product: ProductRef, number: int) -> dict[str, str]:
    """The version's LOST files: key -> why."""
    query = select(RawFile.key, RawFile.error_message).where(
        RawFile.product_id == product.id, RawFile.version == number, RawFile.status == FileStatus.LOST
    )
    return {key: message or "" for key, message in session.execute(query.order_by(RawFile.key))}


def mark_lost(session: Session, product: ProductRef, lost: Sequence[LostCopy], actor: str) -> None:
    """Each file turns LOST with its reason; one event per file, and per version a status_reason and an event."""
    if not lost:
        return
    by_pair = {(item.version, item.key): item for item in lost}
    previous = {  # only files that held their copy: a SKIPPED (or already LOST) file stays as it is
        pair: status
        for pair, status in _statuses(session, product, by_pair).items()
        if status in COPY_HOLDING_FILE_STATES
    }
    now = utc_now()
    table = table_of(RawFile)
    changes = [
        {"b_version": number, "b_key": key, "b_message": item.reason, "b_now": now}
        for (number, key), item in by_pair.items()
        if (number, key) in previous
    ]
    if changes:
        session.connection().execute(
            update(table)
            .where(
                table.c.product_id == product.id,
                table.c.version == bindparam("b_version"),
                table.c.key == bindparam("b_key"),
            )
            .values(
                status=FileStatus.LOST,
                error_type=LOST_ERROR_TYPE,
                error_message=bindparam("b_message"),
                lease_owner=None,
                lease_expires_at=None,
                updated_at=bindparam("b_now"),
            ),
            changes,
        )
    events: list[dict[str, Any]] = []
    per_version: dict[int, list[LostCopy]] = defaultdict(list)
    for (number, key), item in by_pair.items():
        if (number, key) not in previous:
            continue
        per_version[number].append(item)
        change = {"from": previous[(number, key)], "finding": item.finding, "reason": item.reason}
        entity = audit.file_entity_id(product.name, number, key)
        events.append({"entity_type": "raw_file", "entity_id": entity, "action": "lost", "change": change})
    for number, items in sorted(per_version.items()):
        reason = _lost_reason(items)
        session.execute(
            update(Version)
            .where(Version.product_id == product.id, Version.number == number)
            .values(status_reason=reason, updated_at=now)
        )
        summary: dict[str, Any] = {"files": sorted(item.key for item in items), "reason": reason}
        entity = audit.version_entity_id(product.name, number)
        events.append({"entity_type": "version", "entity_id": entity, "action": "raw_copies_lost", "change": summary})
    audit.record_many(session, events, actor)


def _statuses(session: Session, product: ProductRef, pairs: Iterable[tuple[int, str]]) -> dict[tuple[int, str], str]:
    wanted = sorted(set(pairs))
    found: dict[tuple[int, str], str] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        match = or_(*(and_(RawFile.version == number, RawFile.key == key) for number, key in chunk))
        query = select(RawFile.version, RawFile.key, RawFile.status).where(RawFile.product_id == product.id, match)
        found.update({(number, key): str(status) for number, key, status in session.execute(query)})
    return found


def _lost_reason(items: Sequence[LostCopy]) -> str:
    """What a version's status_reason says about its LOST files (the first few keys and reasons)."""
    shown = "; ".join(f"{item.key}: {item.reason}" for item in sorted(items, key=lambda item: item.key)[:SHOWN_KEYS])
    more = f" (and {len(items) - SHOWN_KEYS} more)" if len(items) > SHOWN_KEYS else ""
    return f"raw copy of {len(items)} file(s) LOST, found by reconcile: {shown}{more}"


def record_restored(session: Session, product: ProductRef, restored: Sequence[RestoredCopy], actor: str) -> None:
    """One event per raw copy recaptured from the source."""
    events = []
    for item in restored:
        change: dict[str, Any] = {"finding": item.finding, "sha256": item.sha256, "size": item.size}
        if item.moved_to:
            change["altered_copy_moved_to"] = item.moved_to
        entity = audit.file_entity_id(product.name, item.version, item.key)
        events.append({"entity_type": "raw_file", "entity_id": entity, "action": "raw_copy_restored", "change": change})
    audit.record_many(session, events, actor)


def record_quarantined(session: Session, product: ProductRef, moved: Sequence[QuarantinedObject], actor: str) -> None:
    """One event per object moved into quarantine (entity ``raw_object``, ``<product>/<key under the product>``)."""
    events = []
    for item in moved:
        change = {"from": item.source, "to": item.target, "size": item.size, "reason": item.reason}
        entity = f"{product.name}/{item.source.partition('/')[2]}"
        events.append({"entity_type": "raw_object", "entity_id": entity, "action": "quarantined", "change": change})
    audit.record_many(session, events, actor)


def record_reconciled(session: Session, product: ProductRef, summary: dict[str, Any], actor: str) -> None:
    """The outcome of one reconciliation of the product's raw zone (counts by finding, what repair did)."""
    audit.record(session, "raw_zone", product.name, "reconciled", actor, summary)
