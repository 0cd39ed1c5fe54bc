"""Retention of a product's versions as a Dagster job on a daily schedule.

Contract:
- ``<product>_retention`` runs one op that plans retention
  (:func:`platform_assets.versions.purge.run_retention`, the rules of ``versions/retention.py``) and
  purges the plan's versions only when ``retention.apply`` is true (run config ``apply`` overrides it
  for one run); otherwise the run is a dry run and says so. Either way it records an observation of
  ``<product>/raw_files`` whose metadata holds the figures as numbers (``candidates``, ``purged``,
  ``kept``, ``raw_copies_deleted``, ``rows_deleted``), whether it applied, the plan as a markdown table,
  and the report as JSON under ``platform/result``. Its audit events name the run.
- ``<product>_retention_schedule`` runs the job daily at 03:00 UTC, running by default (a dry run
  changes nothing; ``apply`` decides).
- Owners: the product's ``owners``; kinds: iceberg and the raw zone's store.
"""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from platform_assets.config import PlatformConfig, ProductConfig
from platform_assets.defs.actors import run_actor
from platform_assets.defs.metadata import markdown_table
from platform_assets.defs.partitions import asset_key
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import reported_errors, result_metadata, scrubbed_step
from platform_assets.versions.purge import RetentionReport, run_retention

DAILY = "0 3 * * *"


def retention_job_name(product_name: str) -> str:
    return f"{product_name}_retention"


def retention_schedule_name(product_name: str) -> str:
    return f"{product_name}_retention_schedule"


def retention_op_name(product_name: str) -> str:
    return f"{product_name}_retention_plan"


class RetentionConfig(dg.Config):
    """Whether this run purges; unset: the product's ``retention.apply``."""

    apply: bool | None = Field(default=None, description="purge now (true) or only plan (false); unset: config")


def report_metadata(report: RetentionReport) -> dict[str, dg.MetadataValue]:
    """The report's figures as numbers, the plan as a table, and the report as JSON."""
    plan = report.plan
    purged = {item.version: item for item in report.purged}
    rows = [
        (
            c.version,
            c.status,
            "purged" if c.version in purged else ("skipped" if report.applied else "would purge"),
            c.rule,
            c.reason,
        )
        for c in plan.candidates
    ]
    rows += [(k.version, k.status, "kept", "", k.reason) for k in plan.kept]
    return {
        "applied": dg.MetadataValue.bool(report.applied),
        "candidates": dg.MetadataValue.int(len(plan.candidates)),
        "purged": dg.MetadataValue.int(len(report.purged)),
        "kept": dg.MetadataValue.int(len(plan.kept)),
        "raw_copies_deleted": dg.MetadataValue.int(sum(item.raw_copies_deleted for item in report.purged)),
        "rows_deleted": dg.MetadataValue.int(sum(item.rows_deleted for item in report.purged)),
        "snapshots_expired": dg.MetadataValue.int(report.snapshots_expired),
        "data_files_deleted": dg.MetadataValue.int(report.data_files_deleted),
        "plan": dg.MetadataValue.md(
            markdown_table(["version", "status", "retention", "rule", "why"], sorted(rows)) if rows else "no versions"
        ),
        **result_metadata(report),
    }


def build_retention_defs(
    config: PlatformConfig, product: ProductConfig
) -> tuple[dg.JobDefinition, dg.ScheduleDefinition]:
    """The retention job of ``product`` and its daily schedule."""
    store_kind = "s3" if config.platform.raw_zone.startswith("s3://") else "file"

    @dg.op(
        name=retention_op_name(product.name),
        out={},
        tags={"dagster/kind/iceberg": "", f"dagster/kind/{store_kind}": ""},
        description=f"Plan retention of {product.name}'s versions; purge them when retention.apply is true.",
    )
    @scrubbed_step
    def retention(
        context: dg.OpExecutionContext, config: RetentionConfig, platform: PlatformResource
    ) -> Iterator[dg.AssetObservation]:
        services = platform.services().acting_as(run_actor(context.run.tags)).in_run(context.run_id)
        apply = product.retention.apply if config.apply is None else config.apply
        with reported_errors():
            report = run_retention(services, product, apply=apply)
        done = f"purged {len(report.purged)}" if apply else f"dry run, {len(report.plan.candidates)} would be purged"
        context.log.info(f"{product.name}: retention {done}, {len(report.plan.kept)} kept")
        yield dg.AssetObservation(asset_key=asset_key(product, "raw_files"), metadata=report_metadata(report))

    @dg.job(
        name=retention_job_name(product.name),
        description=(
            f"Retention of {product.name}: plan which versions' raw copies and Iceberg rows go (keep_last, "
            f"unpublished_days, deleted_days) and purge them when retention.apply is true. Same as "
            f"`platform-assets retention {product.name}` (with --apply)."
        ),
        tags={"platform/action": "retention"},
        owners=list(product.owners) or None,
    )
    def job() -> None:
        retention()

    schedule = dg.ScheduleDefinition(
        name=retention_schedule_name(product.name),
        job=job,
        cron_schedule=DAILY,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Daily retention of {product.name} (a dry run unless retention.apply is true).",
        owners=list(product.owners) or None,
    )
    return job, schedule
