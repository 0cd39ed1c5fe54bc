"""Discovery: list a product's source and register a version when it changed.

Contract:
- The listing is diffed with the catalog's picture of the source (see
  :meth:`platform_assets.catalog.Catalog.register_version`); the raw zone is
  never listed.
- A listing that does not fit in one sensor tick is continued on the next tick
  from ``start_after``; its pages wait in the catalog meanwhile.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from platform_assets.catalog import Catalog
from platform_assets.catalog.records import RegisteredVersion
from platform_assets.catalog.states import CaptureMode
from platform_assets.config import ProductConfig
from platform_assets.storage.object_store import ObjectInfo, ObjectStore


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
    catalog: Catalog, product: ProductConfig, progress: ScanProgress, actor: str
) -> RegisteredVersion | None:
    """Register the next version from a complete listing when the source changed (None when it did not)."""
    assert progress.complete, "register a version from a complete listing only"
    return catalog.register_version(product.name, CaptureMode(product.mode), progress.objects, actor, progress.scan_id)


def sync_source(catalog: Catalog, product: ProductConfig, store: ObjectStore, actor: str) -> RegisteredVersion | None:
    """List the whole source now and register a version if anything changed."""
    progress = scan_source(catalog, product, store, None, None, budget_seconds=float("inf"))
    return register_version(catalog, product, progress, actor)
