"""Cross-platform replication of a product's merge table from a primary platform's merge store.

On a platform that is not in a product's ``primary_platforms``, the product's
``<product>_merge`` table (and ``<product>_live`` view) is a replica of a
primary's forensic merge table: a live-only replica (milestone ``live_only``)
conflates the primary's history into the live state, a mirror (``forensic``)
copies the history. The first sync seeds the replica in resumable chunks as of
a batch Y; later syncs apply what changed in (X, Y]. See :mod:`.sync` for the
contract and ``docs/architecture.md`` for the tables.

Public API: :func:`replicate`, :class:`ReplicationResult`,
:func:`replication_status`, :class:`ReplicationStatus`, :class:`PrimaryStatus`, :class:`SyncMode`
and the :class:`ReplicationError` family (user or transient errors of
:mod:`platform_assets.errors`). No Dagster here.
"""

from platform_assets.replication.errors import (
    BatchOutOfRange,
    LiveOnlyPrimary,
    NoPrimaryAvailable,
    NotAReplica,
    ReplicaSchemaMismatch,
    ReplicationBusy,
    ReplicationError,
    ReplicationInterrupted,
    ReplicationRefused,
)
from platform_assets.replication.plan import SyncMode
from platform_assets.replication.primaries import dispose_primary_engines
from platform_assets.replication.sync import (
    PrimaryStatus,
    ReplicationResult,
    ReplicationStatus,
    check_replica,
    replicate,
    replication_status,
)

__all__ = [
    "BatchOutOfRange",
    "LiveOnlyPrimary",
    "NoPrimaryAvailable",
    "NotAReplica",
    "PrimaryStatus",
    "ReplicationBusy",
    "ReplicationError",
    "ReplicationInterrupted",
    "ReplicationRefused",
    "ReplicationResult",
    "ReplicationStatus",
    "ReplicaSchemaMismatch",
    "SyncMode",
    "check_replica",
    "dispose_primary_engines",
    "replicate",
    "replication_status",
]
