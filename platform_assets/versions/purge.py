"""Retention applied: the plan (``versions/retention.py``) carried out, crash-safe and idempotent.

Contract (:func:`run_retention`): without ``apply`` it only plans (a dry run changes nothing). With it,
for the plan's candidates, in this order:

1. intent: each version's row records ``purge_started_at`` and the rule, and its files turn DELETED (so
   reconciliation expects no copy), audited, before anything is removed (checked again in that
   transaction: a version published meanwhile is left alone);
2. raw copies: each file's copy in the raw zone is deleted, unless a version that is not being purged
   still references it (a child version carries its parent's copies); deleting a missing copy is no error;
3. Iceberg: one delete commit per table (``<product>``, ``<product>_rejects``) drops the version's
   partition (``_version = v``), marked ``platform.kind = purge``; nothing is committed when it holds no
   rows any more;
4. the row turns PURGED (who, when, figures), audited.

Then, whenever a PURGED version exists: the usual snapshot expiry (past ``snapshot_retention_seconds``;
tagged snapshots and those naming unsettled files stay), and the Parquet files under the partitions of the
PURGED versions that no retained snapshot references are deleted (pyiceberg's expiry deletes no file).

A crash anywhere (failpoints ``retention.after_raw_delete``, ``retention.after_iceberg_delete``) leaves the
intent; the next run's plan lists the version as ``unfinished_purge`` and redoes the steps, each of which
is a no-op where it was done. The merge table is never touched: its history stays.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from pyarrow.fs import FileSelector, FileType
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import EqualTo
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table
from pyiceberg.table.update.snapshot import ExpireSnapshots

from platform_assets.catalog.errors import UnknownProduct
from platform_assets.config import ProductConfig
from platform_assets.failpoints import failpoint
from platform_assets.storage import iceberg
from platform_assets.storage.iceberg_tags import published_state
from platform_assets.versions.retention import RetentionPlan, plan_retention

if TYPE_CHECKING:
    from platform_assets.services import Services

DELETE_THREADS = 8  # raw copies deleted at once
PURGE_KIND = "purge"  # platform.kind of a purge's delete commit


@dataclass(frozen=True)
class PurgedVersion:
    """What the purge of one version removed."""

    version: int
    rule: str
    raw_copies_deleted: int  # gone from the raw zone (by this run, or by an interrupted one before it)
    raw_copies_shared: int  # kept: a surviving version references them
    rows_deleted: int
    rejected_rows_deleted: int


@dataclass(frozen=True)
class RetentionReport:
    """The plan, and with ``applied`` what the purge did."""

    plan: RetentionPlan
    applied: bool
    purged: list[PurgedVersion] = field(default_factory=list)
    snapshots_expired: int = 0
    data_files_deleted: int = 0  # Parquet files of purged versions no retained snapshot referenced any more

    def as_json(self) -> dict[str, Any]:
        return {
            **self.plan.as_json(),
            "applied": self.applied,
            "purged": [asdict(item) for item in self.purged],
            "snapshots_expired": self.snapshots_expired,
            "data_files_deleted": self.data_files_deleted,
        }


def run_retention(
    services: Services, product: ProductConfig, apply: bool, now: datetime | None = None
) -> RetentionReport:
    """Plan retention at ``now`` (default: now) and, with ``apply``, purge the plan's candidates, expire snapshots
    and remove the Parquet files of purged versions no retained snapshot references any more."""
    at = now or datetime.now(UTC)
    plan = plan_of(services, product, at)
    if not apply:
        return RetentionReport(plan, apply)
    catalog, name = services.catalog, product.name
    numbers = catalog.start_purge(name, plan.rules, services.actor) if plan.candidates else []
    purged = []
    for number in numbers:
        copies = _delete_raw_copies(services, name, number)
        failpoint("retention.after_raw_delete")
        rows = _delete_rows(services, name, services.iceberg.data_table(name), number)
        rejected = _delete_rows(services, name, services.iceberg.rejects_table(name), number)
        failpoint("retention.after_iceberg_delete")
        rule = plan.rules.get(number) or catalog.version(name, number).purge_rule or ""
        item = PurgedVersion(number, rule, copies[0], copies[1], rows, rejected)
        figures = {key: value for key, value in asdict(item).items() if key not in ("version", "rule")}
        catalog.finish_purge(name, number, services.actor, figures)
        purged.append(item)
    gone = sorted(set(plan.purged_before) | {item.version for item in purged})
    if not gone:
        return RetentionReport(plan, apply, purged)
    expired = _expire_snapshots(services, name, at)
    files = sum(_delete_unreferenced_files(services, identifier, gone) for identifier in _tables(services, name))
    return RetentionReport(plan, apply, purged, expired, files)


def plan_of(services: Services, product: ProductConfig, now: datetime) -> RetentionPlan:
    """The retention plan of ``product`` at ``now``: the catalog's versions and the Iceberg tag ``published``."""
    try:
        records = services.catalog.versions(product.name)
    except UnknownProduct:  # no version yet: nothing to keep or purge
        records = []
    return plan_retention(product.name, records, product.retention, now, _published_in_iceberg(services, product))


def _published_in_iceberg(services: Services, product: ProductConfig) -> int | None:
    try:
        table = services.iceberg.load(services.iceberg.data_table(product.name))
    except NoSuchTableError:
        return None
    return published_state(table)[0]


def _stored_key(product: str, number: int, key: str, location: str) -> str:
    """The raw-zone key of a file's copy: under the version whose copy it is (a child's points at its parent's)."""
    found = re.search(rf"/{re.escape(product)}/v([0-9]+)/{re.escape(key)}$", unquote(location))
    return f"{product}/v{int(found.group(1)) if found else number}/{key}"


def _delete_raw_copies(services: Services, product: str, number: int) -> tuple[int, int]:
    """Delete the version's raw copies no surviving version references; (deleted, kept as shared)."""
    files = services.catalog.raw_locations(product, number)
    in_use = services.catalog.locations_in_use(product, (location for _, location in files))
    doomed = sorted({_stored_key(product, number, key, location) for key, location in files if location not in in_use})
    if doomed:
        with ThreadPoolExecutor(max_workers=min(DELETE_THREADS, len(doomed))) as pool:
            list(pool.map(services.raw_zone.delete, doomed))
    return len(doomed), len(files) - len(doomed)


def _delete_rows(services: Services, product: str, identifier: str, number: int) -> int:
    """Drop the version's partition from the table ``identifier`` in one delete commit; the rows it held."""
    row_filter = EqualTo(term="_version", value=number)
    held = [0]

    def attempt(table: Table) -> None:
        held[0] = sum(task.file.record_count for task in table.scan(row_filter=row_filter).plan_files())
        if not held[0]:
            return
        properties = iceberg.marker_properties(PURGE_KIND, number, 0, [])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table.delete(row_filter, snapshot_properties=properties)

    if not services.iceberg.iceberg_catalog.table_exists(identifier):
        return 0
    iceberg.with_commit_retries(services.iceberg.iceberg_catalog, identifier, attempt)
    return held[0]


def _tables(services: Services, product: str) -> list[str]:
    """The product's Iceberg tables that exist: its data table and its rejects table."""
    names = (services.iceberg.data_table(product), services.iceberg.rejects_table(product))
    return [name for name in names if services.iceberg.iceberg_catalog.table_exists(name)]


def _expire_snapshots(services: Services, product: str, now: datetime) -> int:
    """The usual expiry (at ``now``) on the product's table after the deletes: how many snapshots went."""
    identifier = services.iceberg.data_table(product)
    if not services.iceberg.iceberg_catalog.table_exists(identifier):
        return 0
    expirable = _expirable(services, product, now)
    gone = [0]

    def attempt(table: Table) -> None:
        ids = expirable(table)
        gone[0] = len(ids)
        if ids:
            with table.transaction() as transaction:
                ExpireSnapshots(transaction=transaction).by_ids(ids).commit()

    iceberg.with_commit_retries(services.iceberg.iceberg_catalog, identifier, attempt)
    return gone[0]


def _expirable(services: Services, product: str, now: datetime) -> Callable[[Table], list[int]]:
    """Processing's expiry rule: snapshots past retention, except those marking files the catalog has not settled."""
    retention = timedelta(seconds=services.processing.snapshot_retention_seconds)

    def expirable(table: Table) -> list[int]:
        old = iceberg.expirable_snapshots(table, retention, lambda marker: False, now)
        markers = [marker for marker in iceberg.commit_markers(table) if marker.snapshot_id in set(old)]
        unsettled = services.catalog.unsettled_files(product, {i for marker in markers for i in marker.file_ids})
        protected = {marker.snapshot_id for marker in markers if marker.file_ids & unsettled}
        return [snapshot_id for snapshot_id in old if snapshot_id not in protected]

    return expirable


def _delete_unreferenced_files(services: Services, identifier: str, versions: list[int]) -> int:
    """Delete the Parquet files under the partitions ``_version=v`` of ``versions`` that no retained snapshot of the
    table references (pyiceberg's expiry deletes none); how many went. Nothing on a FileIO other than pyarrow's."""
    table = services.iceberg.load(identifier)
    io = table.io
    if not isinstance(io, PyArrowFileIO):
        return 0

    def path_of(location: str) -> tuple[str, str, str]:
        return io.parse_location(location, io.properties)

    referenced = {
        path_of(entry.data_file.file_path)[2]
        for snapshot in table.metadata.snapshots
        for manifest in snapshot.manifests(io)
        for entry in manifest.fetch_manifest_entry(io, discard_deleted=True)
    }
    deleted = 0
    for number in versions:
        scheme, netloc, path = path_of(f"{table.location()}/data/_version={number}")
        filesystem = io.fs_by_scheme(scheme, netloc)
        found = filesystem.get_file_info(FileSelector(path, recursive=True, allow_not_found=True))
        doomed = [info.path for info in found if info.type == FileType.File and info.path not in referenced]
        for file_path in doomed:
            filesystem.delete_file(file_path)
        deleted += len(doomed)
    return deleted
