"""Taking a bad version out of the merge order (``platform-assets exclude``), audited."""

from __future__ import annotations

from typing import TYPE_CHECKING

from platform_assets.actions import reason_required
from platform_assets.config import ProductConfig
from platform_assets.errors import UserError
from platform_assets.merge import exclude_batch

if TYPE_CHECKING:
    from platform_assets.services import Services


class ReasonRequired(UserError):
    """An action that must say why was given no reason."""


def exclude_version(services: Services, product: ProductConfig, version: int, reason: str) -> None:
    """Exclude ``version`` in the merge store's batch log and in the catalog (with its audit event).

    The version must exist (VersionNotFound otherwise, before anything is
    written); a committed batch cannot be excluded (ExcludedBatch).
    """
    if not reason.strip():
        raise ReasonRequired(reason_required("the version is excluded"))
    services.catalog.version(product.name, version)
    exclude_batch(services.merge_store, product, version, reason)
    services.catalog.exclude_version(product.name, version, reason, services.actor)
