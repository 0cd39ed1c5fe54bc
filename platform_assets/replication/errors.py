"""Errors of cross-platform replication.

Contract: every error a caller can act on is a :class:`ReplicationError` (a
:class:`~platform_assets.merge.errors.MergeError`); its message says what
failed, why, and what to do next. A sync that fails with one leaves the
replica's merge table and its sync state as they were (an interrupted seed
keeps its committed chunks and resumes at the next one).
"""

from __future__ import annotations

from platform_assets.merge.errors import MergeError


class ReplicationError(MergeError):
    """A replica cannot be synced (configuration, primaries, batch numbers, schema)."""


class NoPrimaryAvailable(ReplicationError):
    """No primary platform answered; ``errors`` maps each primary to why it was skipped."""

    def __init__(self, message: str, *, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = dict(errors or {})


class LiveOnlyPrimary(ReplicationError):
    """The primary keeps a live-only merge table, which cannot show deletions between two batches."""


class SchemaDrift(ReplicationError):
    """The primary's merge table and the replica's declared columns differ; ``differences`` lists them."""

    def __init__(self, message: str, *, differences: list[str] | None = None) -> None:
        super().__init__(message)
        self.differences = list(differences or [])


class BatchOutOfRange(ReplicationError):
    """``--to-batch`` names a batch the primary has not committed, or one below the replica's last synced batch."""


class ReplicationBusy(ReplicationError):
    """Another sync of the same product into the same replica store is running."""


class NotAReplica(ReplicationError):
    """The product is primary on this platform: it ingests from its source and is not replicated here."""
