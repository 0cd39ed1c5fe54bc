"""Dagster wiring of replication: the replica asset, its lag check, job and sensor per replicated product.

:func:`build_replication_defs` returns, for every product this platform does
not ingest itself (not in its ``primary_platforms``), the ``<product>/replica``
asset and its ``replica_lag`` check (both in the first list; an
AssetChecksDefinition is an AssetsDefinition), the replication sensor and the
``<product>_replicate`` job. The resources they need are
:func:`replication_resources` (``remote_platforms``) plus the platform's
``platform`` resource.
"""

from __future__ import annotations

import dagster as dg

from platform_assets.config import PlatformConfig, ProductConfig
from platform_assets.defs.replication.assets import build_replica_asset, build_replica_lag_check, replica_key
from platform_assets.defs.replication.resources import RemotePlatformsResource, remote_platforms_resource
from platform_assets.defs.replication.sensors import build_replication_sensor


def replicate_job_name(product_name: str) -> str:
    return f"{product_name}_replicate"


def build_replicate_job(product: ProductConfig) -> dg.UnresolvedAssetJobDefinition:
    """The job that syncs the replica (and evaluates its lag check)."""
    return dg.define_asset_job(
        replicate_job_name(product.name),
        selection=dg.AssetSelection.assets(replica_key(product)),
        description=f"Sync the replica of {product.name} from its first answering primary platform.",
    )


def build_replication_defs(
    config: PlatformConfig,
) -> tuple[list[dg.AssetsDefinition], list[dg.SensorDefinition], list[dg.UnresolvedAssetJobDefinition]]:
    """(assets and checks, sensors, jobs) of every product replicated on this platform."""
    assets: list[dg.AssetsDefinition] = []
    sensors: list[dg.SensorDefinition] = []
    jobs: list[dg.UnresolvedAssetJobDefinition] = []
    for product in config.products:
        if not config.is_replica(product):
            continue
        job = build_replicate_job(product)
        assets += [build_replica_asset(product, config.platform.merge_store), build_replica_lag_check(product)]
        sensors.append(build_replication_sensor(product, job))
        jobs.append(job)
    return assets, sensors, jobs


def replication_resources(config_path: str) -> dict[str, RemotePlatformsResource]:
    """Resources the replication definitions need besides ``platform``."""
    return {"remote_platforms": remote_platforms_resource(config_path)}


__all__ = [
    "RemotePlatformsResource",
    "build_replica_asset",
    "build_replica_lag_check",
    "build_replicate_job",
    "build_replication_defs",
    "build_replication_sensor",
    "replicate_job_name",
    "replication_resources",
]
