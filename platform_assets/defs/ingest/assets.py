"""``<product>/raw_files``: capture a version's source files into the raw zone."""

import dagster as dg
from sqlalchemy import select

from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import RawFile, Version
from platform_assets.catalog.products import get_product
from platform_assets.config import ProductConfig
from platform_assets.defs.metadata import markdown_table
from platform_assets.defs.partitions import asset_key, db_kind, storage_kind
from platform_assets.defs.resources import PlatformResource

PREVIEW_FILES = 20


def build_raw_files_asset(
    product: ProductConfig, partitions: dg.DynamicPartitionsDefinition, raw_zone_url: str, state_db_url: str
) -> dg.AssetsDefinition:
    key = asset_key(product, "raw_files")

    @dg.asset(
        key=key,
        partitions_def=partitions,
        group_name=product.name,
        kinds={storage_kind(raw_zone_url), db_kind(state_db_url)},
        description=(
            f"Source files of {product.name} captured per version into the raw zone ({product.mode} mode), one "
            "catalog row per file."
        ),
        check_specs=[
            dg.AssetCheckSpec(
                "all_files_captured", asset=key, description="Every file of the version reached the raw zone."
            )
        ],
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def raw_files(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
        service = platform.platform()
        results = []
        for version in sorted(int(key) for key in context.partition_keys):  # a backfill runs once, oldest first
            result = service.capture(product.name, version)
            context.log.info(
                f"{product.name} v{version}: {result.copied_now} copied now, {result.already_captured} already "
                f"captured, {len(result.failed)} failed"
            )
            results.append(result)
        last = results[-1]
        metadata = capture_metadata(service.state_engine, product.name, last.version)
        metadata.update(
            {
                "copied_now": dg.MetadataValue.int(sum(result.copied_now for result in results)),
                "empty_files": dg.MetadataValue.int(len(last.empty_files)),
                "failed_files": dg.MetadataValue.int(len(last.failed)),
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


def capture_metadata(engine, product_name: str, version: int) -> dict[str, dg.MetadataValue]:  # type: ignore[no-untyped-def]
    """Files, bytes, the change against the previous version and a preview of the first files."""
    with transaction(engine) as session:
        product = get_product(session, product_name)
        record = session.scalars(
            select(Version).where(Version.product_id == product.id, Version.number == version)
        ).one()
        preview = session.execute(
            select(RawFile.key, RawFile.size, RawFile.change, RawFile.status, RawFile.sha256)
            .where(RawFile.product_id == product.id, RawFile.version == version)
            .order_by(RawFile.key)
            .limit(PREVIEW_FILES)
        ).all()
        return {
            "version": dg.MetadataValue.int(version),
            "version_status": dg.MetadataValue.text(str(record.status)),
            "files": dg.MetadataValue.int(record.file_count),
            "bytes": dg.MetadataValue.int(record.byte_count),
            "new_files": dg.MetadataValue.int(record.new_count),
            "changed_files": dg.MetadataValue.int(record.changed_count),
            "removed_files": dg.MetadataValue.int(record.removed_count),
            "parent_version": dg.MetadataValue.int(record.parent_number or 0),
            "dagster/row_count": dg.MetadataValue.int(record.file_count),
            "first_files": dg.MetadataValue.md(
                markdown_table(
                    ["key", "bytes", "change", "status", "sha256"],
                    [(k, s, c, st, (sha or "")[:16]) for k, s, c, st, sha in preview],
                )
            ),
        }
