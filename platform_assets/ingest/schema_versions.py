"""The catalog's record of the schema a version's data was processed under.

Contract: :func:`record_processed_schema` runs after a worker committed a
version's rows (before the version settles, so no merge sees it processed
without its schema): it records the product table's columns as they are now
in Iceberg (the product's columns: lineage and ``_rescued`` excluded, which
stay in the Iceberg table and are not merged) with the declared key, as
the catalog's current schema version (:meth:`Catalog.record_schema_version`:
idempotent, so every worker calls it). A new schema version says what changed
and where it came from: declared in ``schema.columns``, or the version's files
(``schema.evolution``, ``widen_types``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from platform_assets.catalog.records import SchemaVersionRecord
from platform_assets.column_types import ColumnType
from platform_assets.config import ProductConfig
from platform_assets.ingest.table_schema import table_columns
from platform_assets.schema_change import schema_change

NOT_PRODUCT_COLUMNS = frozenset({"_rescued"})
"""Platform columns of the Iceberg table besides lineage: ``_rescued`` (schema.evolution: rescue) is no product
column; it stays in the Iceberg table."""

if TYPE_CHECKING:
    from platform_assets.services import Services


def record_processed_schema(services: Services, product: ProductConfig, version: int) -> SchemaVersionRecord | None:
    """Record the Iceberg table's current columns as the schema ``version`` was processed under (None: no table)."""
    tables = services.iceberg
    found = table_columns(tables.iceberg_catalog, tables.data_table(product.name))
    if found is None:
        return None
    columns = {name: column_type for name, column_type in found.items() if name not in NOT_PRODUCT_COLUMNS}
    schema = product.table_schema
    key = list(schema.primary_key) if schema else []
    current = services.catalog.current_schema(product.name)
    declared = dict(schema.columns) if schema else None
    change = None if current is None else describe_change(current, columns, key, declared)
    return services.catalog.record_schema_version(product.name, columns, key, version, change, services.actor)


def describe_change(
    before: SchemaVersionRecord,
    columns: dict[str, ColumnType],
    key: list[str],
    declared: dict[str, ColumnType] | None,
) -> str:
    """What changed from ``before`` to ``columns``, and whether the config or the files asked for it."""
    old = {name: ColumnType.parse(column_type) for name, column_type in before.columns}
    described = schema_change(old, columns, widen_types=True, key=key).describe()
    if tuple(key) != before.primary_key:
        described += f"; primary key ({', '.join(before.primary_key)}) becomes ({', '.join(key)})"
    origin = "declared in schema.columns" if declared == columns else "from the version's files"
    return f"{described} ({origin})"
