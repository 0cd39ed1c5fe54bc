"""What the catalog service takes and gives: frozen, typed records (no ORM object leaves ``catalog/``).

Contract: every record here is plain data. Statuses are the enums of
:mod:`platform_assets.catalog.states`; timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from platform_assets.catalog.states import (
    CAPTURED_STATES,
    CaptureMode,
    Decision,
    FileChange,
    FileStatus,
    RunKind,
    RunStatus,
    VersionOrigin,
    VersionStatus,
)


@dataclass(frozen=True)
class ProductRef:
    """A product's catalog row, resolved once: its id and name."""

    id: int
    name: str


@dataclass(frozen=True)
class SchemaVersionRecord:
    """One schema version of a product: number (1..), columns (name, type text) in order, key, and its origin.

    ``introduced_by``: the version whose processing committed this schema first;
    ``change``: what changed from the schema version before it, in words.
    """

    product: str
    number: int
    columns: tuple[tuple[str, str], ...]
    primary_key: tuple[str, ...]
    introduced_by: int
    change: str
    actor: str
    at: datetime

    @property
    def column_types(self) -> dict[str, str]:
        """Column name -> type text, in order."""
        return dict(self.columns)

    def as_json(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "number": self.number,
            "columns": [{"name": name, "type": column_type} for name, column_type in self.columns],
            "primary_key": list(self.primary_key),
            "introduced_by": self.introduced_by,
            "change": self.change,
            "actor": self.actor,
            "at": self.at.isoformat(),
        }


@dataclass(frozen=True)
class RegisteredVersion:
    """A version discovery just registered: its number and how it compares with the previous one."""

    product: str
    number: int
    mode: CaptureMode
    files: int
    bytes: int
    new: int
    changed: int
    removed: int
    superseded: tuple[int, ...] = ()  # stale versions it takes the place of (their capture failed)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "superseded": list(self.superseded)}


@dataclass(frozen=True)
class VersionRecord:
    """One version as the catalog holds it (``platform-assets versions`` shows these fields)."""

    number: int
    mode: CaptureMode
    status: VersionStatus
    parent: int | None
    files: int
    bytes: int
    new: int
    changed: int
    removed: int
    excluded: bool
    created_at: datetime
    captured_at: datetime | None
    processed_at: datetime | None
    status_reason: str | None
    origin: VersionOrigin
    awaiting_since: datetime | None
    decision: Decision | None
    decided_by: str | None
    decided_at: datetime | None
    decision_notes: str | None
    published_at: datetime | None
    deleted_at: datetime | None
    deleted_by: str | None
    delete_reason: str | None
    status_before_delete: VersionStatus | None
    purge_started_at: datetime | None
    purge_rule: str | None
    purged_at: datetime | None
    purged_by: str | None

    def removal(self, product: str) -> str:
        """Why this DELETED or PURGED version takes part in nothing (resolution, merge, review), and for a deleted
        one what brings it back."""
        if self.status is VersionStatus.PURGED or self.purge_started_at is not None:
            return f"version {self.number} of {product} is PURGED by retention ({self.purge_rule}): its data is gone"
        return (
            f"version {self.number} of {product} is DELETED (by {self.deleted_by}: {self.delete_reason}); "
            f"`platform-assets restore-version {product} {self.number}` brings it back"
        )

    @property
    def captured(self) -> bool:
        """The version's files reached the raw zone (or gave up trying): processing may take it."""
        return self.status in CAPTURED_STATES


TIMESTAMPS = (
    "created_at",
    "captured_at",
    "processed_at",
    "awaiting_since",
    "decided_at",
    "published_at",
    "deleted_at",
    "purge_started_at",
    "purged_at",
)
"""The timestamps of a version record (ISO text in its JSON)."""


@dataclass(frozen=True)
class VersionSummary(VersionRecord):
    """A version with how many of its files are in each status."""

    file_statuses: dict[FileStatus, int]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        for name in TIMESTAMPS:
            value = data[name]
            data[name] = value.isoformat() if value else None
        return data


@dataclass(frozen=True)
class FileRecord:
    """One file of a version, as a preview shows it."""

    key: str
    size: int
    change: FileChange
    status: FileStatus
    sha256: str | None


@dataclass(frozen=True)
class ReviewFile:
    """One file of a version as a reviewer sees it: its content hash, rows, and whether a reviewer rejected it."""

    key: str
    size: int
    sha256: str | None
    status: FileStatus
    rows_written: int
    rejected_reason: str | None


@dataclass(frozen=True)
class ChildVersion:
    """A version created from another (``parent``) that carries some of its files by reference."""

    number: int
    parent: int
    origin: VersionOrigin
    files: int
    superseded: list[int]


@dataclass(frozen=True)
class FailedFile:
    """A FAILED file of a version: why, and after how many attempts."""

    version: int
    key: str
    error_type: str | None
    error_message: str | None
    attempts: int


@dataclass(frozen=True)
class PendingCopy:
    """A file capture still has to copy into the raw zone (``etag`` as listed)."""

    id: int
    key: str
    etag: str | None


@dataclass(frozen=True)
class CopiedFile:
    """A file capture copied: where its raw copy is, its size and sha256."""

    id: int
    key: str
    raw_location: str
    size: int
    sha256: str


@dataclass(frozen=True)
class CopyFailure:
    """A file capture could not copy (``error_type``: ``vanished`` or ``unsafe_key``)."""

    id: int
    key: str
    error_type: str
    message: str


@dataclass(frozen=True)
class CaptureState:
    """Where a version's capture stands: its status and its files' figures."""

    status: VersionStatus
    files: int
    bytes: int
    failed: dict[str, str]
    empty_files: list[str]


@dataclass(frozen=True)
class ProcessingStart:
    """A version moved into PROCESSING: its generation, and whether its rows must be removed first."""

    generation: int
    reset_pending: bool


@dataclass(frozen=True)
class WorkSize:
    """A version's files and bytes, and how many of them are done (PROCESSED or SKIPPED)."""

    files: int
    bytes: int
    done_files: int
    done_bytes: int


@dataclass(frozen=True)
class ClaimPolicy:
    """How many files a claim takes, how long its lease lasts, and how failures are retried.

    A claim takes ``batch_size`` files, and more while the batch's total size
    stays within ``batch_bytes``, up to ``max_files`` (small files go in large
    batches; ``batch_bytes`` 0 keeps every batch at ``batch_size``).
    """

    batch_size: int
    lease_seconds: int
    max_retries: int
    retry_backoff_seconds: float
    batch_bytes: int = 0
    max_files: int = 0


@dataclass(frozen=True)
class ClaimedFile:
    """A file a worker holds under a lease: where its raw copy is and what it must hash to."""

    id: int
    key: str
    raw_location: str
    sha256: str
    size: int
    retry_count: int


@dataclass(frozen=True)
class FileOutcome:
    """How processing one claimed file ended (``status``: PROCESSED or FAILED)."""

    file: ClaimedFile
    status: FileStatus
    rows_written: int = 0
    rows_rejected: int = 0
    error_type: str | None = None
    error_message: str | None = None
    recovered: bool = False  # committed before a crash; marked now without writing again
    schema_drift: dict[str, list[str]] | None = None  # how the file's columns differed (ingest.evolution.FileDrift)


@dataclass(frozen=True)
class ProcessingState:
    """Where a version's processing stands after a settle: status, file counts, rows, failed files."""

    status: VersionStatus
    file_counts: dict[FileStatus, int]
    rows_written: int
    rows_rejected: int
    failed: dict[str, str]


@dataclass(frozen=True)
class AuditRecord:
    """One audit event: who did what to which entity, when, and the change."""

    entity_type: str
    entity_id: str
    action: str
    actor: str
    at: datetime
    change: dict[str, Any]
    dagster_run_id: str | None = None  # the Dagster run whose step made the change


@dataclass(frozen=True)
class RunRecord:
    """One ``runs`` row: a step a worker ran on a version, and the Dagster run it ran in (None outside one)."""

    id: int
    version: int | None
    kind: RunKind
    status: RunStatus
    worker: str | None
    dagster_run_id: str | None
    error: str | None


@dataclass(frozen=True)
class LeaseHolder:
    """A worker holding live leases on files of a version: how many, until when, and its process if known."""

    worker: str
    files: int
    until: datetime
    host: str | None = None
    pid: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "until": self.until.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LeaseHolder:
        return cls(**{**data, "until": datetime.fromisoformat(data["until"])})


RawCopyRow = tuple[int, str, int, int, str | None, str | None, str | None]
"""One file as reconciliation reads it: ``(version, key, size, holds_copy, carried_location, etag, sha256)``.

``holds_copy`` (1 or 0): its raw copy must exist (see ``states.COPY_HOLDING_FILE_STATES``); ``carried_location``: the
``raw_location`` of a file a child version carries by reference (None when the copy is the row's own);
``etag`` and ``sha256`` only when asked for. Plain tuples: a reconciliation reads 100,000s of them.
"""


@dataclass(frozen=True)
class LostCopy:
    """A file whose raw copy reconciliation could not restore: it turns LOST with ``reason``."""

    version: int
    key: str
    finding: str
    reason: str


@dataclass(frozen=True)
class RestoredCopy:
    """A raw copy reconciliation recaptured from the source (``moved_to``: where the altered copy went, if any)."""

    version: int
    key: str
    finding: str
    sha256: str
    size: int
    moved_to: str | None = None


@dataclass(frozen=True)
class QuarantinedObject:
    """An object of the raw zone moved under ``<product>/_quarantine/`` (``reason``: why)."""

    source: str
    target: str
    size: int
    reason: str
