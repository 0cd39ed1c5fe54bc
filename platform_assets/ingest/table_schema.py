"""The product columns a table holds: declared in config, or inferred once and then held.

Contract: :func:`held_columns` returns the product's columns as the next
commit must hold them: without a table, the declared columns (or a schema
inferred from the first files, which the table then holds for every later
version); with one, :func:`effective_columns` of the table's columns and the
declared ones. The Iceberg table's schema is the source of truth for the
columns files added earlier (``schema.evolution``, :mod:`.evolution`).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import Table

from platform_assets.column_types import STRING, ColumnType
from platform_assets.config import MAX_LINE_BYTES_DEFAULT, ProductConfig
from platform_assets.errors import SchemaMismatch
from platform_assets.ingest.file_schema import RESCUED
from platform_assets.ingest.parsing import InputFile, infer_schema
from platform_assets.ingest.parsing.types import declared_type_of
from platform_assets.schema_change import schema_change
from platform_assets.storage.iceberg import LINEAGE_FIELDS, SOURCE_LINE_FIELD


class TableSchemaMismatch(SchemaMismatch):
    """The declared schema and the existing Iceberg table disagree (or no schema can be had at all)."""


def table_columns(iceberg_catalog: SqlCatalog, identifier: str) -> dict[str, ColumnType] | None:
    """The product columns of an existing table (lineage excluded), or None when there is no table.

    Raises TableSchemaMismatch when a column's type is none of the declared types.
    """
    try:
        table = iceberg_catalog.load_table(identifier)
    except NoSuchTableError:
        return None
    return columns_of(table)


def columns_of(table: Table) -> dict[str, ColumnType]:
    """The product columns of ``table`` (lineage excluded), in its order; TableSchemaMismatch as table_columns."""
    identifier = ".".join(table.name())
    schema = table.schema().as_arrow()
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


FILE_WIDENED = "platform.file-widened."
"""Table property prefix: ``<prefix><column>`` = the declared type a file widened the column from (widen_types)."""


DECLARED = "platform.declared-columns"
"""Table property: the declared column names (JSON list) of the last commit, so a column dropped from
``schema.columns`` (a rename is a drop plus an add) is told from a column a file added."""


def declared_before(table: Table) -> list[str] | None:
    """The declared column names the table's last commit recorded (None: none recorded)."""
    text = table.metadata.properties.get(DECLARED)
    return list(json.loads(text)) if text else None


def file_widened(table: Table) -> dict[str, str]:
    """Column -> the declared type (text) files widened it from, as the table's properties record it."""
    return {
        name.removeprefix(FILE_WIDENED): value
        for name, value in table.metadata.properties.items()
        if name.startswith(FILE_WIDENED)
    }


def effective_columns(
    existing: dict[str, ColumnType],
    declared: dict[str, ColumnType] | None,
    product: ProductConfig,
    identifier: str,
    widened_from: dict[str, str] | None = None,
    declared_earlier: list[str] | None = None,
) -> dict[str, ColumnType]:
    """The table's columns (in its order) with the declared changes: a widening (``widen_types``) and new declared
    columns at the end; ``_rescued`` at the end under ``schema.evolution: rescue``.

    A declared column the table holds in another order, narrower or as another
    type, or a new key column is refused with TableSchemaMismatch whose
    message (:func:`platform_assets.schema_change.schema_change`) says how to
    declare it; a table column the config does not declare (added by a file,
    or no longer declared) stays. A declared type a file widened (``widened_from``,
    :func:`file_widened`: the column and the declared type it widened from)
    is not a narrowing: the table keeps the wider type. A column declared
    earlier (``declared_earlier``, :func:`declared_before`) and no longer declared
    is refused: columns are never dropped, and a rename is a drop plus an add.
    """
    settings = product.table_schema
    columns = dict(existing)
    if declared is not None:
        kept = {
            name: existing[name]
            for name, text in (widened_from or {}).items()
            if name in declared and name in existing and str(declared[name]) == text
        }
        declared = {**declared, **kept}
    if declared is not None and settings is not None and existing:
        judged = set(declared) | set(declared_earlier or ())
        stored = {name: column_type for name, column_type in existing.items() if name in judged}
        change = schema_change(stored, declared, widen_types=settings.widen_types, key=settings.primary_key)
        if change.refused:
            raise TableSchemaMismatch(
                f"the declared schema of {product.name} differs from its Iceberg table {identifier}: "
                f"{change.describe()}"
            )
    if declared is not None:
        columns.update(declared)  # widened types in place, new columns at the end
    if settings is not None and settings.evolution == "rescue" and RESCUED not in columns:
        columns[RESCUED] = STRING
    return columns


def held_columns(
    iceberg_catalog: SqlCatalog,
    identifier: str,
    product: ProductConfig,
    first_files: Callable[[], list[InputFile]],
    max_line_bytes: int = MAX_LINE_BYTES_DEFAULT,
) -> dict[str, ColumnType]:
    declared = product.table_schema.columns if product.table_schema else None
    try:
        table = iceberg_catalog.load_table(identifier)
    except NoSuchTableError:
        table = None
    if table is not None:
        return effective_columns(
            columns_of(table), declared, product, identifier, file_widened(table), declared_before(table)
        )
    if declared is not None:
        return effective_columns({}, declared, product, identifier)
    files = first_files()
    if not files:
        raise TableSchemaMismatch(
            f"{product.name} declares no schema and its first version has no non-empty file to infer one from; "
            "declare schema.columns"
        )
    return infer_schema(files, product.source, max_line_bytes)
