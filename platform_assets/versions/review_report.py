"""What a reviewer reads: the versions awaiting review with their changes, and the review metrics.

Contract:
- :func:`review_queue`: each version AWAITING_REVIEW, oldest first: its schema
  change first (columns added or widened against the published version,
  columns missing from its files: :mod:`.schema_review`), file and row
  counts, the changes against the published version (files added, changed,
  removed by content hash; rows), the files a reviewer rejected, how long it waits, and
  the version diff (``versions/diff.py``: rows by key, schema) against the published
  version, or the previous processed one when none is published.
- :func:`review_metrics`: versions created, approved, rejected and superseded,
  time to approve (median, p90, max, in hours: from AWAITING_REVIEW to the
  approval) and how many wait now (and the longest wait; ``late_versions``:
  those waiting longer than ``review.sla_hours``). Figures come from the
  catalog's version rows; the audit trail holds the same facts event by event.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from platform_assets.catalog.states import Decision, VersionStatus
from platform_assets.config import ProductConfig
from platform_assets.versions.diff import DiffRefused, VersionDiff, diff_against_baseline
from platform_assets.versions.schema_review import schema_review

if TYPE_CHECKING:
    from platform_assets.services import Services


@dataclass(frozen=True)
class AwaitingVersion:
    """One version awaiting review, as ``platform-assets review`` shows it (its schema change first)."""

    version: int
    schema_change: list[str]
    parent: int | None
    files: int
    rows: int
    waiting_hours: float
    published_version: int | None
    files_added: list[str]
    files_changed: list[str]
    files_removed: list[str]
    rows_change: int
    rejected_files: dict[str, str]
    diff: VersionDiff | None = None  # against the published version, else the previous processed one
    diff_error: str | None = None  # why there is no diff (the versions cannot be compared)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ReviewMetrics:
    """Review figures of one product (hours as floats; None where there is nothing to measure)."""

    product: str
    created: int
    approved: int
    rejected: int
    superseded: int
    published_version: int | None
    approve_hours_median: float | None
    approve_hours_p90: float | None
    approve_hours_max: float | None
    waiting_now: int
    waiting_longest_hours: float | None
    waiting_versions: list[int] = field(default_factory=list)
    late_versions: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _hours(start: datetime, end: datetime) -> float:
    return round((end - start).total_seconds() / 3600, 4)


def review_queue(services: Services, product: ProductConfig, now: datetime | None = None) -> list[AwaitingVersion]:
    """The versions awaiting review, oldest first (see the module contract)."""
    catalog = services.catalog
    now = now or datetime.now(UTC)
    published = catalog.published_version(product.name)
    base = {file.key: file for file in catalog.review_files(product.name, published)} if published else {}
    base_rows = sum(file.rows_written for file in base.values())
    queue = []
    for record in catalog.versions(product.name):
        if record.status is not VersionStatus.AWAITING_REVIEW:
            continue
        files = catalog.review_files(product.name, record.number)
        diff, diff_error = _diff(services, product, record.number)
        keys = {file.key: file for file in files}
        rows = sum(file.rows_written for file in files)
        queue.append(
            AwaitingVersion(
                version=record.number,
                schema_change=schema_review(services, product, record.number, published),
                parent=record.parent,
                files=len(files),
                rows=rows,
                waiting_hours=_hours(record.awaiting_since or record.created_at, now),
                published_version=published,
                files_added=sorted(set(keys) - set(base)),
                files_changed=sorted(key for key in keys if key in base and base[key].sha256 != keys[key].sha256),
                files_removed=sorted(set(base) - set(keys)),
                rows_change=rows - base_rows,
                rejected_files={file.key: file.rejected_reason for file in files if file.rejected_reason is not None},
                diff=diff,
                diff_error=diff_error,
            )
        )
    return queue


def _diff(services: Services, product: ProductConfig, version: int) -> tuple[VersionDiff | None, str | None]:
    try:
        return diff_against_baseline(services, product, version), None
    except DiffRefused as refused:
        return None, str(refused)


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def review_metrics(services: Services, product: ProductConfig, now: datetime | None = None) -> ReviewMetrics:
    """The product's review figures (see the module contract)."""
    now = now or datetime.now(UTC)
    records = services.catalog.versions(product.name)
    durations = [
        _hours(record.awaiting_since, record.decided_at)
        for record in records
        if record.decision is Decision.APPROVED and record.awaiting_since and record.decided_at
    ]
    waiting = [record for record in records if record.status is VersionStatus.AWAITING_REVIEW]
    waits = [_hours(record.awaiting_since or record.created_at, now) for record in waiting]
    sla = product.review.sla_hours
    late = [record.number for record, hours in zip(waiting, waits, strict=True) if sla is not None and hours > sla]
    median = None
    if durations:
        ordered = sorted(durations)
        middle = len(ordered) // 2
        median = ordered[middle] if len(ordered) % 2 else round((ordered[middle - 1] + ordered[middle]) / 2, 4)
    return ReviewMetrics(
        product=product.name,
        created=len(records),
        approved=sum(1 for record in records if record.decision is Decision.APPROVED and record.awaiting_since),
        rejected=sum(1 for record in records if record.decision is Decision.REJECTED),
        superseded=sum(1 for record in records if record.status is VersionStatus.SUPERSEDED),
        published_version=services.catalog.published_version(product.name),
        approve_hours_median=median,
        approve_hours_p90=percentile(durations, 0.9),
        approve_hours_max=max(durations) if durations else None,
        waiting_now=len(waiting),
        waiting_longest_hours=max(waits) if waits else None,
        waiting_versions=[record.number for record in waiting],
        late_versions=late,
    )
