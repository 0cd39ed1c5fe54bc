"""``<product>/staged``: process a captured version into the product's Iceberg table.

Contract:
- One materialization per version (partition), with that version's own
  figures (``rows_written``, ``files_processed``, ...); a backfill runs one
  version per run (processing order does not matter, merge order does).
- A version that ends FAILED fails the step: the run is red, its error names
  each failed file and why, and carries the first rejected rows
  (:data:`REJECTED_ROWS_KEY`) and where to query the rest
  (:data:`REJECTS_QUERY_KEY`); the materialization of a processed version
  carries the same two keys.
- A version processed and decided since (published, reviewed, superseded) is
  not processed again: a successful materialization with its figures as they
  are, ``outcome`` ``unchanged, decided`` and a ``note`` saying so (also logged).
"""

import dagster as dg
import pyarrow as pa
from dagster_pyspark import LazyPySparkResource

from platform_assets.actions import exclude_action, retry_action, skip_action
from platform_assets.catalog.states import FileStatus
from platform_assets.config import PlatformConfig, ProductConfig
from platform_assets.defs.metadata import markdown_table, version_observation
from platform_assets.defs.partitions import asset_key, partition_key, registered_versions
from platform_assets.defs.presentation import (
    COLUMN_SCHEMA_KEY,
    described,
    staged_columns,
    staged_definition_metadata,
    staged_kinds,
    table_schema,
)
from platform_assets.defs.progress import run_progress
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import reported_errors, result_metadata, scrubbed_step, version_failed
from platform_assets.ingest.processing import ProcessOptions, ProcessReport, process_version
from platform_assets.secrets import scrub
from platform_assets.services import Services
from platform_assets.versions.diff import DiffRefused, diff_against_baseline, diff_markdown

PREVIEW_ROWS = 10
PREVIEW_REJECTS = 20
REJECTED_ROWS_KEY = "rejected_rows"
REJECTS_QUERY_KEY = "rejects_query"


class ProcessConfig(dg.Config):
    """How a materialization of ``staged`` treats the version."""

    retry_failed: bool = False
    reprocess: bool = True  # a PROCESSED version materialized again is replaced, never duplicated


def spark_services(
    platform: PlatformResource,
    pyspark: LazyPySparkResource,
    context: dg.OpExecutionContext | dg.AssetExecutionContext | None = None,
) -> Services:
    """The platform's services (acting for the run's actor), with Spark products parsed on the resource's session."""
    services = platform.services_for(context) if context is not None else platform.services()
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
        backfill_policy=dg.BackfillPolicy.multi_run(1),
    )
    @scrubbed_step
    def staged(
        context: dg.AssetExecutionContext,
        config: ProcessConfig,
        platform: PlatformResource,
        pyspark: LazyPySparkResource,
    ) -> dg.MaterializeResult:
        services = spark_services(platform, pyspark, context)
        options = ProcessOptions(
            retry_failed=config.retry_failed, reprocess=config.reprocess, progress=run_progress(context)
        )
        reports = []
        with reported_errors():
            for version in registered_versions(context, services.catalog, product):
                report = process_version(services, product, version, options)
                context.log.info(report_line(report))
                reports.append(report)
                context.log_event(version_observation(product.name, version, str(report.version_status)))
                if report.succeeded:
                    context.add_asset_metadata(
                        staged_metadata(services, product, report), partition_key=partition_key(version)
                    )
        failed = [report for report in reports if not report.succeeded]
        if failed:
            raise processing_failed(services, product, failed)
        return dg.MaterializeResult()

    return staged


def report_line(report: ProcessReport) -> str:
    """The run log's line for one version: what processing did, or why it left a decided version as it was."""
    if report.unchanged:
        return report.note
    return (
        f"{report.product} v{report.version}: {report.rows_written} rows written, {report.rows_rejected} "
        f"rejected, {report.files_failed} files failed; version {report.version_status}"
    )


def processing_failed(services: Services, product: ProductConfig, failed: list[ProcessReport]) -> dg.Failure:
    """The run's error for versions that ended FAILED: each failed file and why, and the first rejected rows."""
    lines = [
        f"{product.name} v{report.version} is {report.version_status}: "
        + "; ".join(f"{key}: {message}" for key, message in sorted(report.version_failures.items()))
        for report in failed
    ]
    last = failed[-1]
    metadata = {
        "version": dg.MetadataValue.int(last.version),
        "version_status": dg.MetadataValue.text(str(last.version_status)),
        "failed_files": dg.MetadataValue.md(
            markdown_table(["key", "reason"], sorted(last.version_failures.items())) or "none"
        ),
        "rows_rejected": dg.MetadataValue.int(last.version_rows_rejected),
        **rejects_metadata(services, product, last.version),
        "next_steps": dg.MetadataValue.md(recovery_hint(product, last.version)),
    }
    return version_failed(asset_key(product, "staged"), "\n".join(lines), list(failed), metadata)


def recovery_hint(product: ProductConfig, version: int) -> str:
    """What a user can do about a FAILED version, in the UI and on the command line."""
    return (
        f"Fix the file, then {retry_action(product.name, version)}; or {skip_action(product.name, version)}; or "
        f"{exclude_action(product.name, version)} so that later versions merge."
    )


def rejects_metadata(services: Services, product: ProductConfig, version: int) -> dict[str, dg.MetadataValue]:
    """The version's first rejected rows (file, line, reason, raw text) and the query for all of them."""
    rows = services.iceberg.rejected_rows(product.name, version, PREVIEW_REJECTS)
    identifier = services.iceberg.rejects_table(product.name)
    return {
        REJECTED_ROWS_KEY: rejects_table_value(rows),
        REJECTS_QUERY_KEY: dg.MetadataValue.text(
            f"SELECT _source_file, _line_number, _reason, _raw FROM {identifier} WHERE _version = {version} "
            "ORDER BY _source_file, _line_number"
        ),
    }


def rejects_table_value(rows: pa.Table) -> dg.MetadataValue:
    columns = [
        dg.TableColumn("file", "string"),
        dg.TableColumn("line", "int"),
        dg.TableColumn("reason", "string"),
        dg.TableColumn("raw", "string"),
    ]
    records = [
        dg.TableRecord(
            {
                "file": row["_source_file"],
                "line": row["_line_number"],
                "reason": scrub(row["_reason"] or ""),
                "raw": scrub(row["_raw"] or ""),
            }
        )
        for row in rows.to_pylist()
    ]
    return dg.MetadataValue.table(records, schema=dg.TableSchema(columns=columns))


def schema_metadata(
    services: Services, product: ProductConfig, version: int, table: pa.Schema
) -> dict[str, dg.MetadataValue]:
    """The schema version the version was processed under as the column schema (with the platform's columns of
    ``table``, the Iceberg table's schema), its number and what it changed."""
    schema = services.catalog.schema_of_version(product.name, version)
    if schema is None:  # processed before schema versions were recorded: the Iceberg table's columns
        columns = [(field.name, str(field.type)) for field in table]
        return {COLUMN_SCHEMA_KEY: dg.MetadataValue.table_schema(table_schema(product, columns))}
    introduced = schema.introduced_by == version
    return {
        COLUMN_SCHEMA_KEY: dg.MetadataValue.table_schema(staged_columns(product, schema.columns, table.names)),
        "schema_version": dg.MetadataValue.int(schema.number),
        "schema_change": dg.MetadataValue.text(
            schema.change if introduced else f"none: schema version {schema.number} (since v{schema.introduced_by})"
        ),
    }


def staged_metadata(services: Services, product: ProductConfig, report: ProcessReport) -> dict[str, dg.MetadataValue]:
    """Numbers the UI plots across versions, the Iceberg snapshot, the schema, a preview and the result."""
    view = services.iceberg.view(product.name, report.version, PREVIEW_ROWS)
    counts = report.file_counts
    preview = view.preview
    return {
        "version": dg.MetadataValue.int(report.version),
        "outcome": dg.MetadataValue.text(report.outcome),
        **({"note": dg.MetadataValue.md(report.note)} if report.note else {}),
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
        **schema_metadata(services, product, report.version, view.schema),
        "preview": dg.MetadataValue.md(
            markdown_table(
                preview.column_names, [[row[name] for name in preview.column_names] for row in preview.to_pylist()]
            )
            if preview.num_rows
            else "no rows"
        ),
        **(rejects_metadata(services, product, report.version) if report.version_rows_rejected else {}),
        **diff_metadata(services, product, report.version),
        **result_metadata(report),
    }


def diff_metadata(services: Services, product: ProductConfig, version: int) -> dict[str, dg.MetadataValue]:
    """The version diff against the published (else the previous) version, as markdown, and its row counts."""
    try:
        diff = diff_against_baseline(services, product, version)
    except DiffRefused as refused:
        return {"diff": dg.MetadataValue.md(f"no diff: {refused}")}
    except Exception as error:  # the diff is an extra: it never fails the version's processing
        return {"diff": dg.MetadataValue.md(scrub(f"diff failed ({type(error).__name__}): {error}"))}
    if diff is None:
        return {"diff": dg.MetadataValue.md("no earlier version to compare with")}
    return {
        "diff": dg.MetadataValue.md(diff_markdown(diff)),
        "diff_rows_added": dg.MetadataValue.int(diff.rows.added),
        "diff_rows_removed": dg.MetadataValue.int(diff.rows.removed),
        "diff_rows_changed": dg.MetadataValue.int(diff.rows.changed),
    }
