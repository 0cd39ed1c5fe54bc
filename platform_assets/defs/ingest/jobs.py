"""Jobs of the ingest assets: capture, process or merge one version, all three, and process the latest one."""

from collections.abc import Iterator

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from platform_assets.config import ProductConfig
from platform_assets.defs.ingest.staged import failed_files_check, spark_services, staged_metadata
from platform_assets.defs.partitions import asset_key, partition_key
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import reported_errors, scrubbed_step
from platform_assets.ingest.processing import process_version
from platform_assets.versions.resolution import resolve_version


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
    """Per-version jobs: capture, process, merge, capture + process (``ingest``), all three (``capture_to_merge``)."""
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
            selection=dg.AssetSelection.assets(*(asset_key(product, asset) for asset in assets)),
            description=description,
        )
        for name, (assets, description) in steps.items()
    ]


def build_process_latest_job(product: ProductConfig) -> dg.JobDefinition:
    """Resolve the version to process (the newest captured one not yet processed) and process it."""

    @dg.op(name=f"{product.name}_process_latest_version", out={})
    @scrubbed_step
    def process_latest_version(
        context: dg.OpExecutionContext, platform: PlatformResource, pyspark: LazyPySparkResource
    ) -> Iterator[dg.AssetMaterialization]:
        services = spark_services(platform, pyspark).in_run(context.run_id)
        with reported_errors():
            version = resolve_version(services.catalog, product.name, None)
            context.log.info(f"processing {product.name} version {version}")
            report = process_version(services, product, version)
            metadata = staged_metadata(services, product, report)
            check = failed_files_check(services, product, [version])
        yield dg.AssetMaterialization(
            asset_key=asset_key(product, "staged"), partition=partition_key(version), metadata=metadata
        )
        if not check.passed:
            raise dg.Failure(
                description=(
                    f"{product.name} v{version} is {report.version_status}: {report.files_failed} file(s) failed"
                ),
                metadata=dict(check.metadata),
            )

    @dg.job(
        name=process_latest_job_name(product.name),
        description=f"Process the newest captured, unprocessed version of {product.name}.",
    )
    def process_latest() -> None:
        process_latest_version()

    return process_latest
