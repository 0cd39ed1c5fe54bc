"""Giving up on one file of a version (``platform-assets skip``), audited; the version settles at once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from platform_assets.catalog.states import FileStatus
from platform_assets.config import ProductConfig

if TYPE_CHECKING:
    from platform_assets.services import Services


def skip_file(services: Services, product: ProductConfig, version: int, key: str, reason: str) -> FileStatus:
    """Mark the file SKIPPED with ``reason`` and settle the version (PROCESSED once nothing else is left).

    Returns the file's previous status; CannotSkip when the file is missing,
    done, or held by a live worker, or when ``reason`` is empty.
    """
    catalog = services.catalog
    previous = catalog.skip_file(product.name, version, key, reason, services.actor)
    catalog.settle_processing(product.name, version, services.actor, review=product.under_review)
    return previous
