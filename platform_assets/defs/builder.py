"""Build the Dagster Definitions of one platform from its config."""

from __future__ import annotations

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from platform_assets.config import PlatformConfig
from platform_assets.defs.audit import build_audit_defs
from platform_assets.defs.ingest.assets import build_raw_files_asset
from platform_assets.defs.ingest.checks import build_version_checks
from platform_assets.defs.ingest.jobs import build_partitioned_jobs, build_process_latest_job, process_job_name
from platform_assets.defs.ingest.sensors import build_discovery_sensor
from platform_assets.defs.ingest.staged import build_staged_asset
from platform_assets.defs.merge.assets import build_merge_asset, build_merge_checks
from platform_assets.defs.merge.sensors import build_merge_sensor
from platform_assets.defs.partitions import versions_partitions
from platform_assets.defs.reconcile import build_reconcile_defs
from platform_assets.defs.recovery import build_recovery_jobs
from platform_assets.defs.replication import build_replication_defs, replication_resources
from platform_assets.defs.resources import platform_resource
from platform_assets.defs.retention import build_retention_defs
from platform_assets.defs.review import (
    build_publication_sensor,
    build_published_asset,
    build_published_job,
    build_review_job,
)


def spark_resource(config: PlatformConfig) -> LazyPySparkResource:
    """dagster-pyspark's resource; the session starts only when a Spark product first needs it."""
    spark = config.platform.spark
    settings = {"spark.sql.session.timeZone": "UTC", "spark.ui.enabled": "false", **spark.conf}
    if spark.remote:
        settings["spark.remote"] = spark.remote
    elif spark.master:
        settings["spark.master"] = spark.master
    return LazyPySparkResource(spark_config=settings)


def build_definitions(config: PlatformConfig, config_path: str) -> dg.Definitions:
    """Per product: its version partitions, assets, sensors and jobs; the platform and Spark resources."""
    assets: list[dg.AssetsDefinition] = []
    sensors: list[dg.SensorDefinition] = []
    checks: list[dg.AssetChecksDefinition] = []
    jobs: list[dg.JobDefinition | dg.UnresolvedAssetJobDefinition] = []
    schedules: list[dg.ScheduleDefinition] = []
    for product in config.products:
        if not config.is_primary(product):
            continue
        partitions = versions_partitions(product)
        assets.append(build_raw_files_asset(config, product, partitions))
        assets.append(build_staged_asset(config, product, partitions))
        assets.append(build_merge_asset(config, product, partitions))
        checks += build_version_checks(product, partitions) + build_merge_checks(product, partitions)
        assets.append(build_published_asset(config, product))
        product_jobs = build_partitioned_jobs(product)
        sensors.append(build_discovery_sensor(product, partitions, product_jobs))
        sensors.append(build_merge_sensor(product))
        published_job = build_published_job(product)
        jobs += [*product_jobs, published_job, build_process_latest_job(product)]
        if product.under_review:
            by_name = {job.name: job for job in product_jobs}
            followers = [by_name[process_job_name(product.name)], published_job]
            sensors.append(build_publication_sensor(product, partitions, followers))
            jobs.append(build_review_job(config, product))
        jobs += build_recovery_jobs(product, partitions)
        reconcile_check, reconcile_job, reconcile_schedule = build_reconcile_defs(product)
        checks.append(reconcile_check)
        jobs.append(reconcile_job)
        schedules.append(reconcile_schedule)
        retention_job, retention_schedule = build_retention_defs(config, product)
        jobs.append(retention_job)
        schedules.append(retention_schedule)
    audit_checks, audit_jobs, audit_schedules = build_audit_defs(config)
    checks += audit_checks
    jobs += audit_jobs
    schedules += audit_schedules
    replica_assets, replica_sensors, replica_jobs = build_replication_defs(config)
    assets += replica_assets
    sensors += replica_sensors
    jobs += replica_jobs
    resources = {
        "platform": platform_resource(config_path, config),
        "pyspark": spark_resource(config),
        **replication_resources(config_path),
    }
    # Steps run in the run's process: a run's steps are sequential (raw_files -> staged -> merge), and a process
    # per step would cost its start-up (Dagster, pyarrow, pyiceberg imports) on every version.
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        sensors=sensors,
        schedules=schedules,
        jobs=jobs,
        resources=resources,
        executor=dg.in_process_executor,
    )
