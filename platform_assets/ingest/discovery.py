"""Discovery: list a product's source and register a version when it changed.

Contract:
- The listing is diffed with the catalog's picture of the source (see
  :meth:`platform_assets.catalog.Catalog.register_version`); the raw zone is
  never listed.
- A listing that does not fit in one sensor tick is continued on the next tick
  from ``start_after``; its pages wait in the catalog meanwhile.
- An object whose etag changed but not its size is read and hashed: when its
  bytes are the ones captured for it, it is no change (its new etag is kept),
  so touching or rewriting a file with the same bytes makes no version.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from platform_assets.catalog import Catalog
from platform_assets.catalog.records import RegisteredVersion
from platform_assets.catalog.states import CaptureMode
from platform_assets.config import ProductConfig
from platform_assets.storage.object_store import ObjectInfo, ObjectStore, ObjectVanished, pinned_sha256


@dataclass(frozen=True)
class ScanProgress:
    """Where a listing stands after one bounded step."""

    scan_id: str
    start_after: str | None
    objects: list[ObjectInfo]
    complete: bool


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
    catalog: Catalog,
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
        catalog.save_listing_page(product.name, scan_id, objects)
        return ScanProgress(scan_id, next_start, [], complete=False)
    if start_after is not None:
        objects = catalog.listing_pages(product.name, scan_id) + objects
    return ScanProgress(scan_id, None, objects, complete=True)


def register_version(
    catalog: Catalog,
    product: ProductConfig,
    progress: ScanProgress,
    actor: str,
    store: ObjectStore,
    budget_seconds: float = float("inf"),
) -> RegisteredVersion | None:
    """Register the next version from a complete listing when the source changed (None when it did not).

    A change seen only in the etag is confirmed by content first
    (:func:`same_content`), so a touched or rewritten but equal file makes no version.
    """
    assert progress.complete, "register a version from a complete listing only"
    same = same_content(catalog, product, store, progress.objects, budget_seconds)
    return catalog.register_version(
        product.name, CaptureMode(product.mode), progress.objects, actor, progress.scan_id, same
    )


def same_content(
    catalog: Catalog, product: ProductConfig, store: ObjectStore, listing: list[ObjectInfo], budget_seconds: float
) -> dict[str, str]:
    """Listed objects whose etag changed at the same size but whose bytes hash to what was captured: key -> sha256.

    Etags the store vouches for as content hashes are taken at their word; an
    object that changes while it is read, or that the time budget leaves
    unread, counts as changed.
    """
    captured = catalog.metadata_only_changes(product.name, listing)
    if not captured:
        return {}
    deadline = time.monotonic() + budget_seconds
    etags = {info.key: info.etag for info in listing}
    same: dict[str, str] = {}
    for key, sha in sorted(captured.items()):
        etag = etags[key]
        if time.monotonic() >= deadline:
            break
        if etag is not None and store.etag_is_content_hash(etag):
            continue
        try:
            if pinned_sha256(store, key, etag) == sha:
                same[key] = sha
        except ObjectVanished:
            continue
    return same


def sync_source(catalog: Catalog, product: ProductConfig, store: ObjectStore, actor: str) -> RegisteredVersion | None:
    """List the whole source now and register a version if anything changed."""
    progress = scan_source(catalog, product, store, None, None, budget_seconds=float("inf"))
    return register_version(catalog, product, progress, actor, store)
