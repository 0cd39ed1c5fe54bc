"""Merging processed versions, in order, from the product's Iceberg table into the merge store.

Contract:
- :func:`merge_version` reads version v's rows from ``<platform>.<product>``
  (product columns only: those of the catalog's newest schema version up to v,
  :func:`merge_columns`, so columns a version's files added or widened reach
  the merge table, else the declared ones) and merges them as batch v; every lower version
  number must be committed or excluded in the batch log first (a SUPERSEDED
  version is out of the merge order: a newer version took its place). A version that
  is excluded, or not mergeable, is refused (OutOfOrderBatch naming it).
- :func:`pending_merges` lists the versions up to ``up_to`` that the batch log
  has neither committed nor excluded, ascending, and the committed ones not
  published yet (a crash between the merge and the publication).
- A product under review merges only APPROVED versions, others PROCESSED ones.
  :func:`next_merge` is the one rule of "which version may merge next" that
  automation asks (``defs/merge/sensors.py``): the oldest pending version, once
  it may merge (PROCESSED, or APPROVED under review); until then every later
  version waits, and the answer says why. :func:`may_merge` asks the same of
  one version and :func:`ready_merges` lists the versions it lets through (the
  command's ``approve``). :func:`merges_right_after_processing` says, before a
  version is processed, that nothing would keep it from merging right after
  (discovery then runs the whole path in one run).
- Merged, a version is published (:func:`publish_merged`): PUBLISHED in the
  catalog (the one published before it SUPERSEDED) and the Iceberg tag
  ``published`` with the table property ``platform.published_version``
  (``storage/iceberg_tags.py``).
- A version the catalog excluded (rejected, superseded) that the batch log does
  not know as excluded yet is excluded there first (the two stores are written
  one after the other; this heals a crash in between).
- A DELETED version (soft, restorable) and a PURGED one are out of the merge order like a superseded one
  (:func:`out_of_order`), but are not excluded in the batch log: a restored version merges again.
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
from platform_assets.catalog.states import REMOVED_STATES, VersionStatus
from platform_assets.column_types import ColumnType
from platform_assets.config import ProductConfig
from platform_assets.errors import NothingToDo
from platform_assets.failpoints import failpoint
from platform_assets.merge.batch_log import BatchLogEntry, batch_log, exclude_batch
from platform_assets.merge.errors import MergeError, OutOfOrderBatch
from platform_assets.merge.milestone import BatchResult, merge_batch
from platform_assets.merge.names import live_view, merge_table, quote_ident
from platform_assets.merge.states import DONE, BatchStatus
from platform_assets.merge.store import MergeStore
from platform_assets.storage.iceberg_tags import publish_snapshot

if TYPE_CHECKING:
    from platform_assets.services import Services


class AlreadyMerged(NothingToDo):
    """The asked-for version is merged already, and nothing before it waits."""


class NotInMergeOrder(MergeError):
    """The asked-for version is out of the merge order (excluded, or superseded): it never merges."""


@dataclass(frozen=True)
class MergeOptions:
    """How to merge a version (no choices yet: this is where they go)."""


def mergeable_status(product: ProductConfig) -> VersionStatus:
    """The status a version must have to merge: APPROVED under review, else PROCESSED."""
    return VersionStatus.APPROVED if product.under_review else VersionStatus.PROCESSED


OUT_OF_ORDER_STATES = REMOVED_STATES | {VersionStatus.SUPERSEDED}
"""Versions that never merge and that later versions do not wait for, though the batch log may not exclude them."""


def out_of_order(record: VersionRecord) -> bool:
    """The version is out of the merge order: excluded, superseded, deleted or purged."""
    return record.excluded or record.status in OUT_OF_ORDER_STATES


@dataclass(frozen=True)
class MergeReadiness:
    """Whether a version may merge now, and if not, why (the first version in its way, or itself)."""

    version: int
    ready: bool
    reason: str


def may_merge(services: Services, product: ProductConfig, version: int) -> MergeReadiness:
    """The version is mergeable (see :func:`mergeable_status`) and every lower one is merged or out of the order."""
    heal_exclusions(services, product)
    entries = {entry.batch: entry.status for entry in batch_log(services.merge_store, product.name)}
    records = {record.number: record for record in services.catalog.versions(product.name)}
    record = records.get(version)
    if record is None:
        return MergeReadiness(version, False, f"{product.name} has no version {version}")
    problem = _unmergeable(product, record) if entries.get(version) not in DONE else None
    if problem:
        return MergeReadiness(version, False, problem)
    for number in sorted(records):
        if number >= version:
            break
        other = records[number]
        if entries.get(number) not in DONE and not out_of_order(other):
            blocking = _unmergeable(product, other) or "it is not merged yet"
            return MergeReadiness(version, False, f"version {number} comes first: {blocking}")
    return MergeReadiness(version, True, "ready")


def _unmergeable(product: ProductConfig, record: VersionRecord) -> str | None:
    """Why this version cannot merge (None when it can), with what to do about it."""
    name, number = product.name, record.number
    if record.status in REMOVED_STATES:
        return f"{record.removal(name)}; it is not merged"
    if record.excluded:
        return f"version {number} of {name} is excluded ({record.status}); it is not merged"
    wanted = mergeable_status(product)
    if record.status is wanted or record.status is VersionStatus.PUBLISHED:
        return None
    if product.under_review and record.status is VersionStatus.AWAITING_REVIEW:
        return (
            f"version {number} of {name} awaits review: a holder of {product.review.approver_role} approves it "
            f"with `platform-assets approve {name} {number}` (or rejects it)"
        )
    if product.under_review and record.status is VersionStatus.PROCESSED:
        return (
            f"version {number} of {name} is PROCESSED but not in review: process it again "
            f"(`platform-assets process {name} --version {number}`) so that it awaits review"
        )
    done = "approved" if product.under_review else "processed"
    return f"version {number} of {name} is {record.status}, not {done}: " + _before_merging(name, number, record.status)


def ready_merges(services: Services, product: ProductConfig) -> list[int]:
    """The versions that may merge now, in order: pending ones up to the first that may not."""
    ready = []
    for number in pending_merges(services, product):
        if not may_merge(services, product, number).ready:
            break
        ready.append(number)
    return ready


def merge_version(
    services: Services, product: ProductConfig, version: int, options: MergeOptions | None = None
) -> BatchResult:
    """Merge one mergeable version as its batch, then publish it."""
    heal_exclusions(services, product)
    record = services.catalog.version(product.name, version)
    problem = _unmergeable(product, record)
    if problem:
        raise OutOfOrderBatch(problem, product=product.name, batch=version, blocking=version)
    earlier = [
        other.number
        for other in services.catalog.versions(product.name)
        if other.number < version and other.status not in OUT_OF_ORDER_STATES
    ]
    columns = merge_columns(services, product, version)
    rows = services.iceberg.version_rows(product.name, version, list(columns) if columns else None)
    result = merge_batch(services.merge_store, product, version, rows, earlier_batches=earlier, columns=columns)
    failpoint("merge.before_publish")
    publish_merged(services, product, version)
    return result


def merge_columns(services: Services, product: ProductConfig, version: int) -> dict[str, ColumnType] | None:
    """The columns merging ``version`` takes: the newest schema version a version up to it was processed under
    (columns the files added or widened included; schemas only grow), else the declared ones."""
    schema = services.catalog.schema_up_to(product.name, version)
    if schema is not None:
        return {name: ColumnType.parse(column_type) for name, column_type in schema.columns}
    return dict(product.table_schema.columns) if product.table_schema else None


def publish_merged(services: Services, product: ProductConfig, version: int) -> None:
    """The merged version is PUBLISHED (the one before it SUPERSEDED) and tagged in Iceberg; idempotent."""
    services.catalog.mark_published(product.name, version, services.actor)
    publish_snapshot(services.iceberg, product.name, version)


def heal_exclusions(services: Services, product: ProductConfig) -> None:
    """Exclude in the batch log the versions the catalog took out of the merge order (rejected, superseded)."""
    entries = {entry.batch: entry.status for entry in batch_log(services.merge_store, product.name)}
    for record in services.catalog.versions(product.name):
        if record.excluded and entries.get(record.number) not in DONE:
            exclude_batch(services.merge_store, product, record.number, f"{record.status}: out of the merge order")


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
    heal_exclusions(services, product)
    first = services.catalog.version(product.name, pending[0])
    problem = _unmergeable(product, first)
    if problem is None:
        return NextMerge(first.number, None, f"v{first.number} is {first.status} and next in order", first.processed_at)
    later = f"; v{pending[1]} and later wait for it" if len(pending) > 1 else ""
    if first.status is VersionStatus.AWAITING_REVIEW:
        return NextMerge(None, first.number, f"{problem}{later}")
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
    """Versions up to ``up_to``, not excluded nor superseded, not committed (or committed but not published yet),
    in order."""
    entries = {entry.batch: entry.status for entry in batch_log(services.merge_store, product.name)}
    unpublished = {mergeable_status(product), VersionStatus.PROCESSED}
    return [
        version.number
        for version in services.catalog.versions(product.name)
        if not out_of_order(version)
        and (up_to is None or version.number <= up_to)
        and (
            entries.get(version.number) not in DONE
            or (entries.get(version.number) == BatchStatus.COMMITTED and version.status in unpublished)
        )
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
    if record.status in REMOVED_STATES and not record.excluded:
        return NotInMergeOrder(
            f"version {version} of {product} is {record.status}: it is out of the merge order, and nothing before "
            "it waits"
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
