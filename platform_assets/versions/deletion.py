"""Soft delete and restore of a version (``platform-assets delete-version`` / ``restore-version``), audited.

Contract:
- :func:`delete_version`: the version turns DELETED with who, when and why; its status before is kept.
  A deleted version is skipped by version resolution, the merge order (like a superseded one, without an
  exclusion in the batch log) and review (not in the queue; approve and reject refuse it). Refused, with why
  and what to do: a PUBLISHED version (publish another first), one a step is writing (DISCOVERED,
  PROCESSING), one deleted or purged already, one merged whose publication has not happened yet, and an empty
  reason. Nothing is removed: retention purges a deleted version ``retention.deleted_days`` after.
- :func:`restore_version`: the version gets back its status before the delete. If a later version merged
  meanwhile, the restored one can no longer merge in order: it is excluded (batch log and catalog, audited)
  and the result says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from platform_assets.actions import reason_required
from platform_assets.catalog.errors import RetentionStateError
from platform_assets.catalog.records import VersionRecord
from platform_assets.catalog.states import VersionStatus
from platform_assets.config import ProductConfig
from platform_assets.merge import BatchStatus, batch_log, exclude_batch
from platform_assets.merge.versions import out_of_order

if TYPE_CHECKING:
    from platform_assets.services import Services


@dataclass(frozen=True)
class DeletionResult:
    """What a delete or a restore did to one version."""

    product: str
    version: int
    action: str  # deleted | restored
    actor: str
    status: VersionStatus
    previous_status: VersionStatus
    reason: str | None
    excluded_reason: str | None = None  # a restored version that can no longer merge in order

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def delete_version(services: Services, product: ProductConfig, version: int, reason: str) -> DeletionResult:
    """Soft-delete ``version`` (see the module contract)."""
    if not reason.strip():
        raise RetentionStateError(reason_required("the version is deleted"))
    entry = next((e for e in batch_log(services.merge_store, product.name) if e.batch == version), None)
    record = services.catalog.version(product.name, version)
    if entry is not None and entry.status is BatchStatus.COMMITTED and record.published_at is None:
        raise RetentionStateError(
            f"version {version} of {product.name} is merged (batch {version} committed) and its publication has "
            f"not happened yet; `platform-assets merge {product.name}` publishes it, then publish a newer version "
            "before deleting it"
        )
    deleted = services.catalog.delete_version(product.name, version, reason, services.actor)
    previous = deleted.status_before_delete or record.status
    return DeletionResult(product.name, version, "deleted", services.actor, deleted.status, previous, reason)


def restore_version(services: Services, product: ProductConfig, version: int) -> DeletionResult:
    """Give a DELETED version back the status it had (see the module contract)."""
    before = services.catalog.version(product.name, version)
    restored = services.catalog.restore_version(product.name, version, services.actor)
    excluded = _exclude_if_overtaken(services, product, restored)
    return DeletionResult(
        product.name,
        version,
        "restored",
        services.actor,
        restored.status,
        VersionStatus.DELETED,
        before.delete_reason,
        excluded,
    )


def _exclude_if_overtaken(services: Services, product: ProductConfig, record: VersionRecord) -> str | None:
    """Exclude a restored version that a later merge overtook (it could never merge in order); the reason."""
    if out_of_order(record) or record.status is VersionStatus.PUBLISHED or record.published_at is not None:
        return None
    later = [
        entry.batch
        for entry in batch_log(services.merge_store, product.name)
        if entry.batch > record.number and entry.status is BatchStatus.COMMITTED
    ]
    if not later:
        return None
    reason = f"restored after v{min(later)} merged: it can no longer merge in order"
    exclude_batch(services.merge_store, product, record.number, reason)
    services.catalog.exclude_version(product.name, record.number, reason, services.actor)
    return reason
