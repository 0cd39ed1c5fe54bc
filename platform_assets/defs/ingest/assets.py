"""``<product>/raw_files``: capture a version's source files into the raw zone."""

import dagster as dg

from platform_assets.actions import exclude_action, skip_action, sync_action
from platform_assets.catalog import Catalog
from platform_assets.config import PlatformConfig, ProductConfig
from platform_assets.defs.metadata import markdown_table
from platform_assets.defs.partitions import asset_key, partition_key, registered_versions
from platform_assets.defs.presentation import described, raw_files_kinds
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import reported_errors, result_metadata, scrubbed_step, version_failed
from platform_assets.ingest.capture import CaptureResult, capture_version

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
        backfill_policy=dg.BackfillPolicy.multi_run(1),
    )
    @scrubbed_step
    def raw_files(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
        services = platform.services_for(context)
        results = []
        with reported_errors():
            for version in registered_versions(context, services.catalog, product):
                result = capture_version(services, product, version)
                context.log.info(
                    f"{product.name} v{version}: {result.copied_now} copied now, {result.already_captured} already "
                    f"captured, {len(result.failed)} failed"
                )
                results.append(result)
                metadata = capture_metadata(services.catalog, product.name, version)
                metadata.update(
                    {
                        "copied_now": dg.MetadataValue.int(result.copied_now),
                        "empty_files": dg.MetadataValue.int(len(result.empty_files)),
                        "failed_files": dg.MetadataValue.int(len(result.failed)),
                        **result_metadata(result),
                    }
                )
                if not result.failed:
                    context.add_asset_metadata(metadata, partition_key=partition_key(version))
        failed = [result for result in results if result.failed]
        if failed:
            raise capture_failed(product, failed)
        return dg.MaterializeResult()

    return raw_files


def capture_failed(product: ProductConfig, failed: list[CaptureResult]) -> dg.Failure:
    """The run's error for versions that ended CAPTURE_FAILED: each file that could not be copied, and why."""
    lines = [
        f"{product.name} v{result.version} is {result.status}: "
        + "; ".join(f"{key}: {message}" for key, message in sorted(result.failed.items()))
        for result in failed
    ]
    last = failed[-1]
    metadata = {
        "version": dg.MetadataValue.int(last.version),
        "capture_status": dg.MetadataValue.text(str(last.status)),
        "failed_files": dg.MetadataValue.md(markdown_table(["key", "reason"], sorted(last.failed.items()))),
        "next_steps": dg.MetadataValue.md(
            f"The next sync captures the files' current state as a new version: {sync_action(product.name)}; "
            f"or {skip_action(product.name, last.version)}; or {exclude_action(product.name, last.version)}."
        ),
    }
    return version_failed(asset_key(product, "raw_files"), "\n".join(lines), list(failed), metadata)


def capture_metadata(catalog: Catalog, product_name: str, version: int) -> dict[str, dg.MetadataValue]:
    """The version's file count, bytes, change against the previous version, and a preview of its first files.

    ``capture_status`` is what capture concluded; the version's later states are
    observed on the same partition as ``version_status`` (see version_observation).
    """
    record = catalog.version(product_name, version)
    preview = catalog.file_preview(product_name, version, PREVIEW_FILES)
    return {
        "version": dg.MetadataValue.int(version),
        "capture_status": dg.MetadataValue.text(str(record.status)),
        "file_count": dg.MetadataValue.int(record.files),
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
