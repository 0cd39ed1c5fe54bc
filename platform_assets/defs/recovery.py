"""Recovering a version from the UI: exclude it, skip a file, retry its failed files (jobs with run config).

Contract:
- ``<product>_exclude_version`` (config ``reason``) and ``<product>_skip_file``
  (config ``key``, ``reason``) are jobs partitioned by version: launched on
  partition vN they call the same domain functions as ``platform-assets
  exclude`` and ``platform-assets skip``
  (:mod:`platform_assets.versions.exclusion`, :mod:`platform_assets.versions.skipping`),
  so the same rules hold and the same audit events are written (tied to the
  Dagster run). The version's new state is observed on its ``raw_files``
  partition (``version_status``).
- ``<product>_retry_failed`` materializes ``<product>/staged`` with
  ``retry_failed`` on, as ``platform-assets process P --version N
  --retry-failed`` does.
- A partition that names no registered version is refused before any work,
  and removed (:func:`platform_assets.defs.partitions.registered_versions`).
"""

from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from platform_assets.actions import exclude_job_name, retry_job_name, skip_job_name
from platform_assets.config import ProductConfig
from platform_assets.defs.metadata import version_observation
from platform_assets.defs.partitions import asset_key, registered_versions
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import reported_errors, scrubbed_step
from platform_assets.versions.exclusion import exclude_version
from platform_assets.versions.skipping import skip_file

EXCLUDED = "EXCLUDED"


class ExcludeConfig(dg.Config):
    """Why the version is taken out of the merge order (recorded in the audit trail and the batch log)."""

    reason: str = Field(description="why the version is excluded")


class SkipConfig(dg.Config):
    """Which file of the version to give up, and why (recorded in the audit trail)."""

    key: str = Field(description="the file's source key, as the run's error or the failures table names it")
    reason: str = Field(description="why the file is given up")


def build_recovery_jobs(
    product: ProductConfig, partitions: dg.DynamicPartitionsDefinition
) -> "list[dg.JobDefinition | dg.UnresolvedAssetJobDefinition]":
    """The exclude, skip and retry jobs of ``product``."""

    @dg.op(name=f"{product.name}_exclude", out={})
    @scrubbed_step
    def exclude(
        context: dg.OpExecutionContext, config: ExcludeConfig, platform: PlatformResource
    ) -> Iterator[dg.AssetObservation]:
        services = platform.services().in_run(context.run_id)
        with reported_errors():
            (version,) = registered_versions(context, services.catalog, product)
            exclude_version(services, product, version, config.reason)
        context.log.info(f"{product.name} v{version} excluded from the merge order: {config.reason}")
        yield version_observation(product.name, version, EXCLUDED)

    @dg.op(name=f"{product.name}_skip", out={})
    @scrubbed_step
    def skip(
        context: dg.OpExecutionContext, config: SkipConfig, platform: PlatformResource
    ) -> Iterator[dg.AssetObservation]:
        services = platform.services().in_run(context.run_id)
        with reported_errors():
            (version,) = registered_versions(context, services.catalog, product)
            previous = skip_file(services, product, version, config.key, config.reason)
            state = services.catalog.version(product.name, version).status
        context.log.info(f"{product.name} v{version}: {config.key} skipped (was {previous}); version {state}")
        yield version_observation(product.name, version, str(state))

    exclude_job = _one_op_job(
        exclude,
        exclude_job_name(product.name),
        partitions,
        "exclude",
        f"Take one version of {product.name} out of the merge order (run config: reason); later versions then "
        f"merge. Same as `platform-assets exclude {product.name} N --reason TEXT`.",
    )
    skip_job = _one_op_job(
        skip,
        skip_job_name(product.name),
        partitions,
        "skip",
        f"Give up one file of a version of {product.name} (run config: key, reason); the version settles at "
        f"once. Same as `platform-assets skip {product.name} N KEY --reason TEXT`.",
    )

    retry = dg.define_asset_job(
        retry_job_name(product.name),
        selection=dg.AssetSelection.assets(asset_key(product, "staged")),
        partitions_def=partitions,
        config={"ops": {f"{product.name}__staged": {"config": {"retry_failed": True, "reprocess": False}}}},
        description=(
            f"Process the failed files of one version of {product.name} again. Same as `platform-assets process "
            f"{product.name} --version N --retry-failed`."
        ),
        tags={"platform/action": "retry_failed"},
    )
    return [exclude_job, skip_job, retry]


def _one_op_job(
    op: dg.OpDefinition, name: str, partitions: dg.DynamicPartitionsDefinition, action: str, description: str
) -> dg.JobDefinition:
    """A job partitioned by version that runs ``op`` alone, tagged ``platform/action``."""

    @dg.job(name=name, partitions_def=partitions, description=description, tags={"platform/action": action})
    def job() -> None:
        op()

    return job
