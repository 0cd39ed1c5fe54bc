"""``<product>_merge_next``: merge the version the merge order allows next, one run of ``<product>_merge`` each.

The rule is the domain's (:func:`platform_assets.merge.versions.next_merge`);
the sensor only asks it. A sensor, not a run-status trigger, because what
unblocks the order can happen outside any run (an exclusion or, with review,
an approval from the command line). The run key holds the version and its
processing, so a failed merge is not retried by itself (the version's path
stops and later versions wait) until the version is processed again. While a
run of the product on that version is unfinished (discovery's
``capture_to_merge`` may merge it itself) the sensor waits.
"""

import dagster as dg
from dagster._core.storage.dagster_run import FINISHED_STATUSES

from platform_assets.config import ProductConfig
from platform_assets.defs.ingest.jobs import capture_to_merge_job_name, ingest_job_name, merge_job_name
from platform_assets.defs.ingest.sensors import sensor_status
from platform_assets.defs.partitions import partition_key
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import scrubbed_sensor
from platform_assets.merge.versions import next_merge

MERGE_CHECK_SECONDS = 5  # at most this often; one catalog query and a read of the batch log


def merge_sensor_name(product_name: str) -> str:
    return f"{product_name}_merge_next"


def build_merge_sensor(product: ProductConfig) -> dg.SensorDefinition:
    @dg.sensor(
        name=merge_sensor_name(product.name),
        job_name=merge_job_name(product.name),
        minimum_interval_seconds=min(MERGE_CHECK_SECONDS, product.automation.minimum_interval_seconds),
        default_status=sensor_status(product),
        description=(
            f"Merges the next version of {product.name} in order once it is processed; a failed or unprocessed "
            "version holds the later ones until it is processed or excluded."
        ),
    )
    @scrubbed_sensor
    def merge_next(context: dg.SensorEvaluationContext, platform: PlatformResource) -> dg.RunRequest | dg.SkipReason:
        turn = next_merge(platform.services(), product)
        if turn.version is None:
            return dg.SkipReason(turn.reason)
        key = partition_key(turn.version)
        busy = running_on(context.instance, product, key)
        if busy:
            return dg.SkipReason(f"v{turn.version} is next, but a run of {busy} on it has not finished")
        processed = turn.processed_at.isoformat() if turn.processed_at else "unknown"
        context.log.info(f"{product.name}: {turn.reason}")
        return dg.RunRequest(
            run_key=f"{product.name}/{key}/merge/{processed}",
            partition_key=key,
            tags={"platform/trigger": merge_sensor_name(product.name)},
        )

    return merge_next


def running_on(instance: dg.DagsterInstance, product: ProductConfig, key: str) -> str | None:
    """The name of a product's job with a run on partition ``key`` not finished yet (its merge may be in it)."""
    names = {job(product.name) for job in (capture_to_merge_job_name, ingest_job_name, merge_job_name)}
    unfinished = [status for status in dg.DagsterRunStatus if status not in FINISHED_STATUSES]
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": key}, statuses=unfinished))
    return next((run.job_name for run in runs if run.job_name in names), None)
