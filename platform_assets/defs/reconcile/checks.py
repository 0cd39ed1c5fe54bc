"""The reconciliation of a product's raw zone as a Dagster asset check, with its job and schedule.

Contract:
- ``raw_zone_reconciled`` on ``<product>/raw_files`` (not blocking, not
  partitioned: it looks at every version) runs
  :func:`platform_assets.versions.reconciliation.reconcile` with run config
  ``deep`` and ``repair`` (unset: the product's ``reconcile:``), so its latest
  evaluation is the latest reconciliation: passed when nothing was found (after
  repair: nothing turned LOST and nothing is left unresolved). Severity ERROR
  when a raw copy is missing, altered or LOST; WARN when only orphans remain.
  Its metadata: the count of each finding and resolution as numbers, a
  ``findings`` table, and the report as JSON under ``platform/result`` (what
  ``platform-assets reconcile`` reads back).
- ``<product>_reconcile`` is the job of that check alone; the schedule
  ``<product>_reconcile_schedule`` runs it at ``reconcile.cron`` (UTC) with the
  product's ``deep`` and ``repair``, running by default unless
  ``reconcile.enabled`` is false.
"""

import dagster as dg

from platform_assets.config import ProductConfig
from platform_assets.defs.actors import run_actor
from platform_assets.defs.metadata import markdown_table
from platform_assets.defs.partitions import asset_key
from platform_assets.defs.progress import run_progress
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import result_metadata, scrubbed_step
from platform_assets.versions.reconcile_findings import FindingKind, Resolution
from platform_assets.versions.reconciliation import ReconcileOptions, ReconcileReport, reconcile

RECONCILED_CHECK = "raw_zone_reconciled"
SHOWN_FINDINGS = 50  # rows of the findings table


def reconcile_job_name(product_name: str) -> str:
    return f"{product_name}_reconcile"


def reconcile_schedule_name(product_name: str) -> str:
    return f"{product_name}_reconcile_schedule"


def reconcile_op_name(product: ProductConfig) -> str:
    """The op of the check (the key of its run config under ``ops``)."""
    return "__".join(asset_key(product, "raw_files").path) + "_" + RECONCILED_CHECK


class ReconcileConfig(dg.Config):
    """How deep to look and whether to repair; unset: the product's ``reconcile:`` settings."""

    deep: bool | None = None
    repair: bool | None = None


def reconcile_result(report: ReconcileReport) -> dg.AssetCheckResult:
    """The check's result: passed when the report is ok; figures, findings table and the report as JSON."""
    copies_bad = sum(report.counts[kind] for kind in FindingKind if kind is not FindingKind.ORPHAN)
    only_orphans = copies_bad == 0 and report.lost == 0
    counts = ", ".join(f"{count} {kind}" for kind, count in report.counts.items() if count) or "nothing found"
    done = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.resolutions.items()))
    rows = [
        (f.kind, f.version, f.key or f.raw_key, f.expected, f.actual, f.resolution or "", f.detail or "")
        for f in report.findings[:SHOWN_FINDINGS]
    ]
    metadata: dict[str, dg.MetadataValue] = {
        **{kind.value: dg.MetadataValue.int(report.counts[kind]) for kind in FindingKind},
        **{outcome.value: dg.MetadataValue.int(report.resolutions.get(outcome, 0)) for outcome in Resolution},
        "copies_checked": dg.MetadataValue.int(report.copies_checked),
        "objects_listed": dg.MetadataValue.int(report.objects_listed),
        "deep": dg.MetadataValue.bool(report.deep),
        "repair": dg.MetadataValue.bool(report.repair),
        "duration_s": dg.MetadataValue.float(round(report.duration_s, 3)),
        "findings": dg.MetadataValue.md(
            markdown_table(["finding", "version", "key", "expected", "actual", "repair", "detail"], rows)
            if rows
            else "none"
        ),
        **result_metadata(report),
    }
    return dg.AssetCheckResult(
        passed=report.ok,
        severity=dg.AssetCheckSeverity.WARN if only_orphans else dg.AssetCheckSeverity.ERROR,
        description=f"{report.product}: {counts}" + (f"; repair: {done}" if done else ""),
        metadata=metadata,
    )


def build_reconcile_check(product: ProductConfig) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key(product, "raw_files"),
        name=RECONCILED_CHECK,
        blocking=False,
        description=(
            f"The catalog and the raw zone of {product.name} agree: every raw copy exists with its size (deep: its "
            f"sha256), and every object under {product.name}/ belongs to a file (_quarantine/ aside)."
        ),
    )
    @scrubbed_step
    def reconciled(
        context: dg.AssetCheckExecutionContext, config: ReconcileConfig, platform: PlatformResource
    ) -> dg.AssetCheckResult:
        services = platform.services().acting_as(run_actor(context.run.tags)).in_run(context.run.run_id)
        settings = product.reconcile
        options = ReconcileOptions(
            deep=settings.deep if config.deep is None else config.deep,
            repair=settings.repair if config.repair is None else config.repair,
            progress=run_progress(context),
        )
        report = reconcile(services, product, options)
        context.log.info(f"{product.name}: reconciled, {report.total} finding(s), ok={report.ok}")
        return reconcile_result(report)

    return reconciled


def build_reconcile_defs(
    product: ProductConfig,
) -> "tuple[dg.AssetChecksDefinition, dg.UnresolvedAssetJobDefinition, dg.ScheduleDefinition]":
    """The check, its job and its schedule."""
    check = build_reconcile_check(product)
    job = dg.define_asset_job(
        reconcile_job_name(product.name),
        selection=dg.AssetSelection.checks(check),
        description=(
            f"Reconcile {product.name}'s raw zone with the catalog (run config deep, repair), as `platform-assets "
            f"reconcile {product.name}` does; the result is the check {RECONCILED_CHECK} on {product.name}/raw_files."
        ),
        tags={"platform/role": "integrity"},
    )
    settings = product.reconcile
    schedule = dg.ScheduleDefinition(
        name=reconcile_schedule_name(product.name),
        job=job,
        cron_schedule=settings.cron,
        execution_timezone="UTC",
        run_config={
            "ops": {reconcile_op_name(product): {"config": {"deep": settings.deep, "repair": settings.repair}}}
        },
        default_status=dg.DefaultScheduleStatus.RUNNING if settings.enabled else dg.DefaultScheduleStatus.STOPPED,
        description=(
            f"Reconciles {product.name} at '{settings.cron}' UTC (deep: {settings.deep}, repair: {settings.repair}); "
            f"set reconcile: in the product's config to change it."
        ),
    )
    return check, job, schedule
