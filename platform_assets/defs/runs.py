"""Run assets through Dagster from the command line, against the instance in $DAGSTER_HOME.

The runs land in that instance exactly as if launched from the UI, so
`dagster dev` on the same DAGSTER_HOME shows them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from sqlalchemy import func, select, text

from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import FileStatus, RawFile, VersionStatus
from platform_assets.catalog.products import ensure_product, get_product
from platform_assets.catalog.versions import file_status_counts, get_version, pending_capture_numbers
from platform_assets.config import CONFIG_ENV_VAR, ConfigError
from platform_assets.defs.builder import build_definitions
from platform_assets.defs.ingest.jobs import capture_job_name, merge_job_name, process_job_name
from platform_assets.defs.partitions import versions_partitions_name
from platform_assets.defs.resources import platform_resource
from platform_assets.ingest.capture import CaptureResult
from platform_assets.ingest.discovery import RegisteredVersion
from platform_assets.merge import BatchLogEntry, batch_log
from platform_assets.platform import Platform
from platform_assets.versions.merging import pending_merges, version_numbers
from platform_assets.versions.resolution import resolve_version

DEFAULT_DAGSTER_HOME = ".dagster_home"
QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": os.environ.get("PLATFORM_LOG_LEVEL", "WARNING")}}}}


@dataclass
class SyncOutcome:
    registered: RegisteredVersion | None
    captures: list[CaptureResult] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)


def resolve_config_path(config_path: str | None) -> str:
    chosen = config_path or os.environ.get(CONFIG_ENV_VAR)
    if not chosen:
        raise ConfigError(f"no config given: pass --config PATH or set {CONFIG_ENV_VAR}")
    return str(Path(chosen).resolve())


def dagster_instance() -> dg.DagsterInstance:
    """The instance in $DAGSTER_HOME, defaulting it to ./.dagster_home."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(DEFAULT_DAGSTER_HOME).resolve())))
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.get()


def sync_product(config_path: str | None, product_name: str) -> SyncOutcome:
    """Register a version if the source changed, then capture every pending version through Dagster."""
    path = resolve_config_path(config_path)
    platform = platform_resource(path).platform()
    product = platform.product(product_name)
    registered = platform.sync(product_name)
    with transaction(platform.state_engine) as session:
        pending = pending_capture_numbers(session, ensure_product(session, product.name))
    outcome = SyncOutcome(registered)
    if not pending:
        return outcome
    instance = dagster_instance()
    defs = build_definitions(platform.config, path)
    add_version_partitions(instance, product_name, pending)
    job = defs.resolve_job_def(capture_job_name(product_name))
    for number in pending:
        result = job.execute_in_process(
            instance=instance,
            partition_key=str(number),
            run_config=QUIET_LOGGERS,
            raise_on_error=False,
            tags={"platform/command": "sync"},
        )
        outcome.run_ids.append(result.run_id)
        outcome.captures.append(platform.capture(product_name, number))
    return outcome


def add_version_partitions(instance: dg.DagsterInstance, product_name: str, numbers: list[int]) -> None:
    """Add the dynamic partitions of ``numbers`` that the instance does not have yet."""
    name = versions_partitions_name(product_name)
    existing = set(instance.get_dynamic_partitions(name))
    missing = [str(number) for number in numbers if str(number) not in existing]
    if missing:
        instance.add_dynamic_partitions(name, missing)


@dataclass
class ProcessOutcome:
    version: int
    status: str
    run_id: str
    success: bool
    file_counts: dict[str, int]
    rows: int
    failures: dict[str, str]


def process_product(
    config_path: str | None, product_name: str, version: int | None, retry_failed: bool = False
) -> ProcessOutcome:
    """Resolve the version (design.md rules) and materialize ``<product>/staged`` for it through Dagster."""
    path = resolve_config_path(config_path)
    platform = platform_resource(path).platform()
    product = platform.product(product_name)
    with transaction(platform.state_engine) as session:
        number = resolve_version(session, product.name, version)
    instance = dagster_instance()
    add_version_partitions(instance, product_name, [number])
    defs = build_definitions(platform.config, path)
    job = defs.resolve_job_def(process_job_name(product_name))
    run_config = {
        **QUIET_LOGGERS,
        "ops": {
            f"{product_name}__staged": {
                "config": {"retry_failed": retry_failed, "reprocess": version is not None and not retry_failed}
            }
        },
    }
    result = job.execute_in_process(
        instance=instance,
        partition_key=str(number),
        run_config=run_config,
        raise_on_error=False,
        tags={"platform/command": "process"},
    )
    with transaction(platform.state_engine) as session:
        row = get_version(session, get_product(session, product_name), number)
        counts = file_status_counts(session, row.product_id, number)
        failures = dict(
            session.execute(
                select(RawFile.key, RawFile.error_message).where(
                    RawFile.product_id == row.product_id,
                    RawFile.version == number,
                    RawFile.status == FileStatus.FAILED,
                )
            ).all()
        )
        rows = session.scalar(
            select(func.coalesce(func.sum(RawFile.rows_written), 0)).where(
                RawFile.product_id == row.product_id,
                RawFile.version == number,
                RawFile.status == FileStatus.PROCESSED,
            )
        )
        status = row.status
    error = None if result.success else _first_error(result)
    if error:
        failures.setdefault("(run)", error)
    return ProcessOutcome(
        number,
        status,
        result.run_id,
        result.success and status == VersionStatus.PROCESSED,
        counts,
        int(rows or 0),
        failures,
    )


def _first_error(result: dg.ExecuteInProcessResult) -> str:
    """The message of the error that failed the run's first failed step (the user error, not Dagster's wrapper)."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            error = event.step_failure_data.error
            while error.cause is not None:
                error = error.cause
            return error.message.strip()
    return "the Dagster run failed"


@dataclass
class MergeOutcome:
    merged: list[BatchLogEntry]
    run_ids: list[str]
    error: str | None
    live_rows: int
    table_rows: int


def merge_product(config_path: str | None, product_name: str, up_to: int | None = None) -> MergeOutcome:
    """Merge every processed, unmerged version up to ``up_to``, one Dagster run per version, in order."""
    path = resolve_config_path(config_path)
    platform = platform_resource(path).platform()
    platform.product(product_name)
    store = platform.merge_store
    pending = pending_merges(platform, store, product_name, up_to)
    instance = dagster_instance()
    defs = build_definitions(platform.config, path)
    job = defs.resolve_job_def(merge_job_name(product_name))
    run_ids, error = [], None
    add_version_partitions(instance, product_name, pending)
    for number in pending:
        result = job.execute_in_process(
            instance=instance,
            partition_key=str(number),
            run_config=QUIET_LOGGERS,
            raise_on_error=False,
            tags={"platform/command": "merge"},
        )
        run_ids.append(result.run_id)
        if not result.success:
            error = _first_error(result)
            break
    merged = [entry for entry in batch_log(store, product_name) if entry.batch in pending]
    live, total = merge_table_counts(platform, product_name)
    return MergeOutcome(merged, run_ids, error, live, total)


def merge_table_counts(platform: Platform, product_name: str) -> tuple[int, int]:
    """(live rows, all rows) of the product's merge table; (0, 0) before its first merge."""
    from platform_assets.merge.names import live_view, merge_table, quote_ident

    store = platform.merge_store
    store.ensure_tables(platform.product(product_name))
    with store.engine.connect() as connection:
        live = connection.execute(text(f"SELECT COUNT(*) FROM {quote_ident(live_view(product_name))}")).scalar_one()
        total = connection.execute(text(f"SELECT COUNT(*) FROM {quote_ident(merge_table(product_name))}")).scalar_one()
    return int(live), int(total)


def run_product(config_path: str | None, product_name: str) -> dict[str, object]:
    """sync, then process every captured, unprocessed version in ascending order, then merge."""
    from platform_assets.catalog.states import UNPROCESSED_STATES

    path = resolve_config_path(config_path)
    platform = platform_resource(path).platform()
    synced = sync_product(path, product_name)
    summary = [
        f"{product_name}: "
        + (f"version {synced.registered.number} captured" if synced.registered else "source unchanged")
    ]
    processed = []
    for number, status, excluded in version_numbers(platform, product_name):
        if excluded or status not in UNPROCESSED_STATES:
            continue
        outcome = process_product(path, product_name, number)
        processed.append({"version": number, "status": outcome.status, "rows": outcome.rows})
        summary.append(f"  processed v{number}: {outcome.status}, {outcome.rows} rows")
        if not outcome.success:
            summary.append(
                f"  stopped: v{number} failed: " + "; ".join(f"{k}: {v}" for k, v in outcome.failures.items())
            )
            return {"product": product_name, "ok": False, "processed": processed, "merged": [], "summary": summary}
    merged = merge_product(path, product_name)
    for entry in merged.merged:
        summary.append(
            f"  merged batch {entry.batch}: {entry.status}, +{entry.inserted} ~{entry.updated} -{entry.deleted}"
        )
    summary.append(f"  {product_name}_merge: {merged.live_rows} live rows, {merged.table_rows} with history")
    if merged.error:
        summary.append(f"  merge failed: {merged.error}")
    return {
        "product": product_name,
        "ok": merged.error is None,
        "version": synced.registered.number if synced.registered else None,
        "processed": processed,
        "merged": [entry.batch for entry in merged.merged],
        "live_rows": merged.live_rows,
        "table_rows": merged.table_rows,
        "summary": summary,
    }
