"""The catalog's picture of each product's source, listings in progress, and the registration of versions.

Contract: a listing is diffed against ``source_objects`` (the source as of the
newest version), read in one query; the raw zone is never listed. A version is
registered under the product's row lock, so two concurrent registrations never
share, skip or reuse a number, and the second one sees the first one's
version and registers nothing twice.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import String, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from platform_assets.catalog.models import ListingPage, Product, RawFile, SourceObject, Version, table_of
from platform_assets.catalog.queries import audit
from platform_assets.catalog.records import ProductRef, RegisteredVersion
from platform_assets.catalog.states import CaptureMode, FileChange, FileStatus, VersionStatus
from platform_assets.storage.object_store import ObjectInfo

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


def save_pages(session: Session, product: Product, scan_id: str, objects: list[ObjectInfo]) -> None:
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
        session.connection().execute(insert(table_of(ListingPage)), rows[start : start + INSERT_CHUNK])


def load_pages(session: Session, product: Product, scan_id: str) -> list[ObjectInfo]:
    rows = session.execute(
        select(ListingPage.key, ListingPage.size, ListingPage.etag, ListingPage.last_modified)
        .where(ListingPage.product_id == product.id, ListingPage.scan_id == scan_id)
        .order_by(ListingPage.key)
    )
    return [ObjectInfo(key=key, size=size, etag=etag, last_modified=modified) for key, size, etag, modified in rows]


def discard_pages(session: Session, product: Product, scan_id: str) -> None:
    session.execute(delete(ListingPage).where(ListingPage.product_id == product.id, ListingPage.scan_id == scan_id))


REDO = (None, -1)
"""What a key to capture again stands at in the picture: no listing equals it, so it diffs as changed."""


def known_source(
    session: Session, product: ProductRef | Product, redo: Collection[int] = ()
) -> dict[str, tuple[str | None, int]]:
    """The catalog's picture of the source: key -> (etag, size), in one query.

    Keys last captured by a version in ``redo`` stand at :data:`REDO`, so a
    listing that still holds them makes them changed (captured again).
    """
    table = table_of(SourceObject)
    rows = session.connection().execute(
        select(table.c.key, table.c.etag, table.c.size, table.c.last_version).where(table.c.product_id == product.id)
    )
    return {key: REDO if last in redo else (etag, size) for key, etag, size, last in rows}


def captured_hashes(session: Session, product_id: int, keys: Collection[str]) -> dict[str, tuple[str, int]]:
    """For each key: the sha256 captured for the picture's version of it, and that version (where it was captured)."""
    found: dict[str, tuple[str, int]] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), INSERT_CHUNK):
        rows = session.execute(
            select(SourceObject.key, RawFile.sha256, SourceObject.last_version)
            .join(
                RawFile,
                (RawFile.product_id == SourceObject.product_id)
                & (RawFile.version == SourceObject.last_version)
                & (RawFile.key == SourceObject.key),
            )
            .where(
                SourceObject.product_id == product_id,
                SourceObject.key.in_(ordered[start : start + INSERT_CHUNK]),
                RawFile.sha256.is_not(None),
            )
        )
        found.update({key: (sha, version) for key, sha, version in rows if sha})
    return found


def metadata_only_changes(listing: Iterable[ObjectInfo], known: dict[str, tuple[str | None, int]]) -> list[str]:
    """Keys listed at the size the picture has but with another etag: changed, or only touched."""
    return [
        info.key
        for info in listing
        if (previous := known.get(info.key)) is not None and previous[1] == info.size and previous[0] != info.etag
    ]


def confirm_unchanged(
    session: Session, product: Product, diff: SourceDiff, same_content: Mapping[str, str], redo: Collection[int]
) -> None:
    """Changed files whose content hashes (``same_content``: key -> sha256 now) to what was captured become unchanged.

    Their picture takes the listed etag (so the next listing finds them equal);
    keys of a version being redone (``redo``) stay changed.
    """
    candidates = [info for info in diff.changed if info.key in same_content]
    if not candidates:
        return
    captured = captured_hashes(session, product.id, [info.key for info in candidates])
    same = {key for key, (sha, version) in captured.items() if version not in redo and sha == same_content.get(key)}
    if not same:
        return
    diff.unchanged += [info for info in diff.changed if info.key in same]
    diff.changed = [info for info in diff.changed if info.key not in same]
    table = table_of(SourceObject)
    statement = (
        update(table)
        .where(table.c.product_id == bindparam("b_product"), table.c.key == bindparam("b_key"))
        .values(etag=bindparam("b_etag"), last_modified=bindparam("b_modified"))
    )
    rows = [
        {"b_product": product.id, "b_key": info.key, "b_etag": info.etag, "b_modified": info.last_modified}
        for info in candidates
        if info.key in same
    ]
    session.connection().execute(statement, rows)


def register(
    session: Session,
    product: Product,
    number: int,
    mode: CaptureMode,
    diff: SourceDiff,
    actor: str,
    superseded: tuple[int, ...] = (),
) -> RegisteredVersion:
    """Insert version ``number`` with its files (all listed ones in snapshot mode, else new and changed)."""
    parent = number - 1 or None
    members = _members(mode, diff)
    version = Version(
        product_id=product.id,
        number=number,
        mode=mode,
        status=VersionStatus.DISCOVERED,
        parent_number=parent,
        file_count=len(members),
        byte_count=sum(info.size for info, _ in members),
        new_count=len(diff.new),
        changed_count=len(diff.changed),
        removed_count=len(diff.removed),
    )
    session.add(version)
    _insert_raw_files(session, product.id, number, members)
    _update_source_picture(session, product.id, number, diff)
    registered = RegisteredVersion(
        product.name,
        number,
        mode,
        len(members),
        version.byte_count,
        len(diff.new),
        len(diff.changed),
        len(diff.removed),
        superseded,
    )
    change = {
        "mode": mode,
        "files": len(members),
        "new": len(diff.new),
        "changed": len(diff.changed),
        "removed": len(diff.removed),
    }
    if superseded:
        change["supersedes"] = list(superseded)
    audit.record(session, "version", audit.version_entity_id(product.name, number), "registered", actor, change)
    return registered


def forget_removed(session: Session, product_id: int, removed: list[str]) -> None:
    for start in range(0, len(removed), INSERT_CHUNK):
        chunk = removed[start : start + INSERT_CHUNK]
        session.execute(delete(SourceObject).where(SourceObject.product_id == product_id, SourceObject.key.in_(chunk)))


def _members(mode: CaptureMode, diff: SourceDiff) -> list[tuple[ObjectInfo, FileChange]]:
    members = [(info, FileChange.NEW) for info in diff.new] + [(info, FileChange.CHANGED) for info in diff.changed]
    if mode is CaptureMode.SNAPSHOT:
        members += [(info, FileChange.UNCHANGED) for info in diff.unchanged]
    members.sort(key=lambda member: member[0].key)
    return members


def _insert_raw_files(
    session: Session, product_id: int, number: int, members: list[tuple[ObjectInfo, FileChange]]
) -> None:
    # Timestamps come from the database clock once per statement, not as 2 binds per row. The two state
    # columns are bound as the text their members already are: the Enum type's check per row and column
    # cost a registering tick about 1 us per file (benchmarks/RESULTS.md, discovery).
    statement = insert(table_of(RawFile)).values(
        created_at=func.current_timestamp(),
        updated_at=func.current_timestamp(),
        status=bindparam("status_text", type_=String()),
        change=bindparam("change_text", type_=String()),
    )
    rows = [
        {
            "product_id": product_id,
            "version": number,
            "key": info.key,
            "size": info.size,
            "etag": info.etag,
            "source_last_modified": info.last_modified,
            "change_text": change,
            "is_empty": info.size == 0,
            "status_text": FileStatus.DISCOVERED,
            "retry_count": 0,
        }
        for info, change in members
    ]
    for start in range(0, len(rows), INSERT_CHUNK):
        session.connection().execute(statement, rows[start : start + INSERT_CHUNK])


def _update_source_picture(session: Session, product_id: int, number: int, diff: SourceDiff) -> None:
    forget_removed(session, product_id, diff.removed)
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
        table = table_of(SourceObject)
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
        session.connection().execute(insert(table_of(SourceObject)), new[start : start + INSERT_CHUNK])
