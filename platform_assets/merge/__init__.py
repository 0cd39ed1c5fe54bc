"""Milestoned merge of a product's versions into the merge store (forensic or live-only).

Public API: :class:`MergeStore`, :func:`merge_batch`,
:class:`BatchResult`, :func:`exclude_batch`, :func:`latest_committed_batch`,
:func:`batch_log`, :class:`BatchLogEntry`, the states :class:`BatchStatus` and
:class:`BatchResultStatus`, and the :class:`MergeError` family.
Replication (:mod:`platform_assets.replication`) builds on this package's table contract
(spec, tables, names, batch log, store); nothing here imports it.
"""

from platform_assets.merge.batch_log import BatchLogEntry, batch_log, exclude_batch, latest_committed_batch
from platform_assets.merge.errors import (
    DeleteGuardTripped,
    DuplicateKeys,
    ExcludedBatch,
    MergeError,
    MergeSchemaMismatch,
    NullKeys,
    OutOfOrderBatch,
)
from platform_assets.merge.milestone import BatchResult, merge_batch
from platform_assets.merge.states import BatchResultStatus, BatchStatus
from platform_assets.merge.store import MergeStore

__all__ = [
    "BatchLogEntry",
    "BatchResult",
    "BatchResultStatus",
    "BatchStatus",
    "DeleteGuardTripped",
    "DuplicateKeys",
    "ExcludedBatch",
    "MergeError",
    "MergeStore",
    "NullKeys",
    "OutOfOrderBatch",
    "MergeSchemaMismatch",
    "batch_log",
    "exclude_batch",
    "latest_committed_batch",
    "merge_batch",
]
