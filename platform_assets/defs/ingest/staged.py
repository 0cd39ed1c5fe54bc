"""``<product>/staged``: process a captured version into the product's Iceberg table."""

import dagster as dg
from dagster_pyspark import LazyPySparkResource
from pyiceberg.expressions import EqualTo
from sqlalchemy import func, select

from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import FileStatus, RawFile
from platform_assets.catalog.products import get_product
from platform_assets.config import ProductConfig
from platform_assets.defs.metadata import markdown_table
from platform_assets.defs.partitions import asset_key, db_kind
from platform_assets.defs.resources import PlatformResource
from platform_assets.ingest.processing import ProcessReport
from platform_assets.platform import Platform

PREVIEW_ROWS = 10
CHECK_NAME = "no_failed_files"


class ProcessConfig(dg.Config):
    """How a materialization of ``staged`` treats the version."""

    retry_failed: bool = False
    reprocess: bool = True  # a PROCESSED version materialized again is replaced, never duplicated


def build_staged_asset(
    product: ProductConfig, partitions: dg.DynamicPartitionsDefinition, engine_name: str, state_db_url: str
) -> dg.AssetsDefinition:
    key = asset_key(product, "staged")

    @dg.asset(
        key=key,
        deps=[asset_key(product, "raw_files")],
        partitions_def=partitions,
        group_name=product.name,
        kinds={"iceberg", "spark" if engine_name == "spark" else "pyarrow", db_kind(state_db_url)},
        description=(
            f"Rows of {product.name} parsed from each version's files ({engine_name} engine) into the Iceberg table, "
            "partitioned by _version."
        ),
        check_specs=[
            dg.AssetCheckSpec(CHECK_NAME, asset=key, blocking=True, description="No file of the version is FAILED.")
        ],
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def staged(
        context: dg.AssetExecutionContext,
        config: ProcessConfig,
        platform: PlatformResource,
        pyspark: LazyPySparkResource,
    ) -> dg.MaterializeResult:
        service = platform.platform()
        versions = sorted(int(key) for key in context.partition_keys)  # a backfill runs once, oldest version first
        reports = []
        for version in versions:
            report = service.process(
                product.name,
                version,
                retry_failed=config.retry_failed,
                reprocess=config.reprocess,
                parser=service.parser_for(product, lambda: pyspark.spark_session),
            )
            context.log.info(
                f"{product.name} v{version}: {report.rows_written} rows written, {report.rows_rejected} rejected, "
                f"{report.files_failed} files failed; version {report.version_status}"
            )
            reports.append(report)
        metadata = staged_metadata(service, product, versions[-1], reports[-1])
        if len(reports) > 1:
            metadata["versions"] = dg.MetadataValue.md(
                markdown_table(
                    ["version", "status", "rows", "rejected", "failed files"],
                    [(r.version, r.version_status, r.rows_written, r.rows_rejected, r.files_failed) for r in reports],
                )
            )
        checks = [failed_files_check(service, product, versions)]
        return dg.MaterializeResult(metadata=metadata, check_results=checks)

    return staged


def staged_metadata(
    service: Platform, product: ProductConfig, version: int, report: ProcessReport
) -> dict[str, object]:
    """Numbers the UI plots across versions, the Iceberg snapshot, the schema and a preview."""
    table = service.iceberg_catalog.load_table(service.process_target(product.name).table)
    schema = table.schema().as_arrow()
    preview = table.scan(row_filter=EqualTo("_version", version), limit=PREVIEW_ROWS).to_arrow()
    with transaction(service.state_engine) as session:
        product_id = get_product(session, product.name).id
        version_rows = session.scalar(
            select(func.coalesce(func.sum(RawFile.rows_written), 0)).where(
                RawFile.product_id == product_id,
                RawFile.version == version,
                RawFile.status == FileStatus.PROCESSED,
            )
        )
        version_rejects = session.scalar(
            select(func.coalesce(func.sum(RawFile.rows_rejected), 0)).where(
                RawFile.product_id == product_id, RawFile.version == version
            )
        )
    snapshot = table.current_snapshot()
    counts = report.file_counts
    return {
        "rows_written": dg.MetadataValue.int(report.rows_written),
        "rows_rejected": dg.MetadataValue.int(report.rows_rejected),
        "version_rows": dg.MetadataValue.int(int(version_rows or 0)),
        "version_rejected_rows": dg.MetadataValue.int(int(version_rejects or 0)),
        "files_processed": dg.MetadataValue.int(counts.get(FileStatus.PROCESSED, 0)),
        "files_failed": dg.MetadataValue.int(counts.get(FileStatus.FAILED, 0)),
        "files_skipped": dg.MetadataValue.int(counts.get(FileStatus.SKIPPED, 0)),
        "files_recovered": dg.MetadataValue.int(report.files_recovered),
        "bytes_read": dg.MetadataValue.int(report.bytes_read),
        "duration_s": dg.MetadataValue.float(round(report.duration_s, 3)),
        "version_status": dg.MetadataValue.text(str(report.version_status)),
        "iceberg_table": dg.MetadataValue.text(service.process_target(product.name).table),
        "iceberg_snapshot_id": dg.MetadataValue.text(str(snapshot.snapshot_id) if snapshot else ""),
        "dagster/row_count": dg.MetadataValue.int(int(version_rows or 0)),
        "dagster/column_schema": dg.TableSchema(
            columns=[dg.TableColumn(field.name, str(field.type)) for field in schema]
        ),
        "preview": dg.MetadataValue.md(
            markdown_table(
                preview.column_names, [[row[name] for name in preview.column_names] for row in preview.to_pylist()]
            )
            if preview.num_rows
            else "no rows"
        ),
    }


def failed_files_check(service: Platform, product: ProductConfig, versions: list[int]) -> dg.AssetCheckResult:
    """Fails, listing each FAILED file of ``versions`` with its error and attempts."""
    with transaction(service.state_engine) as session:
        product_id = get_product(session, product.name).id
        failed = session.execute(
            select(RawFile.version, RawFile.key, RawFile.error_type, RawFile.error_message, RawFile.retry_count)
            .where(
                RawFile.product_id == product_id,
                RawFile.version.in_(versions),
                RawFile.status == FileStatus.FAILED,
            )
            .order_by(RawFile.version, RawFile.key)
        ).all()
    max_retries = service.config.platform.processing.max_retries
    rows = [
        (version, key, error_type, f"{retries}/{max_retries}", message)
        for version, key, error_type, message, retries in failed[:50]
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
