"""The CLI <-> Dagster bridge: run a job of the code location for a command, and read back what it did.

Contract:
- Every command that materializes assets goes through :meth:`Commands.run_job`
  (one Dagster run per job and partition, against the instance in
  $DAGSTER_HOME, so the UI shows it) and reads the run the same way: the
  ``platform/result`` payloads its materializations carry, and the
  PlatformError that failed it, rebuilt with the same kind, exit code and
  message (:mod:`platform_assets.defs.results`).
- A run that failed for any other reason than a PlatformError or a blocking
  check is a bug: :class:`RunCrashed`, with Dagster's error and stack.
- How a run is executed is :meth:`Commands._execute` alone: in this process (the code location's executor
  is in process), as a run of the code location's job (the UI lists it under the job and can re-execute it).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from dagster._core.execution.api import execute_run
from filelock import FileLock
from sqlalchemy.exc import IntegrityError

from platform_assets.catalog.records import RegisteredVersion
from platform_assets.catalog.states import UNPROCESSED_STATES, VersionStatus
from platform_assets.config import CONFIG_ENV_VAR, ConfigError, ProductConfig, load_config
from platform_assets.defs.actors import ACTOR_TAG
from platform_assets.defs.builder import build_definitions
from platform_assets.defs.ingest.jobs import capture_job_name, merge_job_name, process_job_name
from platform_assets.defs.location import remote_job_origin
from platform_assets.defs.partitions import asset_key, partition_key, versions_partitions_name
from platform_assets.defs.reconcile import RECONCILED_CHECK, reconcile_job_name, reconcile_op_name
from platform_assets.defs.replication import replicate_job_name
from platform_assets.defs.replication.assets import replica_key
from platform_assets.defs.results import (
    ERROR_KIND_KEY,
    ERROR_MESSAGE_KEY,
    EXIT_CODE_KEY,
    RESULT_ASSET_KEY,
    RESULT_KEY,
)
from platform_assets.defs.review import published_job_name
from platform_assets.errors import PlatformError, ReportedError
from platform_assets.ingest.capture import CaptureResult
from platform_assets.ingest.leases import held_advice
from platform_assets.ingest.processing import ProcessReport
from platform_assets.merge import BatchLogEntry, BatchResultStatus, BatchStatus, batch_log
from platform_assets.merge.versions import merge_plan, ready_merges, table_row_counts
from platform_assets.platform import Platform
from platform_assets.progress import ProgressTask, to_listeners
from platform_assets.replication import ReplicationResult, check_replica
from platform_assets.versions.reconciliation import ReconcileReport
from platform_assets.versions.resolution import resolve_version
from platform_assets.versions.review import DecisionResult

if TYPE_CHECKING:
    from dagster._core.execution.plan.objects import UserFailureData

DEFAULT_DAGSTER_HOME = ".dagster_home"
INSTANCE_LOCK_FILE = ".platform-assets-instance.lock"
PARTITION_ADD_ATTEMPTS = 5
LOG_LEVEL_ENV_VAR = "PLATFORM_LOG_LEVEL"
PARTITION_TAG = "dagster/partition"
READ_EVENTS = {
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
    dg.DagsterEventType.STEP_FAILURE,
}


def location_job(config_path: str, job_name: str) -> dg.JobDefinition:
    """The job ``job_name`` of the code location built from ``config_path`` (rebuilds a CLI run's job)."""
    return build_definitions(load_config(config_path), config_path).resolve_job_def(job_name)


class RunCrashed(Exception):
    """A Dagster run failed for a reason that is not a PlatformError: a bug, shown with Dagster's stack."""


@dataclass(frozen=True)
class JobRequest:
    """One run of ``job``: on ``partition`` (a version) when given, with run config and tags."""

    job: str
    partition: str | None = None
    run_config: Mapping[str, Any] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobOutcome:
    """What a run reported: its results per asset (in event order) and how it failed, if it did."""

    run_id: str
    success: bool
    results: dict[str, list[dict[str, Any]]]
    error: PlatformError | None = None
    crash: str | None = None

    def result(self, key: dg.AssetKey) -> dict[str, Any] | None:
        """The last result the run reported for the asset ``key``."""
        found = self.results.get(key.to_user_string())
        return found[-1] if found else None

    def raise_for_failure(self) -> None:
        """Raise the PlatformError that failed the run, or RunCrashed for any other failure but a blocking check."""
        if self.error is not None:
            raise self.error
        if self.crash is not None:
            raise RunCrashed(f"Dagster run {self.run_id} failed:\n{self.crash}")


def resolve_config_path(config_path: str | None) -> str:
    chosen = config_path or os.environ.get(CONFIG_ENV_VAR)
    if not chosen:
        raise ConfigError(f"no config given: pass --config PATH or set {CONFIG_ENV_VAR}")
    return str(Path(chosen).resolve())


def dagster_instance(*, verbose: bool = True) -> dg.DagsterInstance:
    """The instance in $DAGSTER_HOME (default ./.dagster_home), opened under the home's file lock.

    Opening a new home creates its databases and stamps their migrations; two
    processes doing that at once can leave the instance broken for good, so the
    commands of one host take turns (an opened instance is not locked). Unless
    ``verbose``, Dagster's warnings while opening it (a home without
    dagster.yaml) are not shown.
    """
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(DEFAULT_DAGSTER_HOME).resolve())))
    home.mkdir(parents=True, exist_ok=True)
    with FileLock(home / INSTANCE_LOCK_FILE), _dagster_warnings(shown=verbose):
        return dg.DagsterInstance.get()


@contextmanager
def _dagster_warnings(*, shown: bool) -> Iterator[None]:
    logger = logging.getLogger("dagster")
    level = logger.level
    if not shown:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def add_version_partitions(instance: dg.DagsterInstance, product_name: str, numbers: list[int]) -> None:
    """Add the dynamic partitions of ``numbers`` that the instance does not have yet.

    Idempotent under concurrency: when another command adds one of them between
    the look and the add, the add is tried again with what is still missing.
    """
    name = versions_partitions_name(product_name)
    for attempt in range(PARTITION_ADD_ATTEMPTS):
        existing = set(instance.get_dynamic_partitions(name))
        missing = [partition_key(number) for number in numbers if partition_key(number) not in existing]
        if not missing:
            return
        try:
            instance.add_dynamic_partitions(name, missing)
            return
        except IntegrityError:
            if attempt == PARTITION_ADD_ATTEMPTS - 1:
                raise  # not a race that settles: something else keeps the key from being added


def read_outcome(instance: dg.DagsterInstance, run_id: str) -> JobOutcome:
    """The results and failure of the finished run ``run_id``, from the instance's event log."""
    run = instance.get_run_by_id(run_id)
    results: dict[str, list[dict[str, Any]]] = {}
    error: PlatformError | None = None
    crashes: list[str] = []
    failed_blocking_checks = failed_versions = False
    for entry in instance.all_logs(run_id, of_type=READ_EVENTS):
        event = entry.dagster_event
        if event is None:
            continue
        if event.event_type is dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            value = materialization.metadata.get(RESULT_KEY)
            if isinstance(value, dg.JsonMetadataValue) and isinstance(value.data, dict):
                results.setdefault(materialization.asset_key.to_user_string(), []).append(value.data)
        elif event.event_type is dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.asset_check_evaluation_data
            failed_blocking_checks |= not evaluation.passed and bool(evaluation.blocking)
            value = evaluation.metadata.get(RESULT_KEY)
            if isinstance(value, dg.JsonMetadataValue) and isinstance(value.data, dict):
                results.setdefault(check_result_key(evaluation.asset_key, evaluation.check_name), []).append(value.data)
        else:
            failure = event.step_failure_data
            data = failure.user_failure_data
            reported = _reported_error(data)
            failed_results = _failed_results(data)
            if reported is not None:
                error = error or reported
            elif data is not None and failed_results:  # a version that ended failed: its result, as materialized
                failed_versions = True
                results.setdefault(_text(data.metadata.get(RESULT_ASSET_KEY)), []).extend(failed_results)
            else:
                crashes.append(failure.error.to_string() if failure.error else "the step failed without an error")
    success = run is not None and run.status is dg.DagsterRunStatus.SUCCESS
    crash = None
    if not success and error is None and not failed_blocking_checks and not failed_versions:
        crash = "\n".join(crashes) or f"the run ended {run.status.value if run else 'missing'}"
    return JobOutcome(run_id, success, results, error, crash)


def check_result_key(asset: dg.AssetKey, check_name: str) -> str:
    """Where :class:`JobOutcome` keeps the results a check reported: ``<asset>:<check>``."""
    return f"{asset.to_user_string()}:{check_name}"


def _reported_error(data: UserFailureData | None) -> PlatformError | None:
    """The PlatformError a failed step reported through its ``dg.Failure`` metadata, if it did."""
    metadata = data.metadata if data is not None else {}
    kind, exit_code, message = (metadata.get(key) for key in (ERROR_KIND_KEY, EXIT_CODE_KEY, ERROR_MESSAGE_KEY))
    if not isinstance(exit_code, dg.IntMetadataValue) or exit_code.value is None:
        return None
    return ReportedError(_text(message), kind=_text(kind), exit_code=exit_code.value)


def _failed_results(data: UserFailureData | None) -> list[dict[str, Any]]:
    """The results a step whose version ended failed carries in its failure (``defs.results.version_failed``)."""
    value = data.metadata.get(RESULT_KEY) if data is not None else None
    if not isinstance(value, dg.JsonMetadataValue):
        return []
    payload = value.data
    return [payload] if isinstance(payload, dict) else [item for item in payload or [] if isinstance(item, dict)]


def _text(value: dg.MetadataValue | None) -> str:
    return (value.text or "") if isinstance(value, dg.TextMetadataValue) else ""


class Commands:
    """The commands of one platform.yaml (``config_path``, default ``$PLATFORM_CONFIG``)."""

    def __init__(self, config_path: str | None, *, verbose: bool = False) -> None:
        self.config_path = resolve_config_path(config_path)
        self.platform = Platform.from_path(self.config_path)
        self.verbose = verbose

    def product(self, name: str) -> ProductConfig:
        return self.platform.product(name)

    @cached_property
    def instance(self) -> dg.DagsterInstance:
        """The Dagster instance the command's runs go to (:func:`dagster_instance`), opened on first use."""
        return dagster_instance(verbose=self.verbose)

    @property
    def log_config(self) -> dict[str, Any]:
        """The runs' console log level: ``$PLATFORM_LOG_LEVEL``, else INFO when verbose, else none at all.

        A failed step logs its stack trace at ERROR; a command reports the
        failure itself, so the stack shows only when asked for.
        """
        level = os.environ.get(LOG_LEVEL_ENV_VAR) or ("INFO" if self.verbose else "CRITICAL")
        return {"loggers": {"console": {"config": {"log_level": level}}}}

    def run_job(self, request: JobRequest) -> JobOutcome:
        """Run one job through Dagster and read back its results and failure."""
        run_id = self._execute(self.instance, request)
        return read_outcome(self.instance, run_id)

    def _execute(self, instance: dg.DagsterInstance, request: JobRequest) -> str:
        """Execute the run in this process, against ``instance``; returns its run id once it finished.

        The run is the code location's: its remote origin names the location the
        UI loads (:mod:`platform_assets.defs.location`), so the job's page lists
        it and Re-execute launches it there; its code origin rebuilds the job
        from this config (:func:`location_job`).
        """
        recon = dg.build_reconstructable_job(
            __name__,
            location_job.__name__,
            reconstructable_kwargs={"config_path": self.config_path, "job_name": request.job},
        )
        tags = {ACTOR_TAG: self.platform.actor, **request.tags}
        if request.partition is not None:
            tags[PARTITION_TAG] = request.partition
        run = instance.create_run_for_job(
            job_def=recon.get_definition(),
            run_config={**self.log_config, **request.run_config},
            tags=tags,
            remote_job_origin=remote_job_origin(request.job),
            job_code_origin=recon.get_python_origin(),
        )
        execute_run(recon, run, instance, raise_on_error=False)
        return run.run_id

    def run_version_job(self, product: str, job: str, version: int, command: str, **config: Any) -> JobOutcome:
        """Run ``job`` on the partition of ``version`` (added first when missing), tagged with ``command``."""
        add_version_partitions(self.instance, product, [version])
        return self.run_job(JobRequest(job, partition_key(version), config, {"platform/command": command}))

    def sync(self, product_name: str) -> SyncOutcome:
        """Register a version if the source changed, then capture every pending version, one run each."""
        registered = self.platform.sync(self.product(product_name).name)
        captures, run_ids = [], []
        for number in self.platform.catalog.pending_captures(product_name):
            outcome = self.run_version_job(product_name, capture_job_name(product_name), number, "sync")
            run_ids.append(outcome.run_id)
            outcome.raise_for_failure()
            captures.append(CaptureResult.from_json(self._required(outcome, product_name, "raw_files")))
        return SyncOutcome(registered, captures, run_ids)

    def process(self, product_name: str, version: int | None, retry_failed: bool = False) -> ProcessOutcome:
        """Resolve the version (:mod:`platform_assets.versions.resolution`) and materialize ``<product>/staged`` for it.

        A given version that is PROCESSED is processed again (its rows replaced),
        unless ``retry_failed`` asks for its failed files only.
        """
        number = resolve_version(self.platform.catalog, self.product(product_name).name, version)
        config = {"retry_failed": retry_failed, "reprocess": version is not None and not retry_failed}
        ops = {f"{product_name}__staged": {"config": config}}
        outcome = self.run_version_job(product_name, process_job_name(product_name), number, "process", ops=ops)
        if outcome.error is not None:
            return ProcessOutcome(number, outcome.run_id, None, outcome.error)
        outcome.raise_for_failure()
        report = ProcessReport.from_json(self._required(outcome, product_name, "staged"))
        return ProcessOutcome(number, outcome.run_id, report, None)

    def merge(self, product_name: str, up_to: int | None = None) -> MergeOutcome:
        """Merge every processed, unmerged version up to ``up_to``, one run per version, in order.

        Raises :func:`~platform_assets.merge.versions.merge_plan`'s refusal when
        ``up_to`` does not exist, or nothing up to it waits. Stops at the first
        version whose run fails with a PlatformError and reports it. A batch that
        another command committed meanwhile is reported as such, not as merged.
        """
        product = self.product(product_name)
        return self._merge_each(product, merge_plan(self.platform.services, product, up_to), "merge")

    def merge_ready(self, product_name: str, command: str) -> MergeOutcome:
        """Merge the versions that may merge now (``merge.versions.ready_merges``), in order, one run each."""
        product = self.product(product_name)
        return self._merge_each(product, ready_merges(self.platform.services, product), command)

    def _merge_each(self, product: ProductConfig, pending: list[int], command: str) -> MergeOutcome:
        """One merge run per version of ``pending``, in order, until one fails; ``<product>/published`` refreshed
        after merges."""
        services = self.platform.services
        run_ids: list[str] = []
        attempted: list[int] = []
        already: list[int] = []
        error: PlatformError | None = None
        task = ProgressTask(to_listeners, f"merge {product.name}", "versions", len(pending))
        for number in pending:
            task.detail = f"merging v{number}"
            outcome = self.run_version_job(product.name, merge_job_name(product.name), number, command)
            task.advance(1, f"v{number} done")
            run_ids.append(outcome.run_id)
            if outcome.error is not None:
                error = outcome.error
                attempted.append(number)
                break
            outcome.raise_for_failure()
            result = outcome.result(asset_key(product, "merge"))
            noop = result is not None and result.get("status") == BatchResultStatus.NOOP
            (already if noop else attempted).append(number)
        task.finish()
        merged = [entry for entry in batch_log(services.merge_store, product.name) if entry.batch in attempted]
        if merged and product.under_review:  # what a reviewer watches: the published version and its metrics
            refresh = self.run_job(
                JobRequest(published_job_name(product.name), None, {}, {"platform/command": command})
            )
            run_ids.append(refresh.run_id)
            refresh.raise_for_failure()
        live, total = table_row_counts(services.merge_store, product)
        return MergeOutcome(merged, run_ids, error, live, total, already)

    def approve(self, product_name: str, version: int, notes: str | None) -> ReviewOutcome:
        """Approve (``versions/review.py``), then process the child a rejected file calls for, and merge."""
        return self._follow(product_name, self.platform.approve(product_name, version, notes), "approve")

    def publish(self, product_name: str, version: int, notes: str | None) -> ReviewOutcome:
        """Re-publish an earlier version: its child is processed and merged as a new batch."""
        return self._follow(product_name, self.platform.rollback(product_name, version, notes), "publish")

    def _follow(self, product_name: str, decision: DecisionResult, command: str) -> ReviewOutcome:
        processed = None
        if decision.child is not None:
            processed = self.process(product_name, decision.child)
            if processed.error is not None or processed.report is None or not processed.report.succeeded:
                return ReviewOutcome(decision, processed, None)
        return ReviewOutcome(decision, processed, self.merge_ready(product_name, command))

    def run(self, product_name: str) -> RunOutcome:
        """sync, then process every captured, unprocessed version in ascending order, then merge."""
        synced = self.sync(product_name)
        processed: list[ProcessOutcome] = []
        for version in self.platform.catalog.versions(product_name):
            if version.excluded or version.status not in UNPROCESSED_STATES:
                continue
            outcome = self.process(product_name, version.number)
            processed.append(outcome)
            if outcome.report is None or not outcome.report.succeeded:
                return RunOutcome(synced, processed, None)
        if self.product(product_name).under_review:  # what awaits review stays for a reviewer
            return RunOutcome(synced, processed, self.merge_ready(product_name, "run"))
        return RunOutcome(synced, processed, self.merge(product_name))

    def reconcile(self, product_name: str, deep: bool, repair: bool) -> tuple[ReconcileReport, str]:
        """Run ``<product>_reconcile`` (the check ``raw_zone_reconciled``); its report and the run's id."""
        product = self.product(product_name)
        ops = {reconcile_op_name(product): {"config": {"deep": deep, "repair": repair}}}
        request = JobRequest(reconcile_job_name(product.name), None, {"ops": ops}, {"platform/command": "reconcile"})
        outcome = self.run_job(request)
        outcome.raise_for_failure()
        found = outcome.results.get(check_result_key(asset_key(product, "raw_files"), RECONCILED_CHECK))
        if not found:
            raise RunCrashed(f"Dagster run {outcome.run_id} reported no reconciliation of {product.name}")
        return ReconcileReport.from_json(found[-1]), outcome.run_id

    def replicate(self, product_name: str, to_batch: int | None = None) -> ReplicationResult:
        """Materialize ``<product>/replica`` (to ``to_batch``, else the default sync point).

        Raises the run's PlatformError again (same kind, exit code and message);
        NotAReplica before any run when the product is primary here.
        """
        product = self.product(product_name)
        check_replica(self.platform.config, product)
        run_config = {"ops": {"__".join(replica_key(product).path): {"config": {"to_batch": to_batch}}}}
        outcome = self.run_job(
            JobRequest(replicate_job_name(product_name), None, run_config, {"platform/command": "replicate"})
        )
        outcome.raise_for_failure()
        return ReplicationResult.from_json(self._required(outcome, product_name, "replica"))

    def _required(self, outcome: JobOutcome, product_name: str, asset: str) -> dict[str, Any]:
        key = asset_key(self.product(product_name), asset)
        result = outcome.result(key)
        if result is None:
            raise RunCrashed(f"Dagster run {outcome.run_id} reported no result for {key.to_user_string()}")
        return result


@dataclass(frozen=True)
class SyncOutcome:
    registered: RegisteredVersion | None
    captures: list[CaptureResult]
    run_ids: list[str]


@dataclass(frozen=True)
class ProcessOutcome:
    """A process run: the report, or the PlatformError that stopped the run."""

    version: int
    run_id: str
    report: ProcessReport | None
    error: PlatformError | None


@dataclass(frozen=True)
class MergeOutcome:
    """The batches the runs merged (from the batch log), the error that stopped them, the table's rows after.

    ``already_merged``: batches another command committed between the plan and their run.
    """

    merged: list[BatchLogEntry]
    run_ids: list[str]
    error: PlatformError | None
    live_rows: int
    table_rows: int
    already_merged: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class ReviewOutcome:
    """A decision, the processing of the child it created (if any), and the merges that followed."""

    decision: DecisionResult
    processed: ProcessOutcome | None
    merged: MergeOutcome | None


@dataclass(frozen=True)
class RunOutcome:
    """``run``: the sync, each version processed (the last one may have failed), and the merge if it got there."""

    synced: SyncOutcome
    processed: list[ProcessOutcome]
    merged: MergeOutcome | None


def batch_line(entry: BatchLogEntry) -> str:
    """``batch 3 committed: +2 ~1 -0, 10 live``; a batch that did not commit says its status and why."""
    if entry.status is BatchStatus.COMMITTED:
        return (
            f"batch {entry.batch} {entry.status}: +{entry.inserted or 0} ~{entry.updated or 0} -{entry.deleted or 0}, "
            f"{entry.live_count or 0} live"
        )
    return f"batch {entry.batch} {entry.status}" + (f": {entry.message}" if entry.message else "")


def _synced_line(synced: SyncOutcome) -> str:
    """What the sync did: the version it registered and whether it was captured, or that the source is unchanged."""
    registered = synced.registered
    if registered is None:
        captures = "".join(f"; capture of v{capture.version}: {capture.status}" for capture in synced.captures)
        return f"source unchanged{captures}"
    capture = next((capture for capture in synced.captures if capture.version == registered.number), None)
    if capture is None or capture.status is not VersionStatus.CAPTURED:
        status = capture.status if capture else "not captured"
        failed = f", {len(capture.failed)} file(s) failed" if capture and capture.failed else ""
        return f"version {registered.number} registered; capture: {status}{failed}"
    return f"version {registered.number} captured"


def run_report(commands: Commands, product: str, outcome: RunOutcome) -> dict[str, Any]:
    """What ``run`` did: per step a line of ``summary``, and the figures ``--json`` shows."""
    registered = outcome.synced.registered
    summary = [f"{product}: " + _synced_line(outcome.synced)]
    processed = []
    for step in outcome.processed:
        report = step.report
        status = report.version_status if report else commands.platform.catalog.version(product, step.version).status
        rows = report.version_rows if report else commands.platform.catalog.rows_written(product, step.version)
        processed.append({"version": step.version, "status": status, "rows": rows})
        summary.append(f"  processed v{step.version}: {status}, {rows} rows")
        if report is None or not report.succeeded:
            if report is not None and report.held_by:
                summary.append(f"  stopped: v{step.version} is still being processed")
                summary += [f"    {line}" for line in held_advice(product, step.version, report.held_by)]
                return {"product": product, "ok": False, "processed": processed, "merged": [], "summary": summary}
            failures = report.version_failures if report else {"(run)": str(step.error)}
            reasons = "; ".join(f"{key}: {message}" for key, message in failures.items())
            summary.append(f"  stopped: v{step.version} failed: {reasons}")
            return {"product": product, "ok": False, "processed": processed, "merged": [], "summary": summary}
    merged = outcome.merged
    assert merged is not None, "run merges once every version processed"
    summary += [f"  merged {batch_line(entry)}" for entry in merged.merged]
    summary += [f"  batch {batch} was merged already, by another command" for batch in merged.already_merged]
    summary.append(f"  {product}_merge: {merged.live_rows} live rows, {merged.table_rows} with history")
    if merged.error:
        summary.append(f"  merge failed: {merged.error}")
    return {
        "product": product,
        "ok": merged.error is None,
        "version": registered.number if registered else None,
        "processed": processed,
        "merged": [entry.batch for entry in merged.merged],
        "live_rows": merged.live_rows,
        "table_rows": merged.table_rows,
        "summary": summary,
    }
