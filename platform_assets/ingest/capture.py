"""Capture: copy a version's source objects into the raw zone and catalogue them.

Contract:
- A file lands at ``<product>/v<version>/<source key>`` in the raw zone; its
  row records raw location, size, etag and sha256 and turns CAPTURED in the
  same transaction as its audit event.
- Copies are atomic (no half object is ever visible) and repeatable, so a
  crash between copy and catalog update (failpoint
  ``capture.after_object_copy``) is healed by running capture again: files
  already CAPTURED are left alone, the others are copied again over the same
  destination, and nothing is doubled.
- An object that vanished (or changed) since it was listed, or whose key is
  unsafe, turns FAILED with the reason; the other files go on.
- The version turns CAPTURED once every file is CAPTURED, or CAPTURE_FAILED
  when some failed. One whose file vanished is superseded by the next sync
  (:meth:`platform_assets.catalog.Catalog.register_version`);
  ``platform-assets skip`` gives up on an unsafe key.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from platform_assets.catalog.records import CopiedFile, CopyFailure, PendingCopy
from platform_assets.catalog.states import VANISHED, VersionStatus
from platform_assets.config import ProductConfig
from platform_assets.failpoints import failpoint
from platform_assets.storage.keys import UnsafeKey, validate_key
from platform_assets.storage.object_store import ObjectStore, ObjectVanished, copy_object

if TYPE_CHECKING:
    from platform_assets.services import Services

COPY_CHUNK = 64
COPY_THREADS = 8


@dataclass(frozen=True)
class CaptureOptions:
    """How to capture a version (no choices yet: this is where they go)."""


@dataclass(frozen=True)
class CaptureResult:
    """What one capture of a version did, and where the version stands after it."""

    product: str
    version: int
    status: VersionStatus
    files: int = 0
    bytes: int = 0
    copied_now: int = 0
    already_captured: int = 0
    empty_files: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CaptureResult:
        return cls(**{**data, "status": VersionStatus(data["status"])})


def raw_key(product: str, version: int, source_key: str) -> str:
    """Where a source file of a version lives in the raw zone."""
    return f"{product}/v{version}/{source_key}"


def capture_version(
    services: Services, product: ProductConfig, version: int, options: CaptureOptions | None = None
) -> CaptureResult:
    """Copy every not-yet-captured file of the version, then settle the version's status."""
    catalog, raw_zone = services.catalog, services.raw_zone
    source = services.sources.of(product)
    pending = catalog.pending_copies(product.name, version)
    copied = 0
    with ThreadPoolExecutor(max_workers=COPY_THREADS) as pool:
        for start in range(0, len(pending), COPY_CHUNK):
            chunk = pending[start : start + COPY_CHUNK]
            outcomes = list(pool.map(lambda item: _copy_one(product.name, version, item, source, raw_zone), chunk))
            failpoint("capture.after_object_copy")
            catalog.record_copies(product.name, version, outcomes, services.actor)
            copied += sum(1 for outcome in outcomes if isinstance(outcome, CopiedFile))
    state = catalog.settle_capture(product.name, version, services.actor)
    return CaptureResult(
        product=product.name,
        version=version,
        status=state.status,
        files=state.files,
        bytes=state.bytes,
        copied_now=copied,
        already_captured=state.files - copied - len(state.failed),
        empty_files=state.empty_files,
        failed=state.failed,
    )


def _copy_one(
    product: str, version: int, item: PendingCopy, source: ObjectStore, raw_zone: ObjectStore
) -> CopiedFile | CopyFailure:
    try:
        validate_key(item.key)
        copy = copy_object(source, item.key, raw_zone, raw_key(product, version, item.key), expected_etag=item.etag)
    except UnsafeKey as error:
        return CopyFailure(item.id, item.key, "unsafe_key", str(error))
    except ObjectVanished as error:
        message = (
            f"{error}; the file was listed for version {version} but is gone or changed at the source: the next sync "
            "picks up its current state"
        )
        return CopyFailure(item.id, item.key, VANISHED, message)
    return CopiedFile(item.id, item.key, raw_zone.uri(copy.key), copy.size, copy.sha256)
