"""What the replica reads from a primary: its merge table's form and columns.

Contract of :func:`check_primary_table`: it returns when the primary's
``<product>_merge`` (its columns as the probe read them, ``Primary.columns``)
is a forensic merge table whose product columns are exactly the replica's
declared columns (names, order-insensitive, and types as the
primary's backend spells them). Otherwise it raises:

- :class:`LiveOnlyPrimary` when the primary's table is live-only (``_batch_id``):
  a live-only table keeps no closed rows, so the keys deleted between two
  batches cannot be found there;
- :class:`ReplicaSchemaMismatch` listing every added, removed and retyped column;
- :class:`ReplicationRefused` when the primary has no merge table for the product.
"""

from __future__ import annotations

from platform_assets.merge.spec import FORENSIC, MergeSpec
from platform_assets.merge.tables import expected_columns
from platform_assets.replication.errors import LiveOnlyPrimary, ReplicaSchemaMismatch, ReplicationRefused
from platform_assets.replication.primaries import Primary

BATCH_COLUMNS = frozenset({"_batch_in", "_batch_out", "_batch_id"})


def _normalized(column_type: str) -> str:
    return column_type.replace(" ", "").lower()


def column_differences(primary: list[tuple[str, str]], expected: list[tuple[str, str]]) -> list[str]:
    """Human-readable differences between the primary's product columns and the expected ones."""
    theirs = {name: column_type for name, column_type in primary}
    ours = {name: column_type for name, column_type in expected}
    differences = [
        f"column {name!r} ({theirs[name]}) is on the primary but not declared here"
        for name in theirs
        if name not in ours
    ]
    differences += [
        f"column {name!r} ({ours[name]}) is declared here but not on the primary" for name in ours if name not in theirs
    ]
    differences += [
        f"column {name!r} is {theirs[name]} on the primary but {ours[name]} here"
        for name in ours
        if name in theirs and _normalized(theirs[name]) != _normalized(ours[name])
    ]
    return differences


def check_primary_table(primary: Primary, spec: MergeSpec) -> None:
    """Raise unless the primary's merge table is forensic with the replica's columns (see module contract)."""
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
    forensic = MergeSpec(spec.product, spec.columns, spec.key, FORENSIC, spec.mode)
    expected = [
        (name, column_type)
        for name, column_type in expected_columns(forensic, primary.dialect)
        if name not in BATCH_COLUMNS
    ]
    theirs = [(name, column_type) for name, column_type in columns if name not in BATCH_COLUMNS]
    differences = column_differences(theirs, expected)
    if differences:
        raise ReplicaSchemaMismatch(
            f"replica {spec.product!r}: the primary {primary.name!r}'s table {spec.table!r} and this platform's "
            f"declared schema differ; the sync stopped and the replica is unchanged. Differences: "
            + "; ".join(differences)
            + ". Make schema.columns of the product the same on both platforms (then the replica reseeds if its "
            "own table must change).",
            differences=differences,
        )
