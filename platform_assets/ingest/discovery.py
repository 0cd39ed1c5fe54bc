"""Discovery: list a product's source, diff it with the catalog, register a version.

Contract:
- The diff is against the catalog's ``source_objects`` (the source as of the
  newest version), read in one query; the raw zone is never listed.
- :func:`register_version` runs in one transaction under the product's row
  lock, so two concurrent syncs never share, skip or reuse a number, and the
  second one sees the first one's version and registers nothing twice.
- A listing that does not fit in one sensor tick is continued on the next tick
  from ``start_after``; its pages wait in ``listing_pages`` meanwhile.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from platform_assets.catalog import audit
from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import (
    FileChange,
    FileStatus,
    ListingPage,
    RawFile,
    SourceObject,
    Version,
    VersionStatus,
)
from platform_assets.catalog.products import allocate_version_number, lock_product
from platform_assets.config import ProductConfig
from platform_assets.storage.object_store import ObjectInfo, ObjectStore

INSERT_CHUNK = 5_000


@dataclass
class SourceDiff:
    """A listing compared with the catalog's picture of the source."""

    new: list[ObjectInfo] = field(default_factory=list)
    changed: list[ObjectInfo] = field(default_factory=list)
    unchanged: list[ObjectInfo] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return bool(self.new or self.changed or self.removed)


@dataclass(frozen=True)
class RegisteredVersion:
    product: str
    number: int
    mode: str
    files: int
    bytes: int
    new: int
    changed: int
    removed: int


@dataclass(frozen=True)
class ScanProgress:
    """Where a listing stands after one bounded step."""

    scan_id: str
    start_after: str | None
    objects: list[ObjectInfo]
    complete: bool


def diff_listing(listing: Iterable[ObjectInfo], known: dict[str, tuple[str | None, int]]) -> SourceDiff:
    """Compare a listing with ``known`` (key -> (etag, size)); a differing etag or size is a change."""
    diff = SourceDiff()
    seen: set[str] = set()
    for info in listing:
        seen.add(info.key)
        previous = known.get(info.key)
        if previous is None:
            diff.new.append(info)
        elif previous != (info.etag, info.size):
            diff.changed.append(info)
        else:
            diff.unchanged.append(info)
    diff.removed = sorted(key for key in known if key not in seen)
    return diff


def list_step(
    store: ObjectStore, glob: str, start_after: str | None, budget_seconds: float, page_size: int = 1000
) -> tuple[list[ObjectInfo], str | None]:
    """List pages from ``start_after`` until done or the time budget is spent.

    Returns the objects and where to continue (None when the listing is complete).
    """
    deadline = time.monotonic() + budget_seconds
    page_size = max(page_size, store.natural_page_size) if page_size >= 1000 else page_size
    objects: list[ObjectInfo] = []
    cursor = start_after
    while True:
        page, cursor = store.list_page(glob, cursor, page_size)
        objects.extend(page)
        if cursor is None or time.monotonic() >= deadline:
            return objects, cursor


def scan_source(
    engine: Engine,
    product: ProductConfig,
    store: ObjectStore,
    scan_id: str | None,
    start_after: str | None,
    budget_seconds: float,
    page_size: int = 1000,
) -> ScanProgress:
    """One bounded step of a listing; a complete listing returns every object of the scan."""
    scan_id = scan_id or uuid.uuid4().hex
    objects, next_start = list_step(store, product.source.glob, start_after, budget_seconds, page_size)
    if next_start is not None:
        _save_pages(engine, product.name, scan_id, objects)
        return ScanProgress(scan_id, next_start, [], complete=False)
    if start_after is not None:
        objects = _load_pages(engine, product.name, scan_id) + objects
    return ScanProgress(scan_id, None, objects, complete=True)


def discard_scan(engine: Engine, product_name: str, scan_id: str) -> None:
    with transaction(engine) as session:
        product = lock_product(session, product_name)
        session.execute(delete(ListingPage).where(ListingPage.product_id == product.id, ListingPage.scan_id == scan_id))


def _save_pages(engine: Engine, product_name: str, scan_id: str, objects: list[ObjectInfo]) -> None:
    with transaction(engine) as session:
        product = lock_product(session, product_name)
        rows = [
            {
                "product_id": product.id,
                "scan_id": scan_id,
                "key": o.key,
                "etag": o.etag,
                "size": o.size,
                "last_modified": o.last_modified,
            }
            for o in objects
        ]
        for start in range(0, len(rows), INSERT_CHUNK):
            session.connection().execute(insert(ListingPage.__table__), rows[start : start + INSERT_CHUNK])


def _load_pages(engine: Engine, product_name: str, scan_id: str) -> list[ObjectInfo]:
    with transaction(engine) as session:
        product = lock_product(session, product_name)
        rows = session.execute(
            select(ListingPage.key, ListingPage.size, ListingPage.etag, ListingPage.last_modified)
            .where(ListingPage.product_id == product.id, ListingPage.scan_id == scan_id)
            .order_by(ListingPage.key)
        )
        return [ObjectInfo(key=key, size=size, etag=etag, last_modified=modified) for key, size, etag, modified in rows]


def known_source(session: Session, product_id: int) -> dict[str, tuple[str | None, int]]:
    """The catalog's picture of the source: key -> (etag, size), in one query."""
    table = SourceObject.__table__
    rows = session.connection().execute(
        select(table.c.key, table.c.etag, table.c.size).where(table.c.product_id == product_id)
    )
    return {key: (etag, size) for key, etag, size in rows}


def register_version(
    engine: Engine, product: ProductConfig, listing: list[ObjectInfo], actor: str, scan_id: str | None = None
) -> RegisteredVersion | None:
    """Diff ``listing`` with the catalog and, if anything changed, register the next version.

    Snapshot mode: the version holds every listed file. Incremental mode: the
    new and changed files. No change: None, and nothing is written.
    """
    with transaction(engine) as session:
        row = lock_product(session, product.name)
        if scan_id is not None:
            session.execute(delete(ListingPage).where(ListingPage.product_id == row.id, ListingPage.scan_id == scan_id))
        diff = diff_listing(listing, known_source(session, row.id))
        if not diff.has_changes:
            return None
        if product.mode == "incremental" and not (diff.new or diff.changed):
            _forget_removed(session, row.id, diff.removed)
            return None
        parent = row.last_version or None
        number = allocate_version_number(session, row)
        members = _members(product.mode, diff)
        version = Version(
            product_id=row.id,
            number=number,
            mode=product.mode,
            status=VersionStatus.DISCOVERED,
            parent_number=parent,
            file_count=len(members),
            byte_count=sum(info.size for info, _ in members),
            new_count=len(diff.new),
            changed_count=len(diff.changed),
            removed_count=len(diff.removed),
        )
        session.add(version)
        _insert_raw_files(session, row.id, number, members)
        _update_source_picture(session, row.id, number, diff)
        audit.record(
            session,
            "version",
            audit.version_entity_id(product.name, number),
            "registered",
            actor,
            {
                "mode": product.mode,
                "files": len(members),
                "new": len(diff.new),
                "changed": len(diff.changed),
                "removed": len(diff.removed),
            },
        )
        return RegisteredVersion(
            product.name,
            number,
            product.mode,
            len(members),
            version.byte_count,
            len(diff.new),
            len(diff.changed),
            len(diff.removed),
        )


def _members(mode: str, diff: SourceDiff) -> list[tuple[ObjectInfo, FileChange]]:
    members = [(info, FileChange.NEW) for info in diff.new] + [(info, FileChange.CHANGED) for info in diff.changed]
    if mode == "snapshot":
        members += [(info, FileChange.UNCHANGED) for info in diff.unchanged]
    members.sort(key=lambda member: member[0].key)
    return members


def _insert_raw_files(
    session: Session, product_id: int, number: int, members: list[tuple[ObjectInfo, FileChange]]
) -> None:
    # Timestamps come from the database clock once per statement, not as 2 binds per row.
    statement = insert(RawFile.__table__).values(
        created_at=func.current_timestamp(), updated_at=func.current_timestamp()
    )
    rows = [
        {
            "product_id": product_id,
            "version": number,
            "key": info.key,
            "size": info.size,
            "etag": info.etag,
            "source_last_modified": info.last_modified,
            "change": change.value,
            "is_empty": info.size == 0,
            "status": FileStatus.DISCOVERED,
            "retry_count": 0,
        }
        for info, change in members
    ]
    for start in range(0, len(rows), INSERT_CHUNK):
        session.connection().execute(statement, rows[start : start + INSERT_CHUNK])


def _update_source_picture(session: Session, product_id: int, number: int, diff: SourceDiff) -> None:
    _forget_removed(session, product_id, diff.removed)
    changed = [
        {
            "b_product": product_id,
            "b_key": info.key,
            "b_etag": info.etag,
            "b_size": info.size,
            "b_modified": info.last_modified,
            "b_version": number,
        }
        for info in diff.changed
    ]
    if changed:
        table = SourceObject.__table__
        statement = (
            update(table)
            .where(table.c.product_id == bindparam("b_product"), table.c.key == bindparam("b_key"))
            .values(
                etag=bindparam("b_etag"),
                size=bindparam("b_size"),
                last_modified=bindparam("b_modified"),
                last_version=bindparam("b_version"),
            )
        )
        session.connection().execute(statement, changed)
    new = [
        {
            "product_id": product_id,
            "key": info.key,
            "etag": info.etag,
            "size": info.size,
            "last_modified": info.last_modified,
            "last_version": number,
        }
        for info in diff.new
    ]
    for start in range(0, len(new), INSERT_CHUNK):
        session.connection().execute(insert(SourceObject.__table__), new[start : start + INSERT_CHUNK])


def _forget_removed(session: Session, product_id: int, removed: list[str]) -> None:
    for start in range(0, len(removed), INSERT_CHUNK):
        chunk = removed[start : start + INSERT_CHUNK]
        session.execute(delete(SourceObject).where(SourceObject.product_id == product_id, SourceObject.key.in_(chunk)))
