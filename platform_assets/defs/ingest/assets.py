"""``<product>/raw_files``: capture a version's source files into the raw zone."""

import dagster as dg

from platform_assets.catalog import Catalog
from platform_assets.config import PlatformConfig, ProductConfig
from platform_assets.defs.metadata import markdown_table
from platform_assets.defs.partitions import asset_key, versions_of
from platform_assets.defs.presentation import described, raw_files_kinds
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import reported_errors, result_metadata, scrubbed_step
from platform_assets.ingest.capture import capture_version

PREVIEW_FILES = 20


def build_raw_files_asset(
    config: PlatformConfig, product: ProductConfig, partitions: dg.DynamicPartitionsDefinition
) -> dg.AssetsDefinition:
    key = asset_key(product, "raw_files")

    @dg.asset(
        key=key,
        partitions_def=partitions,
        group_name=product.name,
        kinds=raw_files_kinds(config),
        owners=product.owners,
        description=described(
            product,
            f"Source files of {product.name} captured per version into the raw zone ({product.mode} mode), one "
            "catalog row per file.",
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "all_files_captured",
                asset=key,
                blocking=True,  # a version whose capture failed is not processed in the same run
                description="Every file of the version reached the raw zone.",
            )
        ],
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    @scrubbed_step
    def raw_files(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
        services = platform.services().in_run(context.run_id)
        results = []
        with reported_errors():
            for version in versions_of(context.partition_keys):  # a backfill runs once, oldest first
                result = capture_version(services, product, version)
                context.log.info(
                    f"{product.name} v{version}: {result.copied_now} copied now, {result.already_captured} already "
                    f"captured, {len(result.failed)} failed"
                )
                results.append(result)
            last = results[-1]
            metadata = capture_metadata(services.catalog, product.name, last.version)
        metadata.update(
            {
                "copied_now": dg.MetadataValue.int(sum(result.copied_now for result in results)),
                "empty_files": dg.MetadataValue.int(len(last.empty_files)),
                "failed_files": dg.MetadataValue.int(len(last.failed)),
                **result_metadata(last),
            }
        )
        failed = sorted(
            (result.version, key_, message) for result in results for key_, message in result.failed.items()
        )
        check = dg.AssetCheckResult(
            check_name="all_files_captured",
            passed=not failed,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "failed_files": dg.MetadataValue.int(len(failed)),
                "failures": dg.MetadataValue.md(
                    markdown_table(["version", "key", "reason"], failed[:PREVIEW_FILES]) if failed else "none"
                ),
            },
        )
        return dg.MaterializeResult(metadata=metadata, check_results=[check])

    return raw_files


def capture_metadata(catalog: Catalog, product_name: str, version: int) -> dict[str, dg.MetadataValue]:
    """Files, bytes, the change against the previous version and a preview of the first files."""
    record = catalog.version(product_name, version)
    preview = catalog.file_preview(product_name, version, PREVIEW_FILES)
    return {
        "version": dg.MetadataValue.int(version),
        "version_status": dg.MetadataValue.text(str(record.status)),
        "files": dg.MetadataValue.int(record.files),
        "bytes": dg.MetadataValue.int(record.bytes),
        "new_files": dg.MetadataValue.int(record.new),
        "changed_files": dg.MetadataValue.int(record.changed),
        "removed_files": dg.MetadataValue.int(record.removed),
        "parent_version": dg.MetadataValue.int(record.parent or 0),
        "first_files": dg.MetadataValue.md(
            markdown_table(
                ["key", "bytes", "change", "status", "sha256"],
                [(f.key, f.size, f.change, f.status, (f.sha256 or "")[:16]) for f in preview],
            )
        ),
    }
