"""Jobs of the ingest feature: capture and process one version, and process the latest one."""

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from platform_assets.catalog.db import transaction
from platform_assets.config import ProductConfig
from platform_assets.defs.ingest.staged import failed_files_check, staged_metadata
from platform_assets.defs.partitions import asset_key
from platform_assets.defs.resources import PlatformResource
from platform_assets.versions.resolution import NothingToProcess, resolve_version


def capture_job_name(product_name: str) -> str:
    return f"{product_name}_capture"


def process_job_name(product_name: str) -> str:
    return f"{product_name}_process"


def merge_job_name(product_name: str) -> str:
    return f"{product_name}_merge"


def ingest_job_name(product_name: str) -> str:
    return f"{product_name}_ingest"


def process_latest_job_name(product_name: str) -> str:
    return f"{product_name}_process_latest"


def build_partitioned_jobs(product: ProductConfig) -> list:
    """Per-version jobs: capture, process, merge, and all three in one run (``ingest``)."""
    steps = {
        capture_job_name(product.name): (["raw_files"], f"Capture one version of {product.name} into the raw zone."),
        process_job_name(product.name): (["staged"], f"Process one version of {product.name} into its Iceberg table."),
        merge_job_name(product.name): (["merge"], f"Merge one processed version of {product.name} as its batch."),
        ingest_job_name(product.name): (
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
    def process_latest_version(
        context: dg.OpExecutionContext, platform: PlatformResource, pyspark: LazyPySparkResource
    ):  # type: ignore[no-untyped-def]
        service = platform.platform()
        try:
            with transaction(service.state_engine) as session:
                version = resolve_version(session, product.name, None)
        except NothingToProcess as error:
            raise dg.Failure(description=str(error)) from None
        context.log.info(f"processing {product.name} version {version}")
        report = service.process(
            product.name, version, parser=service.parser_for(product, lambda: pyspark.spark_session)
        )
        yield dg.AssetMaterialization(
            asset_key=asset_key(product, "staged"),
            partition=str(version),
            metadata=staged_metadata(service, product, version, report),
        )
        check = failed_files_check(service, product, [version])
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
