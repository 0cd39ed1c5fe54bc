"""The state catalog's states: what a file, a version and a run can be, as enums.

Contract: each enum's values are the text stored in the catalog's tables
(``raw_files.status``, ``versions.status``, ``raw_files.change``,
``versions.mode``, ``runs.kind``, ``runs.status``); a StrEnum member is that
text wherever it is printed, compared or serialized. This module is the one
part of ``catalog/`` every other package may import freely.
"""

from __future__ import annotations

from enum import StrEnum


class FileStatus(StrEnum):
    """A file of a version: DISCOVERED -> CAPTURED (in the raw zone) -> PROCESSING -> PROCESSED.

    FAILED at capture or processing (processing retries it), SKIPPED when a user
    gave it up. LOST when reconciliation found its raw copy missing or altered and
    could not recapture it from the source (``error_message`` says why; processing
    refuses a version with a LOST file until it is given up). DELETED: a file of a
    version retention purges (set with the purge's intent; its copy goes, unless a
    surviving child version shares it). CAPTURING is reserved: nothing writes it yet.
    """

    DISCOVERED = "DISCOVERED"
    CAPTURING = "CAPTURING"
    CAPTURED = "CAPTURED"
    PROCESSING = "PROCESSING"
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    DELETED = "DELETED"
    LOST = "LOST"


class VersionStatus(StrEnum):
    """A version: DISCOVERED -> CAPTURED -> PROCESSING -> PROCESSED, or CAPTURE_FAILED / FAILED at a step.

    Then, for a product under review, AWAITING_REVIEW -> APPROVED | REJECTED; merged, a version is
    PUBLISHED (without review straight from PROCESSED).

    SUPERSEDED: a newer version took its place: a published version followed by a newer published
    one; an unmerged one overtaken by an approved newer snapshot or by its own child; one whose
    capture failed because the source changed under it, by the next sync.

    DELETED: soft-deleted by a user (``delete-version``); restorable to the status it had before
    (``versions.status_before_delete``). PURGED: retention removed its raw copies and Iceberg rows;
    the row stays, with who purged it and when (``versions/retention.py``).
    """

    DISCOVERED = "DISCOVERED"
    CAPTURED = "CAPTURED"
    CAPTURE_FAILED = "CAPTURE_FAILED"
    PROCESSING = "PROCESSING"
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"
    AWAITING_REVIEW = "AWAITING_REVIEW"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    PUBLISHED = "PUBLISHED"
    SUPERSEDED = "SUPERSEDED"
    DELETED = "DELETED"
    PURGED = "PURGED"


class VersionOrigin(StrEnum):
    """Where a version comes from: a sync of the source, a review that rejected files, or a rollback."""

    SOURCE = "source"
    REVIEW = "review"
    ROLLBACK = "rollback"


class Decision(StrEnum):
    """A reviewer's decision on a version (``versions.decision``)."""

    APPROVED = "approved"
    REJECTED = "rejected"


class FileChange(StrEnum):
    """How a file of a version compares with the previous version."""

    NEW = "new"
    CHANGED = "changed"
    UNCHANGED = "unchanged"


class CaptureMode(StrEnum):
    """What a version holds: every source file (snapshot) or the new and changed ones (incremental)."""

    SNAPSHOT = "snapshot"
    INCREMENTAL = "incremental"


class RunKind(StrEnum):
    """The step a ``runs`` row records."""

    PROCESS = "process"


class RunStatus(StrEnum):
    STARTED = "STARTED"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


REMOVED_STATES = frozenset({VersionStatus.DELETED, VersionStatus.PURGED})
"""Versions a user deleted (soft) or retention purged: out of resolution, the merge order and review."""

CAPTURED_STATES = frozenset(set(VersionStatus) - {VersionStatus.DISCOVERED} - REMOVED_STATES)
"""Versions whose files reached the raw zone (or gave up trying), whatever happened to them after, unless deleted
or purged."""

PROCESSABLE_STATES = frozenset(
    {
        VersionStatus.CAPTURED,
        VersionStatus.CAPTURE_FAILED,
        VersionStatus.PROCESSING,
        VersionStatus.PROCESSED,
        VersionStatus.FAILED,
        VersionStatus.AWAITING_REVIEW,
    }
)
"""The versions processing may take: captured and not decided, merged or superseded yet."""

REPROCESSABLE_STATES = frozenset({VersionStatus.PROCESSED, VersionStatus.AWAITING_REVIEW})
"""Processed versions whose rows processing may replace (a new generation)."""

UNPROCESSED_STATES = PROCESSABLE_STATES - REPROCESSABLE_STATES
"""Captured versions without a successful processing yet (a failed one counts as not yet successful)."""

DECIDABLE_STATES = frozenset({VersionStatus.AWAITING_REVIEW})
"""The versions a reviewer may approve, reject, or reject files of."""

OPEN_FILE_STATES = frozenset({FileStatus.DISCOVERED, FileStatus.CAPTURING, FileStatus.CAPTURED, FileStatus.PROCESSING})
"""Files processing may still finish: a version with none of these left is settled."""

UNCAPTURED_FILE_STATES = frozenset({FileStatus.DISCOVERED, FileStatus.CAPTURING})
"""Files capture still has to copy."""

COPY_HOLDING_FILE_STATES = frozenset(
    {FileStatus.CAPTURED, FileStatus.PROCESSING, FileStatus.PROCESSED, FileStatus.FAILED}
)
"""Files whose raw copy must exist once captured (reconciliation); SKIPPED and LOST ones need none."""
COPY_ABSENT_STATES = ("PURGED",)
"""File and version statuses whose raw copies were removed on purpose (retention): reconciliation expects none."""

VANISHED = "vanished"
"""``raw_files.error_type`` of a file gone or changed at the source when capture came to copy it."""
CAPTURE_ERROR_TYPES = (VANISHED, "unsafe_key")
"""``raw_files.error_type`` of failures at capture, not at processing: no retry can fix them."""
LOST_ERROR_TYPE = "lost"
"""``raw_files.error_type`` of a LOST file: reconciliation could neither find nor recapture its raw copy."""
