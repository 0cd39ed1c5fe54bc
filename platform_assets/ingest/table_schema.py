"""The product columns a table holds: declared in config, or inferred once and then held.

Contract: :func:`held_columns` returns the declared column types when the
product declares a schema (and checks an existing table agrees); otherwise
the existing table's columns; otherwise a schema inferred from the first
files, which the table created from it then holds for every later version.
"""

from __future__ import annotations

from collections.abc import Callable

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError

from platform_assets.column_types import ColumnType
from platform_assets.config import MAX_LINE_BYTES_DEFAULT, ProductConfig
from platform_assets.errors import SchemaMismatch
from platform_assets.ingest.parsing import InputFile, infer_schema, schema_differences
from platform_assets.ingest.parsing.types import declared_type_of
from platform_assets.storage.iceberg import LINEAGE_FIELDS, SOURCE_LINE_FIELD


class TableSchemaMismatch(SchemaMismatch):
    """The declared schema and the existing Iceberg table disagree (or no schema can be had at all)."""


def table_columns(iceberg_catalog: SqlCatalog, identifier: str) -> dict[str, ColumnType] | None:
    """The product columns of an existing table (lineage excluded), or None when there is no table.

    Raises TableSchemaMismatch when a column's type is none of the declared types.
    """
    try:
        schema = iceberg_catalog.load_table(identifier).schema().as_arrow()
    except NoSuchTableError:
        return None
    lineage = {field.name for field in LINEAGE_FIELDS} | {SOURCE_LINE_FIELD.name}
    columns = {}
    for field in schema:
        if field.name in lineage:
            continue
        column_type = declared_type_of(field.type)
        if column_type is None:
            raise TableSchemaMismatch(
                f"column {field.name} of the Iceberg table {identifier} has type {field.type}, which no declared "
                "column type holds; migrate the table to the declared types"
            )
        columns[field.name] = column_type
    return columns


def held_columns(
    iceberg_catalog: SqlCatalog,
    identifier: str,
    product: ProductConfig,
    first_files: Callable[[], list[InputFile]],
    max_line_bytes: int = MAX_LINE_BYTES_DEFAULT,
) -> dict[str, ColumnType]:
    existing = table_columns(iceberg_catalog, identifier)
    declared = product.table_schema.columns if product.table_schema else None
    if declared is not None:
        if existing is not None and existing != declared:
            differences = "; ".join(schema_differences(existing, declared))
            raise TableSchemaMismatch(
                f"the declared schema of {product.name} differs from its Iceberg table {identifier}: {differences}; "
                "schema evolution is not automatic: restore the declared schema or migrate the table"
            )
        return dict(declared)
    if existing is not None:
        return existing
    files = first_files()
    if not files:
        raise TableSchemaMismatch(
            f"{product.name} declares no schema and its first version has no non-empty file to infer one from; "
            "declare schema.columns"
        )
    return infer_schema(files, product.source, max_line_bytes)
