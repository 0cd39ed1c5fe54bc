"""The discovery sensor of a product: list the source, register versions, request their capture and processing.

The sensor cursor holds an unfinished listing (scan id and the key to continue
after), so a source too large for one tick is listed over several ticks, each
bounded by ``discovery.tick_seconds_budget`` (Dagster stops a tick at 60 s).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import dagster as dg

from platform_assets.config import ProductConfig
from platform_assets.defs.ingest.jobs import build_partitioned_jobs, capture_to_merge_job_name, ingest_job_name
from platform_assets.defs.partitions import partition_key, stray_partitions, versions_partitions_name
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import scrubbed_sensor
from platform_assets.ingest.discovery import register_version, scan_source
from platform_assets.merge.versions import merges_right_after_processing
from platform_assets.services import Services
from platform_assets.urls import mask_url


def sensor_status(product: ProductConfig) -> dg.DefaultSensorStatus:
    """Running from the start where the product's ``automation.enabled`` says so, else stopped until turned on."""
    return dg.DefaultSensorStatus.RUNNING if product.automation.enabled else dg.DefaultSensorStatus.STOPPED


def build_discovery_sensor(
    product: ProductConfig,
    partitions: dg.DynamicPartitionsDefinition,
    jobs: Sequence[dg.UnresolvedAssetJobDefinition] | None = None,
) -> dg.SensorDefinition:
    """The sensor; ``jobs`` are the product's per-version jobs (built here when not given)."""
    whole, ingest = capture_to_merge_job_name(product.name), ingest_job_name(product.name)
    targets = [
        job for job in (jobs if jobs is not None else build_partitioned_jobs(product)) if job.name in (whole, ingest)
    ]

    @dg.sensor(
        name=f"{product.name}_discovery",
        jobs=targets,
        minimum_interval_seconds=product.automation.minimum_interval_seconds,
        default_status=sensor_status(product),
        description=(
            f"Lists {mask_url(product.source.url)} ({product.source.glob}) and turns each change into a new "
            f"version of {product.name}: a run of {whole} when nothing waits to merge before it, else of {ingest} "
            f"(capture and process), and {product.name}_merge_next merges it in order."
        ),
    )
    @scrubbed_sensor
    def discovery(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.SensorResult:
        services = platform.services().acting_as(f"sensor:{product.name}_discovery")
        settings = platform.platform().config.platform.discovery
        cursor = json.loads(context.cursor) if context.cursor else {}
        progress = scan_source(
            services.catalog,
            product,
            services.sources.of(product),
            cursor.get("scan_id"),
            cursor.get("start_after"),
            settings.tick_seconds_budget,
            settings.page_size,
        )
        if not progress.complete:
            context.log.info(f"listing continues after {progress.start_after!r} on the next tick")
            next_cursor = json.dumps({"scan_id": progress.scan_id, "start_after": progress.start_after})
            return pending_captures_result(context, services, product, partitions, next_cursor)
        registered = register_version(
            services.catalog,
            product,
            progress,
            services.actor,
            services.sources.of(product),
            settings.tick_seconds_budget,
        )
        if registered:
            context.log.info(f"registered version {registered.number} of {product.name}: {registered.files} files")
        return pending_captures_result(context, services, product, partitions, "{}")

    return discovery


def pending_captures_result(
    context: dg.SensorEvaluationContext,
    services: Services,
    product: ProductConfig,
    partitions: dg.DynamicPartitionsDefinition,
    cursor: str,
) -> dg.SensorResult:
    """Partitions and run requests for every registered, not yet captured version; stray partitions removed.

    A partition that names no registered version (a key typed into the
    Materialize dialog) is deleted.

    A version that nothing waits before (:func:`merges_right_after_processing`)
    gets a run of ``<product>_capture_to_merge``: captured, processed and merged
    in one run (a failed capture or processing stops it before the merge, by the
    blocking checks); any other a run of ``<product>_ingest``, and
    ``<product>_merge_next`` merges it in its turn. Re-requesting is safe: run
    keys (``<product>/v<version>``) dedupe, and this heals a tick that registered
    a version but died before reporting it.
    """
    listed = context.instance.get_dynamic_partitions(versions_partitions_name(product.name))
    stray = stray_partitions(services.catalog, product, listed)  # read after the partitions: new versions' are not
    numbers = services.catalog.pending_captures(product.name)
    keys = [partition_key(number) for number in numbers]
    missing = [key for key in keys if key not in set(listed)]
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if missing:
        requests.append(partitions.build_add_request(missing))
    if stray:
        context.log.info(f"removing partitions that name no version of {product.name}: {', '.join(stray)}")
        requests.append(partitions.build_delete_request(stray))
    runs = [
        dg.RunRequest(
            run_key=f"{product.name}/{partition_key(number)}",
            partition_key=partition_key(number),
            job_name=capture_to_merge_job_name(product.name)
            if merges_right_after_processing(services, product, number)
            else ingest_job_name(product.name),
        )
        for number in numbers
    ]
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=requests,
        cursor=cursor,
        skip_reason=None
        if runs
        else ("the source has not changed" if cursor == "{}" else "the listing continues on the next tick"),
    )
