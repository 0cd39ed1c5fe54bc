"""How a stored merge table differs from the product's columns, and whether the store may evolve it.

Contract:

- :func:`stored_product_columns` reads the product columns of an existing
  ``<product>_merge`` as declared types (every column but the batch columns, in
  the table's order; columns added later stand after the batch columns in the
  table but after the earlier product columns here), or None when the table
  does not exist. A table of the other milestone (``_batch_id`` where
  ``_batch_in``/``_batch_out`` are wanted, or the reverse), or a column of a type
  no declared type maps to, is a :class:`MergeSchemaMismatch`.
- :func:`table_change` is the :class:`~platform_assets.schema_change.SchemaChange`
  from the stored columns to the spec's (``widen_types`` from the spec unless
  given), None without a table. An accepted change is an evolution the store
  carries out (``platform_assets.merge.tables.evolve_product_table``); a refused
  one raises MergeSchemaMismatch with the change's description. With
  ``ahead_ok``, a table that is itself an accepted change of the spec's columns
  (it took columns a version's files added, or widened, which the config does
  not declare) is no change (empty): reading it is fine; a merge takes the
  columns of the catalog's schema version, which has them.
"""

from __future__ import annotations

from sqlalchemy import Connection

from platform_assets.column_types import ColumnType
from platform_assets.merge.dialect import MergeDialect
from platform_assets.merge.errors import MergeSchemaMismatch
from platform_assets.merge.spec import MergeSpec
from platform_assets.schema_change import SchemaChange, schema_change

FORENSIC_BATCH_COLUMNS = ("_batch_in", "_batch_out")
LIVE_ONLY_BATCH_COLUMNS = ("_batch_id",)
BATCH_COLUMNS = frozenset(FORENSIC_BATCH_COLUMNS + LIVE_ONLY_BATCH_COLUMNS)


def batch_columns(spec: MergeSpec) -> tuple[str, ...]:
    """The batch columns a merge table of ``spec``'s milestone has."""
    return FORENSIC_BATCH_COLUMNS if spec.forensic else LIVE_ONLY_BATCH_COLUMNS


def stored_product_columns(
    connection: Connection, spec: MergeSpec, dialect: MergeDialect, table: str | None = None
) -> dict[str, ColumnType] | None:
    """The product columns of the merge table (``table``, default the spec's) as declared types; None if absent."""
    name = table or spec.table
    stored = dialect.existing_columns(connection, name)
    if not stored:
        return None
    present = {column for column, _ in stored if column in BATCH_COLUMNS}
    if present != set(batch_columns(spec)):
        raise MergeSchemaMismatch(
            f"merge table {name!r} exists with columns {stored} but product {spec.product!r} (milestone "
            f"{spec.milestone}) needs the batch columns {list(batch_columns(spec))}: the table was built for the other "
            "milestone. Declare the milestone the table was built with, or move the table aside (rename or drop it "
            "deliberately) and merge the versions again."
        )
    columns: dict[str, ColumnType] = {}
    for column, stored_type in stored:
        if column in BATCH_COLUMNS:
            continue
        declared = dialect.declared_type(stored_type)
        if declared is None:
            raise MergeSchemaMismatch(
                f"merge table {name!r}: column {column!r} has type {stored_type}, which no declared type of product "
                f"{spec.product!r} maps to (it was changed outside the platform); change it back, or move the table "
                "aside and merge the versions again"
            )
        columns[column] = declared
    return columns


def table_change(
    connection: Connection,
    spec: MergeSpec,
    dialect: MergeDialect,
    *,
    widen_types: bool | None = None,
    ahead_ok: bool = False,
) -> SchemaChange | None:
    """The accepted change from the stored table to ``spec``; None without a table; MergeSchemaMismatch if refused."""
    stored = stored_product_columns(connection, spec, dialect)
    if stored is None:
        return None
    widen = spec.widen_types if widen_types is None else widen_types
    change = schema_change(stored, dict(spec.columns), widen_types=widen, key=spec.key)
    if not change.accepted and ahead_ok and table_is_ahead(stored, spec):
        return SchemaChange()
    if not change.accepted:
        raise MergeSchemaMismatch(
            f"merge table {spec.table!r} cannot take the columns product {spec.product!r} declares now; the table is "
            f"unchanged. {change.describe()}."
        )
    return change


def table_is_ahead(stored: dict[str, ColumnType], spec: MergeSpec) -> bool:
    """True when the stored columns are an accepted change of the spec's (added at the end, or widened)."""
    return schema_change(dict(spec.columns), stored, widen_types=True, key=spec.key).accepted
