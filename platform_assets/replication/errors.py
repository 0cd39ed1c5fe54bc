"""Errors of cross-platform replication.

Contract: every error a caller can act on is a :class:`ReplicationError`; its
message says what failed, why, and what to do next. A sync that fails with one
leaves the replica's merge table and its sync state as they were (an
interrupted seed keeps its committed chunks and resumes at the next one).

Each concrete error is also on one branch of the platform's error root
(:mod:`platform_assets.errors`), chosen by what the user can do about it:

- :class:`~platform_assets.errors.UserError`: the same sync fails again until
  someone changes the config or the stores (:class:`ReplicationRefused`,
  :class:`NotAReplica`, :class:`LiveOnlyPrimary`, :class:`ReplicaSchemaMismatch`,
  :class:`BatchOutOfRange`).
- :class:`~platform_assets.errors.TransientError`: running the sync again
  later may succeed (:class:`NoPrimaryAvailable`, :class:`ReplicationBusy`,
  :class:`ReplicationInterrupted`).
"""

from __future__ import annotations

from platform_assets.errors import PlatformError, SchemaMismatch, TransientError, UserError


class ReplicationError(PlatformError):
    """A replica cannot be synced; the family of the errors below, each on a user or transient branch."""


class ReplicationRefused(ReplicationError, UserError):
    """The sync refuses to run as the stores stand (a primary that is this store, a table merged here, none there)."""


class ReplicationInterrupted(ReplicationError, TransientError):
    """The sync stopped midway (a database error, the primary changed under it); running it again may succeed."""


class NoPrimaryAvailable(ReplicationError, TransientError):
    """No primary platform answered; ``errors`` maps each primary to why it was skipped."""

    def __init__(self, message: str, *, errors: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.errors = dict(errors or {})


class LiveOnlyPrimary(ReplicationError, UserError):
    """The primary keeps a live-only merge table, which cannot show deletions between two batches."""


class ReplicaSchemaMismatch(ReplicationError, SchemaMismatch):
    """The primary's merge table and the replica's declared columns differ; ``differences`` lists them."""

    def __init__(self, message: str, *, differences: list[str] | None = None) -> None:
        super().__init__(message)
        self.differences = list(differences or [])


class BatchOutOfRange(ReplicationError, UserError):
    """``--to-batch`` names a batch the primary has not committed, or one below the replica's last synced batch."""


class ReplicationBusy(ReplicationError, TransientError):
    """Another sync of the same product into the same replica store is running."""


class NotAReplica(ReplicationError, UserError):
    """The product is primary on this platform: it ingests from its source and is not replicated here."""
