"""What the replica reads from a primary: its merge table's form and columns, and the columns the replica takes.

Contract of :func:`check_primary_table`: it returns the replica's MergeSpec for
this sync when the primary's ``<product>_merge`` (its columns as the probe read
them, ``Primary.columns``) is a forensic merge table that holds every
declared column (names, in any order) with its declared type or a widening of
it (int to bigint, decimal(p,s) to decimal(p2>p,s)), and maybe more columns.
The returned spec has the declared columns in their order, then the
primary's other columns in its order, all with the primary's types (and
``widen_types`` on): a replica follows the primary's additive changes, whatever
its own ``schema.evolution`` and ``widen_types``, because the primary accepted
them under its own config and they lose nothing a replica holds; its table and
view take them in the sync's transaction (:mod:`.incremental`, :mod:`.seed`).
Otherwise it raises:

- :class:`LiveOnlyPrimary` when the primary's table is live-only (``_batch_id``):
  a live-only table keeps no closed rows, so the keys deleted between two
  batches cannot be found there;
- :class:`ReplicaSchemaMismatch` listing every other difference: a column declared here
  but not on the primary, a type that is neither the declared one nor a
  widening of it;
- :class:`ReplicationRefused` when the primary has no merge table for the product.
"""

from __future__ import annotations

from dataclasses import replace

from platform_assets.column_types import ColumnType
from platform_assets.merge.evolution import BATCH_COLUMNS
from platform_assets.merge.spec import MergeSpec
from platform_assets.replication.errors import LiveOnlyPrimary, ReplicaSchemaMismatch, ReplicationRefused
from platform_assets.replication.primaries import Primary
from platform_assets.schema_change import Refusal, RefusedChange, SchemaChange, schema_change


def replica_differences(
    change: SchemaChange, declared: dict[str, ColumnType], primary: dict[str, ColumnType]
) -> list[str]:
    """The refused parts of ``change`` (declared columns -> the primary's), as a replica's operator reads them."""
    return [_difference(item, declared, primary) for item in change.refused]


def _difference(item: RefusedChange, declared: dict[str, ColumnType], primary: dict[str, ColumnType]) -> str:
    name = item.column
    if item.reason is Refusal.DROPPED:
        return f"column {name!r} ({declared[name]}) is declared here but not on the primary"
    return f"column {name!r} is {primary[name]} on the primary but {declared[name]} here"


def check_primary_table(primary: Primary, spec: MergeSpec) -> MergeSpec:
    """The replica's spec for this sync; raise unless the primary's table may serve it (see the module contract)."""
    columns = list(primary.columns)
    if not columns:
        raise ReplicationRefused(
            f"primary {primary.name!r} ({primary.masked_url}) has committed batches of {spec.product!r} but no "
            f"table {spec.table!r}; check that platforms: points at the primary's merge store"
        )
    names = {name for name, _ in columns}
    if "_batch_id" in names or not {"_batch_in", "_batch_out"} <= names:
        raise LiveOnlyPrimary(
            f"primary {primary.name!r} keeps {spec.product!r} live-only (column _batch_id, no _batch_in/_batch_out): "
            "a live-only merge table keeps no closed rows, so it cannot show which keys were deleted between two "
            "batches, and a replica of it would keep deleted rows forever. Replicate from a primary whose "
            f"milestone for {spec.product!r} is forensic (reorder primary_platforms, or make the primary forensic)."
        )
    declared = dict(spec.columns)
    found = _primary_columns(primary, spec, columns)
    theirs = {name: found[name] for name in declared if name in found}
    theirs.update((name, column_type) for name, column_type in found.items() if name not in declared)
    change = schema_change(declared, theirs, widen_types=True, key=spec.key)
    if not change.accepted:
        differences = replica_differences(change, declared, theirs)
        raise ReplicaSchemaMismatch(
            f"replica {spec.product!r}: the primary {primary.name!r}'s table {spec.table!r} and this platform's "
            "declared schema differ by more than columns the primary added and types it widened (which a replica "
            "follows); the sync stopped and the replica is unchanged. Differences: "
            + "; ".join(differences)
            + ". Make schema.columns of the product the same on both platforms (then the replica reseeds if its "
            "own table must change).",
            differences=differences,
        )
    if change.is_empty:
        return spec
    return replace(spec, columns=tuple(theirs.items()), widen_types=True)


def _primary_columns(primary: Primary, spec: MergeSpec, columns: list[tuple[str, str]]) -> dict[str, ColumnType]:
    """The primary table's product columns as declared types, in its order; ReplicaSchemaMismatch for unknown types."""
    found: dict[str, ColumnType] = {}
    for name, stored in columns:
        if name in BATCH_COLUMNS:
            continue
        declared = primary.dialect.declared_type(stored)
        if declared is None:
            difference = f"column {name!r} has type {stored} on the primary, which no declared type maps to"
            raise ReplicaSchemaMismatch(
                f"replica {spec.product!r}: {difference}; the sync stopped and the replica is unchanged. Fix the "
                "primary's table (it was changed outside the platform).",
                differences=[difference],
            )
        found[name] = declared
    return found
