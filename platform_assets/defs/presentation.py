"""What the Dagster UI shows about a product's assets besides their data: owners, kinds, descriptions, schemas.

Contract:
- Every asset of a product carries the product's ``owners`` and starts its
  description with the product's ``description`` (Dagster has no description
  of a group: the group is the product, and each of its assets says what it is).
- Kinds say what an asset is: ``raw_files`` the raw zone's store (``s3`` or
  ``file``); ``staged`` ``iceberg`` and its parser (``pyarrow`` or ``spark``);
  ``merge`` (and ``replica``) the merge store (``postgres`` or ``sqlite``) and
  ``sql``.
- Column schemas (``dagster/column_schema``) describe every column: the
  declared ones with their ``schema.descriptions``, the platform's lineage and
  batch columns with :data:`PLATFORM_COLUMNS`.
- ``staged`` shows, per version, the schema version it was processed under
  (the catalog's: columns a version's files added or widened included) as its
  column schema, with the platform's columns; ``merge`` declares its column
  lineage (``dagster/column_lineage``): each product column from the same
  column of ``staged``, the batch columns from ``staged``'s ``_version``.
- The merge table is the product as users query it: ``merge`` carries
  ``dagster/table_name`` (``<product>_merge``), its column schema, the live
  view's name, and the tag :data:`ROLE_TAG` = ``published``; a replica's is
  ``replica``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import timedelta

import dagster as dg

from platform_assets.config import PlatformConfig, ProductConfig
from platform_assets.defs.partitions import db_kind, storage_kind
from platform_assets.merge.names import live_view, merge_table

ROLE_TAG = "platform/role"
TABLE_NAME_KEY = "dagster/table_name"
COLUMN_SCHEMA_KEY = "dagster/column_schema"
COLUMN_LINEAGE_KEY = "dagster/column_lineage"
PLATFORM_COLUMN_TYPES = {
    "_version": "int",
    "_source_file": "string",
    "_source_sha256": "string",
    "_source_line": "bigint",
    "_ingested_at": "timestamp",
    "_rescued": "string",
}
"""The platform's columns of the Iceberg table as declared types."""
PLATFORM_COLUMNS = {
    "_version": "the version the row came from (the Iceberg table's partition)",
    "_source_file": "the source key of the file the row came from",
    "_source_sha256": "sha256 of that file's raw copy",
    "_source_line": (
        "the row's line in its file: CSV the first physical line of its record (1-based, header and blank lines "
        "counted), JSON lines its line, Parquet its row ordinal + 1; NULL for rows written before the column existed"
    ),
    "_ingested_at": "when the row was written (UTC)",
    "_rescued": "the row's values of columns the schema does not hold, as JSON (schema.evolution: rescue)",
    "_batch_in": "the first batch (version) in which the row is live",
    "_batch_out": "the last batch in which the row is live (2147483647 while it is live)",
    "_batch_id": "the batch (version) that last inserted or changed the row",
}
"""The platform's own columns and what they hold."""


def described(product: ProductConfig, text: str) -> str:
    """``text``, after the product's description when it has one."""
    return f"{product.description.strip()}\n\n{text}" if product.description else text


def raw_files_kinds(config: PlatformConfig) -> set[str]:
    return {storage_kind(config.platform.raw_zone)}


def staged_kinds(config: PlatformConfig, product: ProductConfig) -> set[str]:
    return {"iceberg", "spark" if config.parser_name(product) == "spark" else "pyarrow"}


def merge_kinds(config: PlatformConfig) -> set[str]:
    return {db_kind(config.platform.merge_store), "sql"}


def iceberg_table_name(config: PlatformConfig, product: ProductConfig) -> str:
    """The Iceberg identifier of the product's table: ``<platform>.<product>``."""
    return f"{config.platform.name}.{product.name}"


def table_schema(product: ProductConfig, columns: Iterable[tuple[str, str]]) -> dg.TableSchema:
    """``columns`` (name, type) with their descriptions: the declared ones', and the platform columns'."""
    declared: Mapping[str, str] = product.table_schema.descriptions if product.table_schema else {}
    return dg.TableSchema(
        columns=[
            dg.TableColumn(name, column_type, description=declared.get(name) or PLATFORM_COLUMNS.get(name))
            for name, column_type in columns
        ]
    )


def declared_columns(product: ProductConfig) -> list[tuple[str, str]]:
    """The declared columns and their types as text, in order (none when the schema is inferred)."""
    schema = product.table_schema
    return [(name, str(column_type)) for name, column_type in schema.columns.items()] if schema else []


def staged_definition_metadata(config: PlatformConfig, product: ProductConfig) -> dict[str, object]:
    """The Iceberg table's name and, when the schema is declared, its columns (lineage included)."""
    metadata: dict[str, object] = {TABLE_NAME_KEY: iceberg_table_name(config, product)}
    columns = declared_columns(product)
    if columns:
        lineage = [("_version", "int"), ("_source_file", "string"), ("_source_sha256", "string")]
        lineage += [("_ingested_at", "timestamptz"), ("_source_line", "bigint")]
        metadata[COLUMN_SCHEMA_KEY] = table_schema(product, columns + lineage)
    return metadata


def staged_columns(
    product: ProductConfig, columns: Iterable[tuple[str, str]], table_columns: Iterable[str]
) -> dg.TableSchema:
    """The staged table's column schema: the product ``columns`` (a schema version's), then the platform's columns
    of ``table_columns`` (the Iceberg table's names) in their order."""
    listed = list(columns)
    names = {name for name, _ in listed}
    platform = [
        (name, PLATFORM_COLUMN_TYPES.get(name, "string"))
        for name in table_columns
        if name not in names and name in PLATFORM_COLUMNS
    ]
    return table_schema(product, listed + platform)


def batch_columns(product: ProductConfig) -> list[str]:
    return ["_batch_in", "_batch_out"] if product.milestone == "forensic" else ["_batch_id"]


def merge_columns_schema(product: ProductConfig, columns: Iterable[tuple[str, str]]) -> dg.TableSchema:
    """The merge table's column schema: the product ``columns``, then the batch columns."""
    return table_schema(product, list(columns) + [(name, "int") for name in batch_columns(product)])


def merge_lineage(product: ProductConfig, columns: Iterable[str]) -> dg.TableColumnLineage:
    """Each product column of the merge table from the same column of ``staged``; batch columns from ``_version``."""
    staged = dg.AssetKey([product.name, "staged"])
    deps = {name: [dg.TableColumnDep(asset_key=staged, column_name=name)] for name in columns}
    for name in batch_columns(product):
        deps[name] = [dg.TableColumnDep(asset_key=staged, column_name="_version")]
    return dg.TableColumnLineage(deps_by_column=deps)


def merge_definition_metadata(product: ProductConfig) -> dict[str, object]:
    """The merge table's name, columns (batch columns included), live view and milestone, and its column lineage."""
    columns = declared_columns(product)
    metadata: dict[str, object] = {
        TABLE_NAME_KEY: merge_table(product.name),
        COLUMN_SCHEMA_KEY: merge_columns_schema(product, columns),
        "live_view": live_view(product.name),
        "milestone": product.milestone,
    }
    if columns:
        metadata[COLUMN_LINEAGE_KEY] = merge_lineage(product, [name for name, _ in columns])
    return metadata


def merge_freshness(product: ProductConfig) -> dg.FreshnessPolicy | None:
    """The product's ``freshness`` as Dagster's time-window policy on its merge table, if it declares one."""
    freshness = product.freshness
    if freshness is None:
        return None
    warn = timedelta(minutes=freshness.warn_lag_minutes) if freshness.warn_lag_minutes else None
    return dg.FreshnessPolicy.time_window(fail_window=timedelta(minutes=freshness.max_lag_minutes), warn_window=warn)
