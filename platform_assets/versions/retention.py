"""Retention's rules as a pure plan: which versions a purge takes, by which rule, and why each other one stays.

Contract (:func:`plan_retention`, no I/O; ``now`` is a parameter so tests travel in time):
- Never touched: the newest ``keep_last`` versions (by number, whatever their status); a PUBLISHED one and
  the one the Iceberg tag ``published`` names; a version a step is writing or that may still be published
  (DISCOVERED, CAPTURED, PROCESSING, PROCESSED, AWAITING_REVIEW, APPROVED, not excluded).
- ``unpublished_days``: a version never published (``published_at`` unset) that will never be:
  REJECTED, SUPERSEDED, FAILED, CAPTURE_FAILED, or excluded; purged once it was created more than
  ``unpublished_days`` days before ``now``. A SUPERSEDED version that was once PUBLISHED was published: it
  keeps its data (an earlier publication users may have read, and ``publish --version`` can bring back)
  until someone deletes it.
- ``deleted_days``: a soft-deleted version, once it was deleted more than ``deleted_days`` days before
  ``now``.
- ``unfinished_purge``: a version whose purge began (a crash, a failed store) is always finished, whatever
  the rules say now: some of its data may be gone already.
- A PURGED version is counted, not listed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from platform_assets.catalog.records import VersionRecord
from platform_assets.catalog.states import VersionStatus
from platform_assets.config import RetentionSettings

UNFINISHED = "unfinished_purge"
UNPUBLISHED = "unpublished_days"
DELETED = "deleted_days"
NEVER_PUBLISHED_FINAL = frozenset(
    {VersionStatus.REJECTED, VersionStatus.SUPERSEDED, VersionStatus.FAILED, VersionStatus.CAPTURE_FAILED}
)
"""Statuses of a version that will never be published (unless it is published already: see the contract)."""


@dataclass(frozen=True)
class Candidate:
    """A version the purge takes: its status, the rule that selects it and the facts behind it."""

    version: int
    status: VersionStatus
    rule: str
    reason: str


@dataclass(frozen=True)
class Kept:
    """A version retention leaves alone, and why (``purge_after``: when a rule will take it, where one will)."""

    version: int
    status: VersionStatus
    reason: str
    purge_after: datetime | None = None


@dataclass(frozen=True)
class RetentionPlan:
    """What retention would purge now (``candidates``, ascending) and why the others stay."""

    product: str
    now: datetime
    settings: RetentionSettings
    candidates: list[Candidate] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)
    purged_before: list[int] = field(default_factory=list)

    @property
    def rules(self) -> dict[int, str]:
        """Each candidate's number -> its rule (what the catalog records with the purge's intent)."""
        return {candidate.version: candidate.rule for candidate in self.candidates}

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["settings"] = self.settings.model_dump()
        return data


def plan_retention(
    product: str,
    records: Sequence[VersionRecord],
    settings: RetentionSettings,
    now: datetime,
    published_in_iceberg: int | None = None,
) -> RetentionPlan:
    """The plan of the module contract for the versions ``records`` of ``product`` at ``now``."""
    plan = RetentionPlan(product, now, settings)
    newest = set(sorted(record.number for record in records)[-settings.keep_last :])
    for record in sorted(records, key=lambda record: record.number):
        if record.status is VersionStatus.PURGED:
            plan.purged_before.append(record.number)
            continue
        decided = _decide(record, settings, now, newest, published_in_iceberg)
        if isinstance(decided, Candidate):
            plan.candidates.append(decided)
        else:
            plan.kept.append(decided)
    return plan


def _decide(
    record: VersionRecord,
    settings: RetentionSettings,
    now: datetime,
    newest: set[int],
    published_in_iceberg: int | None,
) -> Candidate | Kept:
    number, status = record.number, record.status
    if record.purge_started_at is not None:
        started = f"its purge began at {record.purge_started_at:%Y-%m-%d %H:%M} UTC and did not finish"
        return Candidate(number, status, UNFINISHED, f"{started} (rule {record.purge_rule})")
    if status is VersionStatus.PUBLISHED or number == published_in_iceberg:
        return Kept(number, status, "published: never purged")
    if number in newest:
        return Kept(number, status, f"one of the newest {settings.keep_last} versions (keep_last)")
    if status is VersionStatus.DELETED:
        return _by_age(record, record.deleted_at, settings.deleted_days, now, DELETED, "deleted")
    if record.published_at is not None:
        return Kept(number, status, "was published before: kept until someone deletes it")
    if status in NEVER_PUBLISHED_FINAL or record.excluded:
        days = settings.unpublished_days
        return _by_age(record, record.created_at, days, now, UNPUBLISHED, "never published, created")
    return Kept(number, status, f"{status}: it may still be published")


def _by_age(
    record: VersionRecord, since: datetime | None, days: int, now: datetime, rule: str, what: str
) -> Candidate | Kept:
    """A candidate once ``since`` is more than ``days`` days before ``now``, else kept until then."""
    shown = f"{record.status}{' (excluded)' if record.excluded and record.status is not VersionStatus.DELETED else ''}"
    if since is None:  # a row written before its column existed: its age is unknown
        return Kept(record.number, record.status, f"{shown}, {what} at an unknown time: kept")
    after = since + timedelta(days=days)
    age = f"{what} {since:%Y-%m-%d %H:%M} UTC"
    if now > after:
        return Candidate(record.number, record.status, rule, f"{shown}, {age}, more than {days} days ago ({rule})")
    return Kept(record.number, record.status, f"{shown}, {age}: purged after {days} days ({rule})", after)
