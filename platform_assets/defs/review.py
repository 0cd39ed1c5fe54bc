"""Review and publication in Dagster: ``<product>/published``, the ``<product>_review`` job, the publication sensor.

Contract:
- ``<product>/published`` (every primary product): its metadata carries the
  published version and the review metrics as numbers (the UI plots them), and,
  for a product under review with ``sla_hours``, the check ``review_sla`` warns
  while a version waits longer than that; under review it lists the versions
  awaiting review (``awaiting_review``), each version's schema change first.
  The job ``<product>_published`` materializes it.
- ``<product>_review`` (products under review): run config ``version``,
  ``decision`` (approve | reject | reject_file), ``notes`` (the reason of a
  rejection) and ``key`` (the file of reject_file). The actor is the user
  Dagster reports for the run; without one, a product with ``four_eyes``
  refuses (the CLI knows who acts), others act for the run's actor
  (``defs/actors.py``). The rules are ``versions/review.py``'s. The run
  observes ``<product>/published`` with the decision, the version's schema
  change first (``versions/schema_review.py``).
- ``<product>_publication`` (products under review, running by default): each
  tick requests the processing of approved children not processed yet and a
  materialization of ``published`` when what it shows changed (a publication, a
  decision, a version newly waiting or newly past its SLA), once nothing
  approved waits to merge. ``<product>_merge_next`` (``defs/merge/sensors.py``)
  merges approved versions: it asks ``merge.versions.next_merge``, which holds
  the review rule.
"""

import json
from typing import Literal

import dagster as dg

from platform_assets.catalog.states import VersionOrigin, VersionStatus
from platform_assets.config import PlatformConfig, ProductConfig
from platform_assets.defs.actors import reported_user, run_actor
from platform_assets.defs.ingest.jobs import process_job_name
from platform_assets.defs.metadata import markdown_table
from platform_assets.defs.partitions import asset_key, partition_key, versions_partitions_name
from platform_assets.defs.presentation import described
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import reported_errors, result_metadata
from platform_assets.merge.versions import ready_merges
from platform_assets.versions import review
from platform_assets.versions.review_report import AwaitingVersion, ReviewMetrics, review_metrics, review_queue
from platform_assets.versions.schema_review import schema_review

SLA_CHECK = "review_sla"


def review_job_name(product_name: str) -> str:
    return f"{product_name}_review"


def published_job_name(product_name: str) -> str:
    return f"{product_name}_published"


def publication_sensor_name(product_name: str) -> str:
    return f"{product_name}_publication"


def metrics_metadata(metrics: ReviewMetrics) -> dict[str, dg.MetadataValue]:
    """The metrics as numbers (hours as floats; a figure with nothing to measure is left out)."""
    metadata: dict[str, dg.MetadataValue] = {
        "published_version": dg.MetadataValue.int(metrics.published_version or 0),
        "versions_created": dg.MetadataValue.int(metrics.created),
        "versions_approved": dg.MetadataValue.int(metrics.approved),
        "versions_rejected": dg.MetadataValue.int(metrics.rejected),
        "versions_superseded": dg.MetadataValue.int(metrics.superseded),
        "waiting_now": dg.MetadataValue.int(metrics.waiting_now),
    }
    for name in ("approve_hours_median", "approve_hours_p90", "approve_hours_max", "waiting_longest_hours"):
        value = getattr(metrics, name)
        if value is not None:
            metadata[name] = dg.MetadataValue.float(float(value))
    return metadata


def awaiting_markdown(queue: list[AwaitingVersion]) -> str:
    """The versions awaiting review as a table, each one's schema change first."""
    if not queue:
        return "no version awaits review"
    return markdown_table(
        ["version", "schema change", "files", "rows", "rows vs published", "waiting (h)"],
        [
            (
                f"v{item.version}",
                "; ".join(item.schema_change) or "unchanged",
                item.files,
                item.rows,
                f"{item.rows_change:+d}",
                f"{item.waiting_hours:.1f}",
            )
            for item in queue
        ],
    )


def sla_check(product: ProductConfig, metrics: ReviewMetrics) -> dg.AssetCheckResult:
    """Warns while a version waits for review longer than ``review.sla_hours``."""
    late = metrics.late_versions
    return dg.AssetCheckResult(
        check_name=SLA_CHECK,
        passed=not late,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "sla_hours": dg.MetadataValue.float(float(product.review.sla_hours or 0.0)),
            "late_versions": dg.MetadataValue.int(len(late)),
            "waiting_longest_hours": dg.MetadataValue.float(float(metrics.waiting_longest_hours or 0.0)),
        },
        description=None
        if not late
        else "waiting longer than the SLA: " + ", ".join(f"v{version}" for version in late),
    )


def build_published_asset(config: PlatformConfig, product: ProductConfig) -> dg.AssetsDefinition:
    key = asset_key(product, "published")
    with_sla = product.under_review and product.review.sla_hours is not None
    checks = (
        [dg.AssetCheckSpec(SLA_CHECK, asset=key, description="No version waits for review longer than sla_hours.")]
        if with_sla
        else []
    )

    @dg.asset(
        key=key,
        deps=[asset_key(product, "merge")],
        group_name=product.name,
        kinds={"iceberg"},
        owners=product.owners,
        check_specs=checks,
        description=described(
            product,
            f"The published version of {product.name} (Iceberg tag `published`, table property "
            "platform.published_version) and its review metrics"
            + (f": approved by the role {product.review.approver_role}." if product.under_review else "."),
        ),
    )
    def published(context: dg.AssetExecutionContext, platform: PlatformResource) -> dg.MaterializeResult:
        services = platform.services_for(context)
        with reported_errors():
            metrics = review_metrics(services, product)
            queue = review_queue(services, product) if product.under_review else None
        awaiting = {} if queue is None else {"awaiting_review": dg.MetadataValue.md(awaiting_markdown(queue))}
        return dg.MaterializeResult(
            metadata={**awaiting, **metrics_metadata(metrics), **result_metadata(metrics)},
            check_results=[sla_check(product, metrics)] if with_sla else [],
        )

    return published


class ReviewConfig(dg.Config):
    """A decision on one version: approve, reject (``notes`` is the reason) or reject_file (``key``)."""

    version: int
    decision: Literal["approve", "reject", "reject_file"]
    notes: str = ""
    key: str = ""


def build_review_job(config: PlatformConfig, product: ProductConfig) -> dg.JobDefinition:
    @dg.op(name=f"{product.name}_review_decision")
    def decide(context: dg.OpExecutionContext, config: ReviewConfig, platform: PlatformResource) -> None:
        tags = context.run.tags
        with reported_errors():
            if reported_user(tags) is None and product.review.four_eyes:
                raise review.ReviewRefused(
                    f"rule four_eyes: Dagster reports no user for this run, so the approver cannot be told from "
                    f"whoever processed the version; decide from the command line, where the actor is known: "
                    f"`platform-assets approve {product.name} {config.version}`, or reject it there"
                )
            services = platform.services().acting_as(run_actor(tags)).in_run(context.run.run_id)
            published = services.catalog.published_version(product.name)
            schema = "; ".join(schema_review(services, product, config.version, published)) or "unchanged"
            context.log.info(f"{product.name} v{config.version}: schema {schema}")
            holders = platform.platform().config.holders(product.review.approver_role)
            options = review.ReviewOptions(tuple(holders), config.notes or None)
            if config.decision == "approve":
                result = review.approve(services, product, config.version, options)
            elif config.decision == "reject":
                result = review.reject(services, product, config.version, options)
            else:
                result = review.reject_file(services, product, config.version, config.key, options)
        context.log.info(f"{product.name} v{config.version}: {result.decision} by {result.actor}: {result.status}")
        context.log_event(
            dg.AssetObservation(
                asset_key=asset_key(product, "published"),
                metadata={
                    "schema_change": dg.MetadataValue.text(schema),
                    "reviewed_version": dg.MetadataValue.int(config.version),
                    "decision": dg.MetadataValue.text(str(result.decision)),
                    "decided_by": dg.MetadataValue.text(result.actor),
                },
            )
        )

    @dg.job(
        name=review_job_name(product.name),
        description=(
            f"Approve or reject a version of {product.name} awaiting review (holders of the role "
            f"{product.review.approver_role}); {product.name}_merge_next then merges what is approved."
        ),
        tags={"platform/role": "review"},
    )
    def review_job() -> None:
        decide()

    return review_job


def build_published_job(product: ProductConfig) -> "dg.UnresolvedAssetJobDefinition":
    return dg.define_asset_job(
        published_job_name(product.name),
        selection=dg.AssetSelection.assets(asset_key(product, "published")),
        description=f"Refresh {product.name}/published: the published version and the review metrics.",
    )


def build_publication_sensor(
    product: ProductConfig,
    partitions: dg.DynamicPartitionsDefinition,
    jobs: "list[dg.JobDefinition | dg.UnresolvedAssetJobDefinition]",
) -> dg.SensorDefinition:
    """The publication sensor; ``jobs`` holds the product's process and published jobs."""

    @dg.sensor(
        name=publication_sensor_name(product.name),
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        jobs=jobs,
        description=f"Processes the approved child versions of {product.name} (a review that rejected files, a "
        f"rollback) and refreshes {product.name}/published; {product.name}_merge_next merges what is approved.",
    )
    def publication(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
        services = platform.services().acting_as(f"sensor:{publication_sensor_name(product.name)}")
        children = [
            record.number
            for record in services.catalog.versions(product.name)
            if record.origin is not VersionOrigin.SOURCE and record.status is VersionStatus.CAPTURED
        ]
        runs = [
            dg.RunRequest(
                run_key=f"{product.name}/process/{number}",
                job_name=process_job_name(product.name),
                partition_key=partition_key(number),
            )
            for number in children
        ]
        merging = ready_merges(services, product)  # <product>_merge_next merges them; published waits for it
        metrics = review_metrics(services, product)
        figures = [metrics.published_version, metrics.waiting_versions, metrics.late_versions, metrics.approved]
        state = json.dumps([*figures, metrics.rejected])
        if state != (context.cursor or "") and not merging:
            runs.append(
                dg.RunRequest(run_key=f"{product.name}/published/{state}", job_name=published_job_name(product.name))
            )
        name = versions_partitions_name(product.name)
        existing = set(context.instance.get_dynamic_partitions(name)) if children else set()
        missing = [partition_key(number) for number in children if partition_key(number) not in existing]
        return dg.SensorResult(
            run_requests=runs,
            dynamic_partitions_requests=[partitions.build_add_request(missing)] if missing else [],
            cursor=state if not merging else context.cursor,
            skip_reason=None if runs else "no approved child to process, and published is up to date",
        )

    return publication
