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
  when some failed (``platform-assets skip`` gives up on such a file).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine

from platform_assets.catalog import audit
from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import FileStatus, RawFile, VersionStatus, utc_now
from platform_assets.catalog.products import get_product
from platform_assets.catalog.versions import file_status_counts, get_version, set_version_status
from platform_assets.failpoints import failpoint
from platform_assets.storage.keys import UnsafeKey, validate_key
from platform_assets.storage.object_store import CopyResult, ObjectStore, ObjectVanished, copy_object

COPY_CHUNK = 64
COPY_THREADS = 8


@dataclass
class CaptureResult:
    product: str
    version: int
    status: str
    files: int = 0
    bytes: int = 0
    copied_now: int = 0
    already_captured: int = 0
    empty_files: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Pending:
    id: int
    key: str
    etag: str | None


def raw_key(product: str, version: int, source_key: str) -> str:
    """Where a source file of a version lives in the raw zone."""
    return f"{product}/v{version}/{source_key}"


def capture_version(
    engine: Engine, product: str, version: int, source: ObjectStore, raw_zone: ObjectStore, actor: str
) -> CaptureResult:
    """Copy every not-yet-captured file of the version, then settle the version's status."""
    pending = _pending_files(engine, product, version)
    copied = 0
    with ThreadPoolExecutor(max_workers=COPY_THREADS) as pool:
        for start in range(0, len(pending), COPY_CHUNK):
            chunk = pending[start : start + COPY_CHUNK]
            outcomes = list(pool.map(lambda item: _copy_one(product, version, item, source, raw_zone), chunk))
            failpoint("capture.after_object_copy")
            _record_outcomes(engine, product, version, raw_zone, chunk, outcomes, actor)
            copied += sum(1 for outcome in outcomes if isinstance(outcome, CopyResult))
    return _settle(engine, product, version, copied, actor)


def _pending_files(engine: Engine, product: str, version: int) -> list[_Pending]:
    with transaction(engine) as session:
        row = get_product(session, product)
        get_version(session, row, version)
        query = select(RawFile.id, RawFile.key, RawFile.etag).where(
            RawFile.product_id == row.id,
            RawFile.version == version,
            RawFile.status.in_([FileStatus.DISCOVERED, FileStatus.CAPTURING]),
        )
        return [_Pending(*item) for item in session.execute(query.order_by(RawFile.key))]


def _copy_one(
    product: str, version: int, item: _Pending, source: ObjectStore, raw_zone: ObjectStore
) -> CopyResult | tuple[str, str]:
    try:
        validate_key(item.key)
        return copy_object(source, item.key, raw_zone, raw_key(product, version, item.key), expected_etag=item.etag)
    except UnsafeKey as error:
        return ("unsafe_key", str(error))
    except ObjectVanished as error:
        return (
            "vanished",
            f"{error}; the file was listed for version {version} but is gone or changed at the source: the next sync "
            "picks up its current state",
        )


def _record_outcomes(
    engine: Engine,
    product: str,
    version: int,
    raw_zone: ObjectStore,
    chunk: list[_Pending],
    outcomes: list[CopyResult | tuple[str, str]],
    actor: str,
) -> None:
    now = utc_now()
    ingested, failed, events = [], [], []
    for item, outcome in zip(chunk, outcomes):
        entity = audit.file_entity_id(product, version, item.key)
        if isinstance(outcome, CopyResult):
            ingested.append(
                {
                    "b_id": item.id,
                    "b_location": raw_zone.uri(outcome.key),
                    "b_size": outcome.size,
                    "b_sha": outcome.sha256,
                    "b_empty": outcome.size == 0,
                    "b_now": now,
                }
            )
            events.append(
                {
                    "entity_type": "raw_file",
                    "entity_id": entity,
                    "action": "captured",
                    "change": {"sha256": outcome.sha256, "size": outcome.size},
                }
            )
        else:
            error_type, message = outcome
            failed.append({"b_id": item.id, "b_type": error_type, "b_message": message, "b_now": now})
            events.append(
                {
                    "entity_type": "raw_file",
                    "entity_id": entity,
                    "action": "failed",
                    "change": {"error_type": error_type, "message": message},
                }
            )
    table = RawFile.__table__
    with transaction(engine) as session:
        connection = session.connection()
        if ingested:
            connection.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    status=FileStatus.CAPTURED,
                    raw_location=bindparam("b_location"),
                    size=bindparam("b_size"),
                    sha256=bindparam("b_sha"),
                    is_empty=bindparam("b_empty"),
                    ingested_at=bindparam("b_now"),
                    updated_at=bindparam("b_now"),
                ),
                ingested,
            )
        if failed:
            connection.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    status=FileStatus.FAILED,
                    error_type=bindparam("b_type"),
                    error_message=bindparam("b_message"),
                    updated_at=bindparam("b_now"),
                ),
                failed,
            )
        audit.record_many(session, events, actor)


def _settle(engine: Engine, product: str, version: int, copied: int, actor: str) -> CaptureResult:
    with transaction(engine) as session:
        row = get_product(session, product)
        record = get_version(session, row, version)
        counts = file_status_counts(session, row.id, version)
        files = session.execute(
            select(RawFile.key, RawFile.size, RawFile.status, RawFile.error_message, RawFile.is_empty).where(
                RawFile.product_id == row.id, RawFile.version == version
            )
        ).all()
        failed = {key: message or "" for key, _, status, message, _ in files if status == FileStatus.FAILED}
        waiting = counts.get(FileStatus.DISCOVERED, 0) + counts.get(FileStatus.CAPTURING, 0)
        if record.status in (VersionStatus.DISCOVERED, VersionStatus.CAPTURE_FAILED) and not waiting:
            target = VersionStatus.CAPTURE_FAILED if failed else VersionStatus.CAPTURED
            set_version_status(session, row, record, target, actor, failed_files=len(failed))
        return CaptureResult(
            product=product,
            version=version,
            status=record.status,
            files=len(files),
            bytes=sum(size for _, size, _, _, _ in files),
            copied_now=copied,
            already_captured=len(files) - copied - len(failed),
            empty_files=sorted(key for key, _, _, _, empty in files if empty),
            failed=failed,
        )
