"""Retention applied: the plan (``versions/retention.py``) carried out, crash-safe and idempotent.

Contract (:func:`run_retention`): without ``apply`` it only plans (a dry run changes nothing). With it,
for the plan's candidates, in this order:

1. intent: each version's row records ``purge_started_at`` and the rule, audited, before anything is
   removed (checked again in that transaction: a version published meanwhile is left alone);
2. raw copies: each file's copy in the raw zone is deleted, unless a version that is not being purged
   still references it (a child version carries its parent's copies); deleting a missing copy is no error;
3. Iceberg: one delete commit per table (``<product>``, ``<product>_rejects``) drops the version's
   partition (``_version = v``), marked ``platform.kind = purge``; nothing is committed when it holds no
   rows any more; then the usual snapshot expiry (past ``snapshot_retention_seconds``; tagged snapshots and
   those naming unsettled files stay);
4. the row turns PURGED (who, when, figures) and its files DELETED, audited.

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

from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.expressions import EqualTo
from pyiceberg.table import Table
from pyiceberg.table.update.snapshot import ExpireSnapshots

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

    def as_json(self) -> dict[str, Any]:
        return {
            **self.plan.as_json(),
            "applied": self.applied,
            "purged": [asdict(item) for item in self.purged],
            "snapshots_expired": self.snapshots_expired,
        }


def run_retention(
    services: Services, product: ProductConfig, apply: bool, now: datetime | None = None
) -> RetentionReport:
    """Plan retention at ``now`` (default: now) and, with ``apply``, purge the plan's candidates."""
    plan = plan_of(services, product, now or datetime.now(UTC))
    if not apply or not plan.candidates:
        return RetentionReport(plan, apply)
    catalog, name = services.catalog, product.name
    numbers = catalog.start_purge(name, plan.rules, services.actor)
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
    return RetentionReport(plan, apply, purged, _expire_snapshots(services, name))


def plan_of(services: Services, product: ProductConfig, now: datetime) -> RetentionPlan:
    """The retention plan of ``product`` at ``now``: the catalog's versions and the Iceberg tag ``published``."""
    records = services.catalog.versions(product.name)
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


def _expire_snapshots(services: Services, product: str) -> int:
    """The usual expiry on the product's table after the deletes: how many snapshots went."""
    identifier = services.iceberg.data_table(product)
    if not services.iceberg.iceberg_catalog.table_exists(identifier):
        return 0
    expirable = _expirable(services, product)
    gone = [0]

    def attempt(table: Table) -> None:
        ids = expirable(table)
        gone[0] = len(ids)
        if ids:
            with table.transaction() as transaction:
                ExpireSnapshots(transaction=transaction).by_ids(ids).commit()

    iceberg.with_commit_retries(services.iceberg.iceberg_catalog, identifier, attempt)
    return gone[0]


def _expirable(services: Services, product: str) -> Callable[[Table], list[int]]:
    """Processing's expiry rule: snapshots past retention, except those marking files the catalog has not settled."""
    retention = timedelta(seconds=services.processing.snapshot_retention_seconds)

    def expirable(table: Table) -> list[int]:
        old = iceberg.expirable_snapshots(table, retention, lambda marker: False)
        markers = [marker for marker in iceberg.commit_markers(table) if marker.snapshot_id in set(old)]
        unsettled = services.catalog.unsettled_files(product, {i for marker in markers for i in marker.file_ids})
        protected = {marker.snapshot_id for marker in markers if marker.file_ids & unsettled}
        return [snapshot_id for snapshot_id in old if snapshot_id not in protected]

    return expirable
