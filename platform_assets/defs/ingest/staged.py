"""``<product>/staged``: process a captured version into the product's Iceberg table."""

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from platform_assets.catalog.states import FileStatus
from platform_assets.config import PlatformConfig, ProductConfig
from platform_assets.defs.metadata import markdown_table
from platform_assets.defs.partitions import asset_key, versions_of
from platform_assets.defs.presentation import described, staged_definition_metadata, staged_kinds, table_schema
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import reported_errors, result_metadata, scrubbed_step
from platform_assets.ingest.processing import ProcessOptions, ProcessReport, process_version
from platform_assets.services import Services

PREVIEW_ROWS = 10
CHECK_NAME = "no_failed_files"


class ProcessConfig(dg.Config):
    """How a materialization of ``staged`` treats the version."""

    retry_failed: bool = False
    reprocess: bool = True  # a PROCESSED version materialized again is replaced, never duplicated


def spark_services(platform: PlatformResource, pyspark: LazyPySparkResource) -> Services:
    """The platform's services, with Spark products parsed on the Dagster resource's session."""
    services = platform.services()
    return services.with_parsers(services.parsers.with_spark(lambda: pyspark.spark_session))


def build_staged_asset(
    config: PlatformConfig, product: ProductConfig, partitions: dg.DynamicPartitionsDefinition
) -> dg.AssetsDefinition:
    key = asset_key(product, "staged")

    @dg.asset(
        key=key,
        deps=[asset_key(product, "raw_files")],
        partitions_def=partitions,
        group_name=product.name,
        kinds=staged_kinds(config, product),
        owners=product.owners,
        metadata=staged_definition_metadata(config, product),
        description=described(
            product,
            f"Rows of {product.name} parsed from each version's files ({config.parser_name(product)} parser) into "
            "the Iceberg table, partitioned by _version.",
        ),
        check_specs=[
            dg.AssetCheckSpec(CHECK_NAME, asset=key, blocking=True, description="No file of the version is FAILED.")
        ],
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    @scrubbed_step
    def staged(
        context: dg.AssetExecutionContext,
        config: ProcessConfig,
        platform: PlatformResource,
        pyspark: LazyPySparkResource,
    ) -> dg.MaterializeResult:
        services = spark_services(platform, pyspark).in_run(context.run_id)
        options = ProcessOptions(retry_failed=config.retry_failed, reprocess=config.reprocess)
        reports = []
        with reported_errors():
            versions = versions_of(context.partition_keys)  # a backfill runs once, oldest version first
            for version in versions:
                report = process_version(services, product, version, options)
                context.log.info(
                    f"{product.name} v{version}: {report.rows_written} rows written, {report.rows_rejected} "
                    f"rejected, {report.files_failed} files failed; version {report.version_status}"
                )
                reports.append(report)
            metadata = staged_metadata(services, product, reports[-1])
            checks = [failed_files_check(services, product, versions)]
        if len(reports) > 1:
            metadata["versions"] = dg.MetadataValue.md(
                markdown_table(
                    ["version", "status", "rows", "rejected", "failed files"],
                    [(r.version, r.version_status, r.rows_written, r.rows_rejected, r.files_failed) for r in reports],
                )
            )
        return dg.MaterializeResult(metadata=metadata, check_results=checks)

    return staged


def staged_metadata(services: Services, product: ProductConfig, report: ProcessReport) -> dict[str, dg.MetadataValue]:
    """Numbers the UI plots across versions, the Iceberg snapshot, the schema, a preview and the result."""
    view = services.iceberg.view(product.name, report.version, PREVIEW_ROWS)
    counts = report.file_counts
    preview = view.preview
    return {
        "rows_written": dg.MetadataValue.int(report.rows_written),
        "rows_rejected": dg.MetadataValue.int(report.rows_rejected),
        "version_rows": dg.MetadataValue.int(report.version_rows),
        "version_rejected_rows": dg.MetadataValue.int(report.version_rows_rejected),
        "files_processed": dg.MetadataValue.int(counts.get(FileStatus.PROCESSED, 0)),
        "files_failed": dg.MetadataValue.int(counts.get(FileStatus.FAILED, 0)),
        "files_skipped": dg.MetadataValue.int(counts.get(FileStatus.SKIPPED, 0)),
        "files_recovered": dg.MetadataValue.int(report.files_recovered),
        "bytes_read": dg.MetadataValue.int(report.bytes_read),
        "duration_s": dg.MetadataValue.float(round(report.duration_s, 3)),
        "version_status": dg.MetadataValue.text(str(report.version_status)),
        "iceberg_table": dg.MetadataValue.text(view.identifier),
        "iceberg_snapshot_id": dg.MetadataValue.text("" if view.snapshot_id is None else str(view.snapshot_id)),
        "dagster/row_count": dg.MetadataValue.int(report.version_rows),
        "dagster/column_schema": dg.MetadataValue.table_schema(
            table_schema(product, [(field.name, str(field.type)) for field in view.schema])
        ),
        "preview": dg.MetadataValue.md(
            markdown_table(
                preview.column_names, [[row[name] for name in preview.column_names] for row in preview.to_pylist()]
            )
            if preview.num_rows
            else "no rows"
        ),
        **result_metadata(report),
    }


def failed_files_check(services: Services, product: ProductConfig, versions: list[int]) -> dg.AssetCheckResult:
    """Fails, listing each FAILED file of ``versions`` with its error and attempts."""
    failed = services.catalog.failed_files(product.name, versions)
    max_retries = services.processing.max_retries
    rows = [
        (file.version, file.key, file.error_type, f"{file.attempts}/{max_retries}", file.error_message)
        for file in failed[:50]
    ]
    return dg.AssetCheckResult(
        check_name=CHECK_NAME,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "failed_files": dg.MetadataValue.int(len(failed)),
            "failures": dg.MetadataValue.md(
                markdown_table(["version", "key", "error", "attempts", "message"], rows) if rows else "none"
            ),
        },
    )
