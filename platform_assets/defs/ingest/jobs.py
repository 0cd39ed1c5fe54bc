"""Jobs of the ingest assets: capture, process or merge one version, all three, and process the latest one."""

from collections.abc import Iterator

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from platform_assets.config import ProductConfig
from platform_assets.defs.ingest.staged import processing_failed, report_line, spark_services, staged_metadata
from platform_assets.defs.metadata import version_observation
from platform_assets.defs.partitions import asset_key, partition_key
from platform_assets.defs.reconcile.checks import RECONCILED_CHECK
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import reported_errors, scrubbed_step
from platform_assets.ingest.processing import process_version
from platform_assets.versions.resolution import NothingToProcess, resolve_version

OUTCOME_TAG = "platform/outcome"
NOTHING_TO_DO = "nothing to do"
WHOLE_PRODUCT_CHECKS = (RECONCILED_CHECK,)
"""Checks on ``raw_files`` that walk every version: their own scheduled jobs run them, never a version's run.

(``audit_chain_intact`` stays in a capture's run: there it reports the newest recorded verification, no walk.)
"""


def capture_job_name(product_name: str) -> str:
    return f"{product_name}_capture"


def process_job_name(product_name: str) -> str:
    return f"{product_name}_process"


def merge_job_name(product_name: str) -> str:
    return f"{product_name}_merge"


def ingest_job_name(product_name: str) -> str:
    return f"{product_name}_ingest"


def capture_to_merge_job_name(product_name: str) -> str:
    return f"{product_name}_capture_to_merge"


def process_latest_job_name(product_name: str) -> str:
    return f"{product_name}_process_latest"


def build_partitioned_jobs(product: ProductConfig) -> "list[dg.UnresolvedAssetJobDefinition]":
    """Per-version jobs: capture, process, merge, capture + process (``ingest``), all three (``capture_to_merge``).

    Each runs the per-version checks of its assets, not :data:`WHOLE_PRODUCT_CHECKS`.
    """
    steps = {
        capture_job_name(product.name): (["raw_files"], f"Capture one version of {product.name} into the raw zone."),
        process_job_name(product.name): (["staged"], f"Process one version of {product.name} into its Iceberg table."),
        merge_job_name(product.name): (["merge"], f"Merge one processed version of {product.name} as its batch."),
        ingest_job_name(product.name): (
            ["raw_files", "staged"],
            f"Capture and process one version of {product.name} (what discovery starts for a new version).",
        ),
        capture_to_merge_job_name(product.name): (
            ["raw_files", "staged", "merge"],
            f"Capture, process and merge one version of {product.name}.",
        ),
    }
    return [
        dg.define_asset_job(
            name,
            selection=dg.AssetSelection.assets(*(asset_key(product, asset) for asset in assets))
            - dg.AssetSelection.checks(*whole_product_checks(product)),
            description=description,
        )
        for name, (assets, description) in steps.items()
    ]


def whole_product_checks(product: ProductConfig) -> list[dg.AssetCheckKey]:
    return [dg.AssetCheckKey(asset_key(product, "raw_files"), name) for name in WHOLE_PRODUCT_CHECKS]


def build_process_latest_job(product: ProductConfig) -> dg.JobDefinition:
    """Resolve the version to process (the newest captured one not yet processed) and process it.

    Nothing to process ends the run successfully, tagged :data:`OUTCOME_TAG` = ``nothing to do``, with the
    reason in its log; a version that ends FAILED fails it as ``<product>/staged`` does.
    """

    @dg.op(name=f"{product.name}_process_latest_version", out={})
    @scrubbed_step
    def process_latest_version(
        context: dg.OpExecutionContext, platform: PlatformResource, pyspark: LazyPySparkResource
    ) -> Iterator[dg.AssetMaterialization | dg.AssetObservation]:
        services = spark_services(platform, pyspark, context)
        with reported_errors():
            try:
                version = resolve_version(services.catalog, product.name, None)
            except NothingToProcess as nothing:
                context.instance.add_run_tags(context.run_id, {OUTCOME_TAG: NOTHING_TO_DO})
                context.log.info(f"{NOTHING_TO_DO}: {nothing}")
                return
            context.log.info(f"processing {product.name} version {version}")
            report = process_version(services, product, version)
            context.log.info(report_line(report))
            yield version_observation(product.name, version, str(report.version_status))
            if not report.succeeded:
                raise processing_failed(services, product, [report])
            metadata = staged_metadata(services, product, report)
        yield dg.AssetMaterialization(
            asset_key=asset_key(product, "staged"), partition=partition_key(version), metadata=metadata
        )

    @dg.job(
        name=process_latest_job_name(product.name),
        description=(
            f"Process the newest captured, unprocessed version of {product.name}; with none, a successful run that "
            "says why."
        ),
    )
    def process_latest() -> None:
        process_latest_version()

    return process_latest
