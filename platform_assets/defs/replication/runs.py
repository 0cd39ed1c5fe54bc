"""``platform-assets replicate``: run the replica asset through Dagster, against the instance in $DAGSTER_HOME."""

from __future__ import annotations

import dagster as dg

from platform_assets.defs.replication import build_replication_defs, replicate_job_name, replication_resources
from platform_assets.defs.replication.assets import RESULT_METADATA_KEY, replica_key
from platform_assets.defs.resources import platform_resource
from platform_assets.defs.runs import dagster_instance, resolve_config_path
from platform_assets.replication import ReplicationError, ReplicationResult, check_replica
from platform_assets.replication import errors as replication_errors


def replication_definitions(config_path: str) -> dg.Definitions:
    """The replication part of the platform's Definitions (what builder.py adds), with its resources."""
    platform = platform_resource(config_path)
    assets, sensors, jobs = build_replication_defs(platform.platform().config)
    return dg.Definitions(
        assets=assets,
        sensors=sensors,
        jobs=jobs,
        resources={"platform": platform, **replication_resources(config_path)},
    )


def replicate_product(config_path: str | None, product_name: str, to_batch: int | None = None) -> ReplicationResult:
    """Materialize ``<product>/replica`` (to ``to_batch``, else the default sync point) in a Dagster run.

    Raises the run's error again: the same ReplicationError subclass and message
    the sync raised (other errors as ReplicationError with their message);
    NotAReplica before any run when the product is primary here.
    """
    path = resolve_config_path(config_path)
    config = platform_resource(path).platform().config
    check_replica(config, config.product(product_name))
    job = replication_definitions(path).resolve_job_def(replicate_job_name(product_name))
    op_name = "__".join(replica_key(config.product(product_name)).path)
    result = job.execute_in_process(
        instance=dagster_instance(),
        run_config={"ops": {op_name: {"config": {"to_batch": to_batch}}}},
        raise_on_error=False,
        tags={"platform/command": "replicate"},
    )
    if not result.success:
        error_class, message = _first_error(result)
        raise error_class(f"{message} (Dagster run {result.run_id})")
    for materialization in result.asset_materializations_for_node(op_name):
        value = materialization.metadata.get(RESULT_METADATA_KEY)
        if value is not None:
            return ReplicationResult.from_json(value.value)  # type: ignore[arg-type]
    raise ReplicationError(f"the replica run {result.run_id} of {product_name!r} reported no result")


def _first_error(result: dg.ExecuteInProcessResult) -> tuple[type[ReplicationError], str]:
    """The user error behind the run's first step failure: its ReplicationError class (by name) and message."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None and "dagster" in error.cls_name.lower():
                error = error.cause
            message = error.message.strip()
            prefix = f"{error.cls_name}: "
            if prefix in message:
                message = message.split(prefix, 1)[1]
            found = getattr(replication_errors, error.cls_name, None)
            is_ours = isinstance(found, type) and issubclass(found, ReplicationError)
            return (found if is_ours else ReplicationError), message  # type: ignore[return-value]
    return ReplicationError, "the Dagster run failed"
