"""``<product>/merge``: merge each processed version as batch v into the milestoned merge table."""

import dagster as dg

from platform_assets.config import PlatformConfig, ProductConfig
from platform_assets.defs.metadata import markdown_table, version_observation
from platform_assets.defs.partitions import asset_key, partition_key, registered_versions, versions_of
from platform_assets.defs.presentation import (
    COLUMN_LINEAGE_KEY,
    COLUMN_SCHEMA_KEY,
    ROLE_TAG,
    described,
    merge_columns_schema,
    merge_definition_metadata,
    merge_freshness,
    merge_kinds,
    merge_lineage,
)
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import reported_errors, result_metadata, scrubbed_step
from platform_assets.merge import BatchResult, batch_log
from platform_assets.merge.checks import check_live_rows
from platform_assets.merge.versions import merge_columns, merge_version, table_row_counts
from platform_assets.services import Services

CHECK_NAME = "live_rows_match_staged"
MERGED = "MERGED"
"""The state observed on a version's raw_files partition once its batch is committed."""


def build_merge_asset(
    config: PlatformConfig, product: ProductConfig, partitions: dg.DynamicPartitionsDefinition
) -> dg.AssetsDefinition:
    key = asset_key(product, "merge")

    @dg.asset(
        key=key,
        deps=[asset_key(product, "staged")],
        partitions_def=partitions,
        group_name=product.name,
        kinds=merge_kinds(config),
        owners=product.owners,
        tags={ROLE_TAG: "published"},
        metadata=merge_definition_metadata(product),
        freshness_policy=merge_freshness(product),
        description=described(
            product,
            f"{product.name}_merge: {product.milestone} milestoned merge table, one batch per version "
            f"({product.mode} mode); the view {product.name}_live holds its live rows.",
        ),
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    @scrubbed_step
    def merge(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
        services = platform.services_for(context)
        with reported_errors():
            for version in registered_versions(context, services.catalog, product):  # in version order
                result = merge_version(services, product, version)
                context.log.info(
                    f"{product.name} batch {version}: {result.status}; +{result.inserted} ~{result.updated} "
                    f"-{result.deleted}, {result.live_count} live"
                )
                context.add_asset_metadata(
                    merge_metadata(services, product, result), partition_key=partition_key(version)
                )
                context.log_event(version_observation(product.name, version, MERGED))
        return dg.MaterializeResult()

    return merge


def merge_metadata(services: Services, product: ProductConfig, result: BatchResult) -> dict[str, dg.MetadataValue]:
    _, history = table_row_counts(services.merge_store, product)
    entries = batch_log(services.merge_store, product.name)[-10:]
    columns = [(name, str(kind)) for name, kind in (merge_columns(services, product, result.batch) or {}).items()]
    return {
        COLUMN_SCHEMA_KEY: dg.MetadataValue.table_schema(merge_columns_schema(product, columns)),
        COLUMN_LINEAGE_KEY: dg.MetadataValue.column_lineage(merge_lineage(product, [name for name, _ in columns])),
        "schema_change": dg.MetadataValue.text(result.schema_change or "none"),
        "batch": dg.MetadataValue.int(result.batch),
        "status": dg.MetadataValue.text(str(result.status)),
        "inserted": dg.MetadataValue.int(result.inserted),
        "updated": dg.MetadataValue.int(result.updated),
        "deleted": dg.MetadataValue.int(result.deleted),
        "live_rows": dg.MetadataValue.int(result.live_count),
        "table_rows": dg.MetadataValue.int(history),
        "load_s": dg.MetadataValue.float(round(result.load_s, 3)),
        "merge_s": dg.MetadataValue.float(round(result.merge_s, 3)),
        "duration_s": dg.MetadataValue.float(round(result.duration_s, 3)),
        "dagster/row_count": dg.MetadataValue.int(result.live_count),
        "merge_table": dg.MetadataValue.text(f"{product.name}_merge ({product.milestone})"),
        "batch_log": dg.MetadataValue.md(
            markdown_table(
                ["batch", "status", "inserted", "updated", "deleted", "live", "committed_at"],
                [(e.batch, e.status, e.inserted, e.updated, e.deleted, e.live_count, e.committed_at) for e in entries],
            )
        ),
        **result_metadata(result),
    }


def build_merge_checks(
    product: ProductConfig, partitions: dg.DynamicPartitionsDefinition
) -> list[dg.AssetChecksDefinition]:
    """``live_rows_match_staged`` on the merge asset, per version (partition)."""

    @dg.asset_check(
        asset=asset_key(product, "merge"),
        name=CHECK_NAME,
        partitions_def=partitions,
        description=(
            "After merging a snapshot, the live rows equal the version's staged rows."
            if product.mode == "snapshot"
            else "After merging a version, every key it staged is live."
        ),
    )
    @scrubbed_step
    def live_rows_match_staged(
        context: dg.AssetCheckExecutionContext, platform: PlatformResource
    ) -> dg.AssetCheckResult:
        services = platform.services()
        results = [check_live_rows(services, product, version) for version in versions_of(context.partition_keys)]
        failed = [result for result in results if not result.passed]
        last = (failed or results)[-1]
        return dg.AssetCheckResult(
            passed=not failed,
            description="; ".join(result.detail for result in (failed or results)),
            metadata={
                "version": dg.MetadataValue.int(last.batch),
                "live_rows": dg.MetadataValue.int(last.live_rows),
                "staged_rows": dg.MetadataValue.int(last.staged_rows),
                "missing_keys": dg.MetadataValue.int(last.missing_keys),
                "newest_batch": dg.MetadataValue.int(last.newest_batch or 0),
            },
        )

    return [live_rows_match_staged]
