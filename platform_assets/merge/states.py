"""The states of the merge store, as enums.

Contract: :class:`BatchStatus`'s values are the text stored in the batch log's
``status`` column (``merge_batches``; its CHECK constraint lists them), lowercase
as ever; :class:`BatchResultStatus` says what one ``merge_batch`` call did. A
StrEnum member is its text wherever it is printed, compared or serialized.
"""

from __future__ import annotations

from enum import StrEnum


class BatchStatus(StrEnum):
    """A batch in the batch log (see :mod:`platform_assets.merge.batch_log`)."""

    STARTED = "started"
    """A merge began; a crash leaves it so."""
    COMMITTED = "committed"
    """Written in the same transaction as the merge itself."""
    FAILED = "failed"
    """Written after the merge rolled back; the log's message says why."""
    EXCLUDED = "excluded"
    """Taken out of the merge order; the log's message holds the reason."""


DONE = frozenset({BatchStatus.COMMITTED, BatchStatus.EXCLUDED})
"""Statuses that let later batches merge."""


class BatchResultStatus(StrEnum):
    """What one ``merge_batch`` call did with its batch."""

    COMMITTED = "committed"
    """Merged by this call."""
    NOOP = "noop"
    """Committed already: nothing changed."""
