"""``<product>/replica``: the product's merge table copied from a primary platform, and its lag check.

No ``from __future__ import annotations`` here: Dagster reads the run-config
class from the asset function's annotations at definition time.
"""

from typing import Any

import dagster as dg

from platform_assets.config import ProductConfig
from platform_assets.defs.metadata import markdown_table
from platform_assets.defs.partitions import asset_key, db_kind
from platform_assets.defs.presentation import ROLE_TAG, described, merge_definition_metadata
from platform_assets.defs.progress import run_progress
from platform_assets.defs.replication.resources import RemotePlatformsResource
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import reported_errors, result_metadata, scrubbed_step
from platform_assets.replication import ReplicationResult, ReplicationStatus, SyncMode, replicate, replication_status
from platform_assets.secrets import scrub

LAG_CHECK = "replica_lag"


class ReplicaRunConfig(dg.Config):
    """``to_batch``: sync to this batch of the primary (default: its latest committed batch, capped per sync)."""

    to_batch: int | None = None


def replica_key(product: ProductConfig) -> dg.AssetKey:
    return asset_key(product, "replica")


def build_replica_asset(product: ProductConfig, merge_store_url: str) -> dg.AssetsDefinition:
    """The replica asset of ``product`` on this platform (its merge store at ``merge_store_url``)."""
    form = "mirror of the history" if product.milestone == "forensic" else "live state (conflated history)"

    @dg.asset(
        key=replica_key(product),
        group_name=product.name,
        kinds={db_kind(merge_store_url), "sql"},
        owners=product.owners,
        tags={ROLE_TAG: "replica"},
        description=described(
            product,
            f"{product.name}_merge copied from a primary platform ({', '.join(product.primary_platforms)}, in that "
            f"order): {form}. First a chunked, resumable seed, then incremental syncs of the batches in between.",
        ),
        metadata={
            **merge_definition_metadata(product),
            "primary_platforms": ", ".join(product.primary_platforms),
        },
    )
    @scrubbed_step
    def replica(
        context: dg.AssetExecutionContext,
        config: ReplicaRunConfig,
        platform: PlatformResource,
        remote_platforms: RemotePlatformsResource,
    ) -> dg.MaterializeResult:
        service = platform.platform()
        settings = remote_platforms.apply(service.config)
        with reported_errors():
            result = replicate(
                settings,
                settings.product(product.name),
                to_batch=config.to_batch,
                actor=service.actor,
                progress=run_progress(context),
            )
        for name, reason in result.skipped_primaries.items():
            context.log.warning(f"primary {name} skipped: {reason}")
        if result.reseed_reason:
            context.log.warning(f"{product.name}: reseeded from {result.primary}: {result.reseed_reason}")
        context.log.info(
            f"{product.name}: {result.mode} from {result.primary}, {result.from_batch} -> {result.to_batch}, "
            f"+{result.inserted} ~{result.updated} -{result.deleted}, lag {result.lag_batches}"
        )
        return dg.MaterializeResult(metadata=replication_metadata(result))

    return replica


def replication_metadata(result: ReplicationResult) -> dict[str, Any]:
    """Materialization metadata: primary, X -> Y, mode, changes, duration, lag (a number, so the UI plots it)."""
    metadata: dict[str, Any] = {
        "primary": dg.MetadataValue.text(result.primary or ""),
        "mode": dg.MetadataValue.text(str(result.mode)),
        "sync": dg.MetadataValue.text(
            f"{result.from_batch if result.from_batch is not None else '-'} -> {result.to_batch}"
        ),
        "from_batch": dg.MetadataValue.int(result.from_batch if result.from_batch is not None else 0),
        "to_batch": dg.MetadataValue.int(result.to_batch or 0),
        "rows_inserted": dg.MetadataValue.int(result.inserted),
        "rows_updated": dg.MetadataValue.int(result.updated),
        "rows_deleted": dg.MetadataValue.int(result.deleted),
        "rows_copied": dg.MetadataValue.int(result.rows_copied),
        "duration_s": dg.MetadataValue.float(round(result.duration_s, 3)),
        "lag_batches": dg.MetadataValue.int(result.lag_batches),
        "primary_latest_batch": dg.MetadataValue.int(result.primary_latest or 0),
        **result_metadata(result),
    }
    if result.mode == SyncMode.SEED:
        metadata["seed_chunks"] = dg.MetadataValue.int(result.chunks)
        metadata["seed_resumed"] = dg.MetadataValue.bool(result.resumed)
    if result.reseed_reason:
        metadata["reseed_reason"] = dg.MetadataValue.text(scrub(result.reseed_reason))
    if result.skipped_primaries:
        rows = sorted(result.skipped_primaries.items())
        metadata["skipped_primaries"] = dg.MetadataValue.md(markdown_table(["primary", "error"], rows))
    return metadata


def build_replica_lag_check(product: ProductConfig) -> dg.AssetChecksDefinition:
    """Fails when the replica is more than ``replication.max_lag_batches`` behind (or no primary answers)."""
    limit = product.replication.max_lag_batches

    @dg.asset_check(
        asset=replica_key(product),
        name=LAG_CHECK,
        blocking=False,
        description=f"The replica is at most {limit} batch(es) behind the primary's latest committed batch.",
    )
    @scrubbed_step
    def replica_lag(platform: PlatformResource, remote_platforms: RemotePlatformsResource) -> dg.AssetCheckResult:
        settings = remote_platforms.apply(platform.platform().config)
        status = replication_status(settings, settings.product(product.name))
        return lag_check_result(status)

    return replica_lag


def lag_check_result(status: ReplicationStatus) -> dg.AssetCheckResult:
    rows = [
        (primary.name, primary.latest if primary.latest is not None else "", primary.error or "")
        for primary in status.primaries
    ]
    metadata: dict[str, Any] = {
        "lag_batches": dg.MetadataValue.int(status.lag_batches if status.lag_batches is not None else -1),
        "max_lag_batches": dg.MetadataValue.int(status.max_lag_batches),
        "last_synced_batch": dg.MetadataValue.int(status.last_synced_batch or 0),
        "serving_primary": dg.MetadataValue.text(status.serving_primary or "none answered"),
        "primaries": dg.MetadataValue.md(markdown_table(["primary", "latest committed batch", "error"], rows)),
    }
    if status.reseed_needed:
        metadata["reseed_needed"] = dg.MetadataValue.text(scrub(status.reseed_needed))
    if status.lag_batches is None:
        description = "no primary answered: the lag is unknown"
    else:
        description = f"{status.lag_batches} batch(es) behind {status.serving_primary} (limit {status.max_lag_batches})"
    return dg.AssetCheckResult(
        passed=not status.lag_exceeded, severity=dg.AssetCheckSeverity.ERROR, metadata=metadata, description=description
    )
