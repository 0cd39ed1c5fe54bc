"""Merging processed versions, in order, from the Iceberg table into the merge store.

Contract:
- :func:`merge_version` reads version v's rows from ``<platform>.<product>``
  (product columns only) and merges them as batch v; every lower version
  number must be committed or excluded in the batch log first.
- :func:`merge_pending` merges every processed, unmerged version up to
  ``up_to`` in ascending order and stops at the first version that is neither
  processed nor excluded, naming it.
- :func:`exclude_version` takes a version out of the merge order, in the
  catalog (audited) and in the merge store's batch log.
"""

from __future__ import annotations

import pyarrow as pa
from pyiceberg.expressions import EqualTo
from sqlalchemy import select

from platform_assets.catalog import audit
from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import Version, VersionStatus
from platform_assets.catalog.products import get_product
from platform_assets.catalog.versions import get_version
from platform_assets.merge import BatchResult, MergeStore, exclude_batch, merge_batch
from platform_assets.merge.batch_log import batch_log
from platform_assets.merge.errors import OutOfOrderBatch
from platform_assets.merge.states import DONE
from platform_assets.platform import Platform


def version_numbers(platform: Platform, product_name: str) -> list[tuple[int, str, bool]]:
    """(number, status, excluded) of every version, ascending."""
    with transaction(platform.state_engine) as session:
        product = get_product(session, product_name)
        rows = session.execute(
            select(Version.number, Version.status, Version.excluded)
            .where(Version.product_id == product.id)
            .order_by(Version.number)
        ).all()
    return [(number, status, excluded) for number, status, excluded in rows]


def read_version_rows(platform: Platform, product_name: str, version: int) -> pa.Table:
    """Version ``version``'s rows of the product's Iceberg table, product columns only."""
    product = platform.product(product_name)
    columns = list(product.table_schema.columns) if product.table_schema else None
    table = platform.iceberg_catalog.load_table(platform.process_target(product_name).table)
    scan = table.scan(row_filter=EqualTo("_version", version), selected_fields=tuple(columns) if columns else ("*",))
    rows = scan.to_arrow()
    return (
        rows.select(columns)
        if columns
        else rows.drop_columns([name for name in rows.column_names if name.startswith("_")])
    )


def merge_version(platform: Platform, store: MergeStore, product_name: str, version: int) -> BatchResult:
    """Merge one processed version as its batch."""
    with transaction(platform.state_engine) as session:
        record = get_version(session, get_product(session, product_name), version)
        status, excluded = record.status, record.excluded
    if excluded:
        raise OutOfOrderBatch(
            f"version {version} of {product_name} is excluded; it is not merged",
            product=product_name,
            batch=version,
            blocking=version,
        )
    if status != VersionStatus.PROCESSED:
        raise OutOfOrderBatch(
            f"version {version} of {product_name} is {status}, not processed: process it first, or exclude it",
            product=product_name,
            batch=version,
            blocking=version,
        )
    earlier = [number for number, _, _ in version_numbers(platform, product_name) if number < version]
    rows = read_version_rows(platform, product_name, version)
    return merge_batch(store, platform.product(product_name), version, rows, earlier_batches=earlier)


def pending_merges(platform: Platform, store: MergeStore, product_name: str, up_to: int | None = None) -> list[int]:
    """Versions up to ``up_to`` not yet committed or excluded in the batch log, ascending."""
    done = {entry.batch for entry in batch_log(store, product_name) if entry.status in DONE}
    return [
        number
        for number, _, excluded in version_numbers(platform, product_name)
        if number not in done and not excluded and (up_to is None or number <= up_to)
    ]


def merge_pending(
    platform: Platform, store: MergeStore, product_name: str, up_to: int | None = None
) -> list[BatchResult]:
    """Merge every pending version up to ``up_to`` in ascending order."""
    return [
        merge_version(platform, store, product_name, number)
        for number in pending_merges(platform, store, product_name, up_to)
    ]


def exclude_version(platform: Platform, store: MergeStore, product_name: str, version: int, reason: str) -> None:
    """Take ``version`` out of the merge order (catalog and batch log), audited."""
    if not reason.strip():
        raise ValueError("a reason is required: --reason TEXT says why the version is excluded")
    exclude_batch(store, platform.product(product_name), version, reason)
    with transaction(platform.state_engine) as session:
        product = get_product(session, product_name)
        record = get_version(session, product, version)
        if not record.excluded:
            record.excluded = True
            record.exclude_reason = reason
            audit.record(
                session,
                "version",
                audit.version_entity_id(product_name, version),
                "excluded",
                platform.actor,
                {"reason": reason},
            )
