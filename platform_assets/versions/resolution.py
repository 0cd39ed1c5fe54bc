"""Which version to process when nobody says, and a clear error when the asked-for one is missing.

Contract:
- Without a version: the newest captured version that has no successful
  processing yet (a failed processing counts as not yet successful), not excluded.
- An explicit version that does not exist: :class:`VersionNotFound` naming
  the newest captured version as the suggestion.
- Nothing to process: :class:`NothingToProcess`, saying why.
"""

from __future__ import annotations

from platform_assets.actions import process_action, sync_action
from platform_assets.catalog import Catalog
from platform_assets.catalog.errors import VersionNotFound
from platform_assets.errors import NothingToDo


class NothingToProcess(NothingToDo):
    """Every captured version is processed (or there is none)."""


def resolve_version(catalog: Catalog, product_name: str, requested: int | None) -> int:
    """The version to process: ``requested`` if it exists, else the newest captured, unprocessed one."""
    newest = catalog.newest_captured(product_name)
    if requested is not None:
        if not catalog.has_version(product_name, requested):
            suggestion = (
                f"the newest captured version is v{newest}: {process_action(product_name, newest)}"
                if newest
                else f"no version is captured yet: {sync_action(product_name)} first"
            )
            raise VersionNotFound(f"{product_name} has no version {requested}; {suggestion}")
        return requested
    candidate = catalog.newest_unprocessed(product_name)
    if candidate is None:
        if newest is None:
            raise NothingToProcess(f"{product_name} has no captured version yet: {sync_action(product_name)} first")
        raise NothingToProcess(
            f"nothing to process for {product_name}: every captured version is processed (newest: {newest}); "
            f"{sync_action(product_name)} to capture a new one, or {process_action(product_name, newest)} again"
        )
    return candidate
