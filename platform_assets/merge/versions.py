"""Merging processed versions, in order, from the product's Iceberg table into the merge store.

Contract:
- :func:`merge_version` reads version v's rows from ``<platform>.<product>``
  (product columns only) and merges them as batch v; every lower version
  number must be committed or excluded in the batch log first (a SUPERSEDED
  version is out of the merge order: a newer version took its place). A version that
  is excluded, or not PROCESSED, is refused (OutOfOrderBatch naming it).
- :func:`pending_merges` lists the versions up to ``up_to`` that the batch log
  has neither committed nor excluded, ascending.
- :func:`next_merge` is the one rule of "which version may merge next" that
  automation asks (``defs/merge/sensors.py``): the oldest pending version, once
  it is PROCESSED; until then every later version waits, and the answer says why.
  :func:`merges_right_after_processing` says, before a version is processed,
  that nothing would keep it from merging right after (discovery then runs the
  whole path in one run).
- :func:`merge_plan` is what ``platform-assets merge [--version N]`` runs:
  :func:`pending_merges`, and with N, a refusal that says why when nothing up
  to N is pending: N does not exist (VersionNotFound), is merged already
  (:class:`AlreadyMerged`, nothing to do) or is out of the merge order,
  excluded or superseded (:class:`NotInMergeOrder`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import text

from platform_assets.actions import exclude_action, retry_action
from platform_assets.catalog.errors import UnknownProduct
from platform_assets.catalog.records import VersionRecord
from platform_assets.catalog.states import VersionStatus
from platform_assets.config import ProductConfig
from platform_assets.errors import NothingToDo
from platform_assets.merge.batch_log import BatchLogEntry, batch_log
from platform_assets.merge.errors import MergeError, OutOfOrderBatch
from platform_assets.merge.milestone import BatchResult, merge_batch
from platform_assets.merge.names import live_view, merge_table, quote_ident
from platform_assets.merge.states import DONE, BatchStatus
from platform_assets.merge.store import MergeStore

if TYPE_CHECKING:
    from platform_assets.services import Services


class AlreadyMerged(NothingToDo):
    """The asked-for version is merged already, and nothing before it waits."""


class NotInMergeOrder(MergeError):
    """The asked-for version is out of the merge order (excluded, or superseded): it never merges."""


@dataclass(frozen=True)
class MergeOptions:
    """How to merge a version (no choices yet: this is where they go)."""


def merge_version(
    services: Services, product: ProductConfig, version: int, options: MergeOptions | None = None
) -> BatchResult:
    """Merge one processed version as its batch."""
    record = services.catalog.version(product.name, version)
    if record.excluded:
        raise OutOfOrderBatch(
            f"version {version} of {product.name} is excluded; it is not merged",
            product=product.name,
            batch=version,
            blocking=version,
        )
    if record.status is not VersionStatus.PROCESSED:
        raise OutOfOrderBatch(
            f"version {version} of {product.name} is {record.status}, not processed: "
            + _before_merging(product.name, version, record.status),
            product=product.name,
            batch=version,
            blocking=version,
        )
    earlier = [
        other.number
        for other in services.catalog.versions(product.name)
        if other.number < version and other.status is not VersionStatus.SUPERSEDED
    ]
    columns = list(product.table_schema.columns) if product.table_schema else None
    rows = services.iceberg.version_rows(product.name, version, columns)
    return merge_batch(services.merge_store, product, version, rows, earlier_batches=earlier)


@dataclass(frozen=True)
class NextMerge:
    """The version that may merge now (``version``), or the one the merge order waits on (``waiting_on``).

    ``processed_at`` identifies the processing a merge of ``version`` would take:
    processing it again allows a new attempt after a failed merge.
    """

    version: int | None
    waiting_on: int | None
    reason: str
    processed_at: datetime | None = None


def next_merge(services: Services, product: ProductConfig) -> NextMerge:
    """The oldest version not merged nor excluded may merge once it is PROCESSED; later ones wait for it."""
    try:
        pending = pending_merges(services, product)
    except UnknownProduct:
        return NextMerge(None, None, f"{product.name} has no version yet")
    if not pending:
        return NextMerge(None, None, f"every version of {product.name} is merged or excluded")
    first = services.catalog.version(product.name, pending[0])
    if first.status is VersionStatus.PROCESSED:
        return NextMerge(first.number, None, f"v{first.number} is processed and next in order", first.processed_at)
    later = f"; v{pending[1]} and later wait for it" if len(pending) > 1 else ""
    if first.status in (VersionStatus.FAILED, VersionStatus.CAPTURE_FAILED):
        hint = f": {retry_action(product.name, first.number)}, or {exclude_action(product.name, first.number)}"
    else:
        hint = " (not processed yet)"
    return NextMerge(None, first.number, f"v{first.number} is {first.status}{hint}{later}")


def merges_right_after_processing(services: Services, product: ProductConfig, version: int) -> bool:
    """True when no earlier version waits to merge and no review stands between: once ``version`` is processed,
    it is next in order (:func:`next_merge`), so one run may capture, process and merge it."""
    if product.under_review:
        return False
    return all(number >= version for number in pending_merges(services, product))


def pending_merges(services: Services, product: ProductConfig, up_to: int | None = None) -> list[int]:
    """Versions up to ``up_to``, not excluded nor superseded, that the batch log has not committed or excluded."""
    done = {entry.batch for entry in batch_log(services.merge_store, product.name) if entry.status in DONE}
    return [
        version.number
        for version in services.catalog.versions(product.name)
        if version.number not in done
        and not version.excluded
        and version.status is not VersionStatus.SUPERSEDED
        and (up_to is None or version.number <= up_to)
    ]


def merge_plan(services: Services, product: ProductConfig, up_to: int | None = None) -> list[int]:
    """The versions to merge up to ``up_to``, ascending; with ``up_to``, why not when there are none."""
    record = None if up_to is None else services.catalog.version(product.name, up_to)  # VersionNotFound: no N
    pending = pending_merges(services, product, up_to)
    if record is None or pending:
        return pending
    entry = next((entry for entry in batch_log(services.merge_store, product.name) if entry.batch == up_to), None)
    raise _nothing_up_to(product.name, record, entry)


def _nothing_up_to(product: str, record: VersionRecord, entry: BatchLogEntry | None) -> MergeError | NothingToDo:
    version = record.number
    if entry is not None and entry.status is BatchStatus.COMMITTED:
        when = f" at {entry.committed_at:%Y-%m-%d %H:%M:%S} UTC" if entry.committed_at else ""
        return AlreadyMerged(
            f"version {version} of {product} is merged already (batch {version} committed{when}); nothing to merge "
            "up to it"
        )
    if record.status is VersionStatus.SUPERSEDED and not record.excluded:
        return NotInMergeOrder(
            f"version {version} of {product} is SUPERSEDED: a newer version took its place, so it is not merged, "
            "and nothing before it waits"
        )
    reason = f" ({entry.reason})" if entry is not None and entry.reason else ""
    return NotInMergeOrder(
        f"version {version} of {product} is excluded{reason}; it is not merged, and nothing before it waits"
    )


def _before_merging(product: str, version: int, status: VersionStatus) -> str:
    """What to do with a version that is not processed, so that the merge can go on."""
    exclude = f"`platform-assets exclude {product} {version} --reason TEXT`"
    if status is VersionStatus.FAILED:
        return (
            f"fix or skip its failed files and run `platform-assets process {product} --version {version} "
            f"--retry-failed`, or take it out of the merge order with {exclude}"
        )
    if status is VersionStatus.CAPTURED:
        return (
            f"process it first (`platform-assets process {product} --version {version}`), or exclude it with {exclude}"
        )
    return f"it must be processed before it merges; or exclude it with {exclude}"


def table_row_counts(store: MergeStore, product: ProductConfig) -> tuple[int, int]:
    """(live rows, all rows) of the product's merge table; (0, 0) before its first merge."""
    store.ensure_tables(product)
    with store.engine.connect() as connection:
        live = connection.execute(text(f"SELECT COUNT(*) FROM {quote_ident(live_view(product.name))}")).scalar_one()
        total = connection.execute(text(f"SELECT COUNT(*) FROM {quote_ident(merge_table(product.name))}")).scalar_one()
    return int(live), int(total)
