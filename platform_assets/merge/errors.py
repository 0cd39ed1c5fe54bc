"""Errors of the milestoned merge.

Contract: every error a caller can act on is a :class:`MergeError`, a
:class:`~platform_assets.errors.UserError` (the same call fails again until the
user acts); its message says what failed, why, and what to do next. A batch
that fails with a MergeError leaves the product's merge table exactly as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

from platform_assets.errors import SchemaMismatch, UserError


class MergeError(UserError):
    """A batch cannot be merged (bad input, wrong order, guard, configuration)."""


class OutOfOrderBatch(MergeError):
    """An earlier version is neither committed nor excluded (or a later one is committed already).

    ``blocking`` is the version that stands in the way.
    """

    def __init__(self, message: str, *, product: str, batch: int, blocking: int) -> None:
        super().__init__(message)
        self.product = product
        self.batch = batch
        self.blocking = blocking


class DuplicateKeys(MergeError):
    """The batch holds a primary key more than once; ``keys`` lists up to 10 of them."""

    def __init__(self, message: str, *, keys: Sequence[tuple[object, ...]], count: int) -> None:
        super().__init__(message)
        self.keys = list(keys)
        self.count = count


class NullKeys(MergeError):
    """A primary-key column holds NULL; ``column`` names it, ``count`` says how often."""

    def __init__(self, message: str, *, column: str, count: int) -> None:
        super().__init__(message)
        self.column = column
        self.count = count


class DeleteGuardTripped(MergeError):
    """A snapshot would delete a larger share of the live rows than ``max_delete_fraction`` allows."""

    def __init__(self, message: str, *, deleted: int, live: int, limit: float) -> None:
        super().__init__(message)
        self.deleted = deleted
        self.live = live
        self.limit = limit


class MergeSchemaMismatch(MergeError, SchemaMismatch):
    """The rows, or the existing merge table, do not match the product's declared schema."""


class ExcludedBatch(MergeError):
    """The batch was excluded from the merge order and cannot be merged (or it is committed and cannot be excluded)."""
