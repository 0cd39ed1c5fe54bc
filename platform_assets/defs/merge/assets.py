"""``<product>/merge``: merge each processed version as batch v into the milestoned merge table."""

import dagster as dg

from platform_assets.config import PlatformConfig, ProductConfig
from platform_assets.defs.metadata import markdown_table
from platform_assets.defs.partitions import asset_key, versions_of
from platform_assets.defs.presentation import (
    ROLE_TAG,
    described,
    merge_definition_metadata,
    merge_freshness,
    merge_kinds,
)
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import reported_errors, result_metadata, scrubbed_step
from platform_assets.merge import BatchResult, batch_log
from platform_assets.merge.versions import merge_version, table_row_counts
from platform_assets.services import Services

CHECK_NAME = "live_rows_match_staged"


def build_merge_asset(
    config: PlatformConfig, product: ProductConfig, partitions: dg.DynamicPartitionsDefinition
) -> dg.AssetsDefinition:
    key = asset_key(product, "merge")
    checks = []
    if product.mode == "snapshot":
        checks.append(
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                description="After merging a snapshot, the live rows equal the version's staged rows.",
            )
        )

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
        check_specs=checks,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    @scrubbed_step
    def merge(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
        services = platform.services().in_run(context.run_id)
        results = []
        with reported_errors():
            for version in versions_of(context.partition_keys):  # in version order
                result = merge_version(services, product, version)
                context.log.info(
                    f"{product.name} batch {version}: {result.status}; +{result.inserted} ~{result.updated} "
                    f"-{result.deleted}, {result.live_count} live"
                )
                results.append(result)
            last = results[-1]
            metadata = merge_metadata(services, product, last)
            check_results = [live_rows_check(services, product, last.batch)] if checks else []
        if len(results) > 1:
            metadata["batches"] = dg.MetadataValue.md(
                markdown_table(
                    ["batch", "status", "inserted", "updated", "deleted", "live"],
                    [(r.batch, r.status, r.inserted, r.updated, r.deleted, r.live_count) for r in results],
                )
            )
        return dg.MaterializeResult(metadata=metadata, check_results=check_results)

    return merge


def merge_metadata(services: Services, product: ProductConfig, result: BatchResult) -> dict[str, dg.MetadataValue]:
    _, history = table_row_counts(services.merge_store, product)
    entries = batch_log(services.merge_store, product.name)[-10:]
    return {
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


def live_rows_check(services: Services, product: ProductConfig, batch: int) -> dg.AssetCheckResult:
    """The live view holds exactly the rows staged for the newest merged snapshot."""
    live, _ = table_row_counts(services.merge_store, product)
    staged = services.catalog.rows_written(product.name, batch)
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        passed=live == staged,
        metadata={
            "live_rows": dg.MetadataValue.int(live),
            "staged_rows": dg.MetadataValue.int(staged),
            "batch": dg.MetadataValue.int(batch),
        },
        description=None
        if live == staged
        else f"{live} live rows after batch {batch}, but the version staged {staged} rows",
    )
