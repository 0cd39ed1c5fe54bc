"""The replication sensor: read each primary's batch log, request a sync when the replica is behind."""

from __future__ import annotations

import json

import dagster as dg

from platform_assets.config import ProductConfig
from platform_assets.defs.replication.resources import RemotePlatformsResource
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import scrubbed_sensor
from platform_assets.replication import ReplicationStatus, SyncMode, replication_status
from platform_assets.secrets import scrub


def replication_sensor_name(product_name: str) -> str:
    return f"{product_name}_replication"


def build_replication_sensor(product: ProductConfig, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    """A sensor that runs ``job`` (the replica's job) when a primary is ahead of the replica.

    Each tick reads the batch log of every primary (a few small queries, well
    within Dagster's 60 s tick limit; unreachable primaries fail fast). The run
    key names the primary and X -> latest, so a tick that sees nothing new
    requests nothing new, and a replica that caught up in steps (the per-sync
    cap) gets the next step on the next tick.
    """

    @dg.sensor(
        name=replication_sensor_name(product.name),
        job=job,
        minimum_interval_seconds=60,
        description=(
            f"Syncs the replica of {product.name} when one of its primaries ({', '.join(product.primary_platforms)}) "
            "commits a new batch."
        ),
    )
    @scrubbed_sensor
    def replication(
        context: dg.SensorEvaluationContext, platform: PlatformResource, remote_platforms: RemotePlatformsResource
    ) -> dg.SensorResult:
        settings = remote_platforms.apply(platform.platform().config)
        status = replication_status(settings, settings.product(product.name))
        for primary in status.primaries:
            if primary.error:
                context.log.warning(f"primary {primary.name} of {product.name}: {primary.error}")
        cursor = json.dumps(
            {"last_synced_batch": status.last_synced_batch, "primaries": {p.name: p.latest for p in status.primaries}}
        )
        if not status.needs_sync:
            return dg.SensorResult(skip_reason=skip_reason(status), cursor=cursor)
        request = dg.RunRequest(
            run_key=run_key(status),
            tags={"platform/command": "replicate", "platform/primary": status.serving_primary or ""},
        )
        return dg.SensorResult(run_requests=[request], cursor=cursor)

    return replication


def run_key(status: ReplicationStatus) -> str:
    """``<product>/replica/<primary>/<X or seed>-><latest>``, plus the chunks of an unfinished seed.

    A run that dies in the middle of a seed moved the seed on, so the next tick
    requests a new run that resumes it, without waiting for the primary.
    """
    start = str(SyncMode.SEED) if status.last_synced_batch is None else str(status.last_synced_batch)
    progress = f"+seed@{status.seed_chunks}" if status.seed_in_progress else ""
    return f"{status.product}/replica/{status.serving_primary}/{start}->{status.serving_latest}{progress}"


def skip_reason(status: ReplicationStatus) -> str:
    if status.serving_primary is None:
        errors = "; ".join(f"{primary.name}: {primary.error}" for primary in status.primaries)
        return scrub(f"no primary of {status.product} answered ({errors})")
    return f"the replica of {status.product} is at batch {status.last_synced_batch}, as is {status.serving_primary}"
