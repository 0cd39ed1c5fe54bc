"""Processing: a captured version's files become rows of the product's Iceberg table.

Contract:
- Each file's good rows land in ``<platform>.<product>`` exactly once, however
  many workers run and wherever one crashes: claims hand a file to one worker
  (:meth:`platform_assets.catalog.Catalog.claim_files`), and every append
  carries markers naming its files (:mod:`.appends`), so a file whose rows a
  crashed worker already committed is marked PROCESSED without being written
  again, and two workers can never both commit one file.
- A file whose raw copy is missing or does not match its sha256, that cannot
  be parsed, or whose rejected share exceeds ``max_bad_row_fraction`` is FAILED
  with a typed error and none of its rows are written; the others go on.
- Processing a PROCESSED version again on purpose (``reprocess=True``) starts a
  new generation that first removes the version's rows, so it replaces them.
- A version already processed and decided since (APPROVED, REJECTED, PUBLISHED,
  or SUPERSEDED after it was processed) is not processed again: the report's
  ``outcome`` is :data:`UNCHANGED_DECIDED`, with the version's figures and a
  ``note`` saying so; it counts as succeeded, and nothing in the catalog changes.
  One superseded or excluded before it was processed is still refused.
- An error of the user's making that stops the worker (a UserError: a schema
  that cannot be inferred, a declared schema the table does not hold) turns the
  version FAILED with the error as its ``status_reason``, then propagates.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyiceberg.table import Table

from platform_assets.actions import skip_action
from platform_assets.catalog import Catalog
from platform_assets.catalog.errors import RawCopyLost
from platform_assets.catalog.records import ClaimedFile, ClaimPolicy, FileOutcome, LeaseHolder, ProcessingStart
from platform_assets.catalog.states import FileStatus, RunKind, RunStatus, VersionStatus
from platform_assets.column_types import ColumnType
from platform_assets.config import ProcessingSettings, ProductConfig
from platform_assets.errors import UserError
from platform_assets.failpoints import failpoint
from platform_assets.ingest.appends import append_exactly_once, by_file, committed_drift, committed_rows
from platform_assets.ingest.capture import raw_key
from platform_assets.ingest.evolution import BatchPlan, Evolution, parse_batch, plan_batch, read_as
from platform_assets.ingest.large_files import StreamedWrites, StreamShape
from platform_assets.ingest.leases import LeaseKeeper
from platform_assets.ingest.parsing import (
    REJECTS_SCHEMA,
    ArrowParser,
    InputFile,
    Parser,
    ParseResult,
    declared_arrow_schema,
)
from platform_assets.ingest.raw_copies import check_raw_copies, local_copy
from platform_assets.ingest.schema_versions import record_processed_schema
from platform_assets.ingest.table_schema import (
    DECLARED,
    FILE_WIDENED,
    columns_of,
    declared_before,
    effective_columns,
    file_widened,
    held_columns,
)
from platform_assets.progress import BYTES, Progress, ProgressTask
from platform_assets.storage import iceberg
from platform_assets.storage.iceberg_schema import StaleWriteSchema, add_missing_columns

if TYPE_CHECKING:
    from platform_assets.services import Services


PROCESSED = "processed"
UNCHANGED_DECIDED = "unchanged, decided"
"""A report's ``outcome``: the version was processed, or it was decided already and left as it was."""


@dataclass(frozen=True)
class ProcessOptions:
    """How to process a version.

    ``retry_failed`` gives failed files their retries back; ``reprocess``
    replaces the rows of a PROCESSED version; ``worker`` names this worker in
    claims (default: host, pid and a tag); ``on_batch`` is called with the
    report so far after each batch; ``progress`` gets the bytes of the
    version's files done (PROCESSED or SKIPPED before, plus this worker's),
    after each group of files and each piece of a large file.
    """

    retry_failed: bool = False
    reprocess: bool = False
    worker: str | None = None
    on_batch: Callable[[ProcessReport], None] | None = None
    progress: Progress | None = None


@dataclass
class ProcessReport:
    """What one worker did to one version, and where the version stands after it.

    ``rows_written`` ... ``failures`` count this worker's files; ``version_*``
    and ``file_counts`` describe the whole version after the settle.
    ``outcome`` is :data:`PROCESSED` or :data:`UNCHANGED_DECIDED` (nothing done:
    ``note`` says why and what to do instead).
    """

    product: str
    version: int
    worker: str
    generation: int
    version_status: VersionStatus = VersionStatus.PROCESSING
    rows_written: int = 0
    rows_rejected: int = 0
    files_processed: int = 0
    files_recovered: int = 0
    files_failed: int = 0
    bytes_read: int = 0
    duration_s: float = 0.0
    catalog_s: float = 0.0
    snapshot_id: int | None = None
    failures: dict[str, str] = field(default_factory=dict)
    file_counts: dict[FileStatus, int] = field(default_factory=dict)
    version_rows: int = 0
    version_rows_rejected: int = 0
    version_failures: dict[str, str] = field(default_factory=dict)
    held_by: list[LeaseHolder] = field(default_factory=list)
    outcome: str = PROCESSED
    note: str = ""

    @property
    def succeeded(self) -> bool:
        return self.unchanged or self.version_status in SUCCEEDED_STATES

    @property
    def unchanged(self) -> bool:
        """The version was decided already: nothing processed, its figures as they were."""
        return self.outcome == UNCHANGED_DECIDED

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "held_by": [holder.as_json() for holder in self.held_by]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessReport:
        counts = {FileStatus(status): count for status, count in data["file_counts"].items()}
        return cls(
            **{
                **data,
                "version_status": VersionStatus(data["version_status"]),
                "file_counts": counts,
                "held_by": [LeaseHolder.from_json(holder) for holder in data.get("held_by", [])],
            }
        )


SUCCEEDED_STATES = frozenset({VersionStatus.PROCESSED, VersionStatus.AWAITING_REVIEW, VersionStatus.APPROVED})
"""Where a version stands right after a successful processing (in review, or approved as a carried child)."""

DECIDED_STATES = frozenset(
    {VersionStatus.APPROVED, VersionStatus.REJECTED, VersionStatus.PUBLISHED, VersionStatus.SUPERSEDED}
)
"""Versions whose rows a decision (review, merge, a newer version) rests on: processing never changes them."""


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def process_version(
    services: Services, product: ProductConfig, version: int, options: ProcessOptions | None = None
) -> ProcessReport:
    """Claim and process the version's files until none is left for this worker, then settle the version."""
    options = options or ProcessOptions()
    started = time.perf_counter()
    catalog = services.catalog
    worker = options.worker or default_worker_id()
    decided = decided_report(catalog, product.name, version, worker, services.actor)
    if decided is not None:
        decided.duration_s = time.perf_counter() - started
        return decided
    refuse_lost_files(catalog, product.name, version)
    start = catalog.start_processing(
        product.name, version, retry_failed=options.retry_failed, reprocess=options.reprocess, actor=services.actor
    )
    report = ProcessReport(product.name, version, worker, start.generation)
    try:
        with catalog.worker(worker):
            run_id = _work(services, product, version, options, start, report)
    except UserError as error:
        # A schema that cannot be had or does not agree: no worker gets past it until config or data change.
        catalog.fail_processing(product.name, version, str(error), services.actor)
        raise
    tick = time.perf_counter()
    if report.files_processed:  # rows committed: the schema they were written under, before the version settles
        record_processed_schema(services, product, version)
    state = catalog.settle_processing(product.name, version, services.actor, review=product.under_review)
    report.catalog_s += time.perf_counter() - tick
    report.version_status, report.file_counts = state.status, state.file_counts
    report.version_rows, report.version_rows_rejected = state.rows_written, state.rows_rejected
    report.version_failures = state.failed
    if report.version_status is VersionStatus.PROCESSING:
        report.held_by = catalog.lease_holders(product.name, version)
    report.duration_s = time.perf_counter() - started
    status = RunStatus.SUCCEEDED if report.succeeded else RunStatus.FAILED
    catalog.finish_run(run_id, status, _run_stats(report))
    return report


def decided_report(catalog: Catalog, product: str, version: int, worker: str, actor: str) -> ProcessReport | None:
    """An :data:`UNCHANGED_DECIDED` report with the version's figures when it was processed and decided since,
    else None (processing goes on, and refuses what it must: excluded, superseded unprocessed, not captured)."""
    record = catalog.version(product, version)
    decided = record.status in DECIDED_STATES and record.processed_at is not None
    if not decided or record.excluded or record.purge_started_at is not None:
        return None
    state = catalog.settle_processing(product, version, actor)  # a decided version's settle changes nothing
    note = (
        f"{product} v{version} is already processed and decided ({record.status}): not reprocessed; "
        f"a new version does: `platform-assets sync {product}`"
    )
    return ProcessReport(
        product,
        version,
        worker,
        0,
        version_status=state.status,
        file_counts=state.file_counts,
        version_rows=state.rows_written,
        version_rows_rejected=state.rows_rejected,
        version_failures=state.failed,
        outcome=UNCHANGED_DECIDED,
        note=note,
    )


def refuse_lost_files(catalog: Catalog, product: str, version: int) -> None:
    """RawCopyLost naming each LOST file of the version and why: processing never skips one silently."""
    lost = catalog.lost_files(product, version)
    if not lost:
        return
    shown = "; ".join(f"{key!r}: {reason}" for key, reason in list(lost.items())[:5])
    more = f" (and {len(lost) - 5} more)" if len(lost) > 5 else ""
    raise RawCopyLost(
        f"{product} v{version} cannot be processed: the raw copy of {len(lost)} file(s) is LOST ({shown}{more}); "
        f"put the file back at the source and sync a new version, or {skip_action(product, version)} for each, "
        "then process again"
    )


def _work(
    services: Services,
    product: ProductConfig,
    version: int,
    options: ProcessOptions,
    start: ProcessingStart,
    report: ProcessReport,
) -> int:
    """Claim and process batches of the version's files as ``report.worker`` until none is left; the run's id."""
    catalog, settings, worker = services.catalog, services.processing, report.worker
    parser = services.parsers.for_product(product)
    run_id = catalog.start_run(product.name, version, RunKind.PROCESS, worker)
    policy = ClaimPolicy(
        settings.claim_batch_size,
        settings.lease_seconds,
        settings.max_retries,
        settings.retry_backoff_seconds,
        batch_bytes=settings.claim_batch_bytes,
        max_files=settings.claim_batch_max_files,
    )
    try:
        columns = _ensure_tables(services, product, version, start.generation, start.reset_pending)
        expiry = _expiry(catalog, product.name, settings)
        work = catalog.version_work(product.name, version)
        task = ProgressTask(options.progress, f"process {product.name} v{version}", BYTES, work.bytes, work.done_bytes)
        task.detail = f"{work.done_files}/{work.files} files"
        with (
            LeaseKeeper(catalog, worker, settings.lease_seconds) as keeper,
            tempfile.TemporaryDirectory(prefix="platform-process-") as scratch,
        ):
            batch = _Batch(services, product, version, start.generation, columns, parser, Path(scratch), expiry, task)
            failed_here: set[int] = set()
            while True:
                tick = time.perf_counter()
                claimed = catalog.claim_files(
                    product.name, version, worker, policy, frozenset(failed_here), services.actor
                )
                report.catalog_s += time.perf_counter() - tick
                if not claimed:
                    break
                keeper.hold([item.id for item in claimed])
                outcomes = batch.process(claimed, report)
                tick = time.perf_counter()
                catalog.record_outcomes(product.name, version, worker, outcomes, policy, services.actor)
                report.catalog_s += time.perf_counter() - tick
                keeper.hold([])
                failed_here.update(outcome.file.id for outcome in outcomes if outcome.status is FileStatus.FAILED)
                _tally(report, outcomes)
                settled = work.done_files + report.files_processed + report.files_failed
                task.update(task.done, f"{settled}/{work.files} files")
                if options.on_batch:
                    options.on_batch(report)
            task.finish()
    except BaseException as error:
        catalog.finish_run(run_id, RunStatus.FAILED, _run_stats(report), repr(error))
        raise
    return run_id


def _run_stats(report: ProcessReport) -> dict[str, Any]:
    return {
        "rows_written": report.rows_written,
        "rows_rejected": report.rows_rejected,
        "files_processed": report.files_processed,
        "files_failed": report.files_failed,
    }


def _ensure_tables(
    services: Services, product: ProductConfig, version: int, generation: int, reset_pending: bool
) -> dict[str, ColumnType]:
    """The product's columns, its two Iceberg tables created if missing, and the version's old rows removed."""
    tables = services.iceberg
    data_table, rejects_table = tables.data_table(product.name), tables.rejects_table(product.name)
    columns = held_columns(
        tables.iceberg_catalog,
        data_table,
        product,
        lambda: _inference_inputs(services, product, version),
        services.processing.max_line_bytes,
    )
    table = iceberg.ensure_table(
        tables.iceberg_catalog, data_table, iceberg.product_arrow_schema(declared_arrow_schema(columns))
    )
    if iceberg.SOURCE_LINE_FIELD.name not in table.schema().column_names:  # a table made before the column
        add_missing_columns(tables.iceberg_catalog, data_table, [iceberg.SOURCE_LINE_FIELD])
    iceberg.ensure_table(tables.iceberg_catalog, rejects_table, iceberg.rejects_arrow_schema())
    if reset_pending:
        iceberg.reset_version(tables.iceberg_catalog, data_table, version, generation)
        iceberg.reset_version(tables.iceberg_catalog, rejects_table, version, generation)
        services.catalog.finish_reset(product.name, version, generation)
    return columns


def _inference_inputs(services: Services, product: ProductConfig, version: int) -> list[InputFile]:
    """Local copies of the version's first non-empty files, for schema inference."""
    files = services.catalog.inference_inputs(product.name, version)
    scratch = Path(tempfile.mkdtemp(prefix="platform-infer-"))
    return [
        InputFile(key, str(local_copy(services.raw_zone, raw_key(product.name, version, key), scratch)), sha)
        for key, sha in files
    ]


@dataclass(frozen=True)
class _Batch:
    """What processing one claimed batch needs: where the rows go, how to parse, where to stage copies."""

    services: Services
    product: ProductConfig
    version: int
    generation: int
    columns: dict[str, ColumnType]
    parser: Parser
    scratch: Path
    expiry: Callable[[Table], list[int]]
    progress: ProgressTask

    def process(self, claimed: list[ClaimedFile], report: ProcessReport) -> list[FileOutcome]:
        """Outcomes of the claimed files: recovered from a marker, failed a check or a parse, or written."""
        base = self.progress.done
        outcomes = self._outcomes(claimed, report)
        self.progress.update(base + sum(item.size for item in claimed))
        return outcomes

    def _outcomes(self, claimed: list[ClaimedFile], report: ProcessReport) -> list[FileOutcome]:
        tables = self.services.iceberg
        data_table = tables.load(tables.data_table(self.product.name))
        committed = iceberg.committed_file_ids(data_table, self.version, self.generation)
        outcomes: list[FileOutcome] = []
        unsettled = []
        for item in claimed:
            if item.id in committed:
                rows = committed_rows(data_table, self.version, self.generation, item.id)
                drift = committed_drift(data_table, self.version, self.generation, item.id)
                outcomes.append(
                    FileOutcome(item, FileStatus.PROCESSED, rows_written=rows, recovered=True, schema_drift=drift)
                )
            else:
                unsettled.append(item)
        inputs: dict[int, tuple[ClaimedFile, InputFile]] = {}
        raw_zone = self.services.raw_zone
        for item, checked in zip(
            unsettled, check_raw_copies(raw_zone, self.product.name, self.version, unsettled, self.scratch)
        ):
            if isinstance(checked, FileOutcome):
                outcomes.append(checked)
            else:
                inputs[item.id] = (item, checked)
                report.bytes_read += item.size
        if inputs:
            outcomes += self._parse_inputs(list(inputs.values()), report)
        return outcomes

    def _parse_inputs(self, inputs: list[tuple[ClaimedFile, InputFile]], report: ProcessReport) -> list[FileOutcome]:
        """Files within the Arrow engine's memory budget parsed whole, in groups that fit it; larger ones streamed."""
        parser, source = self.parser, self.product.source
        if not isinstance(parser, ArrowParser):
            return self._parse_and_append(inputs, report)
        large = [pair for pair in inputs if parser.budget.streams(pair[0].size, source.format, source.encoding)]
        whole = [pair for pair in inputs if pair not in large]
        outcomes: list[FileOutcome] = []
        for group in parser.budget.groups(whole, lambda pair: pair[0].size, source.format):
            outcomes += self._parse_and_append(group, report)
            self.progress.advance(sum(item.size for item, _ in group))
        for item, input_file in large:
            outcomes.append(self._stream_and_commit(parser, item, input_file, report))
        return outcomes

    def _stream_and_commit(
        self, parser: ArrowParser, item: ClaimedFile, input_file: InputFile, report: ProcessReport
    ) -> FileOutcome:
        """One large file: written piece by piece, judged, then committed in one commit per table (the schema
        evolved with the data; written again when another writer changed the schema first)."""
        tables = self.services.iceberg
        base = self.progress.done
        while True:
            plan = self._plan([input_file], tables.load(tables.data_table(self.product.name)))
            drift = plan.drift_of()
            shape = StreamShape(
                plan.files[0],
                read_as(self.product.source, plan.files[0]),
                plan.target,
                iceberg.product_arrow_schema(declared_arrow_schema(plan.target)),
                self._table_properties(plan),
                drift.get(item.key),
            )
            writes = StreamedWrites(
                tables, self.product, self.version, self.generation, self.columns, parser, self.expiry, shape
            )
            written = writes.write(item, input_file, lambda read: self.progress.update(base + read))
            errors = {item.key: written.error} if written.error is not None else {}
            counts = {} if errors else {item.key: written.rows}
            rejected = {} if errors else {item.key: written.rejects}
            parsed = ParseResult(REJECTS_SCHEMA.empty_table(), REJECTS_SCHEMA.empty_table(), counts, rejected, errors)
            accepted, outcomes = _judge(self.product, parsed, [(item, input_file)], drift)
            if written.error is None:
                try:
                    snapshot = writes.commit(written, accepted=item.key in accepted)
                except StaleWriteSchema:
                    writes.discard_rows(written)
                    continue
                report.snapshot_id = snapshot if snapshot is not None else report.snapshot_id
                failpoint("process.after_iceberg_commit")
            return outcomes[0]

    def _parse_and_append(
        self, inputs: list[tuple[ClaimedFile, InputFile]], report: ProcessReport
    ) -> list[FileOutcome]:
        tables = self.services.iceberg
        plan = self._plan([input_file for _, input_file in inputs], tables.load(tables.data_table(self.product.name)))
        parsed = parse_batch(self.parser, plan, self.product.source)
        drift = plan.drift_of()
        accepted, outcomes = _judge(self.product, parsed, inputs, drift)
        sha_by_key = {item.key: item.sha256 for item, _ in inputs}
        id_by_key = {item.key: item.id for item, _ in inputs}
        reject_keys = {item.key for item, _ in inputs if item.key not in parsed.file_errors}
        marks = (id_by_key, sha_by_key, self.version, self.generation, self.expiry)
        # Rejects first: a crash between the two commits redoes only the data append.
        append_exactly_once(
            tables.iceberg_catalog,
            tables.rejects_table(self.product.name),
            by_file(parsed.rejects, parsed.rejects_per_file, parsed.grouped),
            reject_keys,
            *marks,
            markers_only_with_rows=True,
        )
        snapshot = append_exactly_once(
            tables.iceberg_catalog,
            tables.data_table(self.product.name),
            by_file(parsed.rows, parsed.rows_per_file, parsed.grouped),
            accepted,
            *marks,
            target=iceberg.product_arrow_schema(declared_arrow_schema(plan.target)),
            drift=drift,
            table_properties=self._table_properties(plan),
        )
        if snapshot is not None:
            report.snapshot_id = snapshot
        failpoint("process.after_iceberg_commit")
        return outcomes

    def _plan(self, files: list[InputFile], data_table: Table) -> BatchPlan:
        """How the batch's files change the product's columns as the table holds them now (see :mod:`.evolution`)."""
        declared = self.product.table_schema.columns if self.product.table_schema else None
        identifier = self.services.iceberg.data_table(self.product.name)
        widened, earlier = file_widened(data_table), declared_before(data_table)
        columns = effective_columns(columns_of(data_table), declared, self.product, identifier, widened, earlier)
        return plan_batch(columns, files, self.product.source, Evolution.of(self.product), self.scratch)

    def _table_properties(self, plan: BatchPlan) -> dict[str, str]:
        """The table properties the commit sets: the declared column names (``declared_before``) and the
        declared types files widened (``file_widened``)."""
        declared = self.product.table_schema.columns if self.product.table_schema else {}
        properties = {FILE_WIDENED + name: str(declared[name]) for name in plan.widened if name in declared}
        if declared:
            properties[DECLARED] = json.dumps(list(declared))
        return properties


def _judge(
    product: ProductConfig,
    parsed: ParseResult,
    inputs: list[tuple[ClaimedFile, InputFile]],
    drift: dict[str, dict[str, list[str]]],
) -> tuple[set[str], list[FileOutcome]]:
    """Which files' rows may be written, and the outcome of every parsed file."""
    accepted: set[str] = set()
    outcomes = []
    for item, _ in inputs:
        good = parsed.rows_per_file.get(item.key, 0)
        bad = parsed.rejects_per_file.get(item.key, 0)
        if item.key in parsed.file_errors:
            error = parsed.file_errors[item.key]
            outcomes.append(
                FileOutcome(item, FileStatus.FAILED, error_type=error.error_type, error_message=error.message)
            )
            continue
        total = good + bad
        if total and bad / total > product.max_bad_row_fraction:
            message = (
                f"{bad} of {total} rows rejected ({_percent(bad / total)}), more than max_bad_row_fraction "
                f"{product.max_bad_row_fraction:g}; see the rejects table for each row and reason, fix the file or "
                "raise the limit"
            )
            outcomes.append(
                FileOutcome(
                    item, FileStatus.FAILED, rows_rejected=bad, error_type="too_many_bad_rows", error_message=message
                )
            )
            continue
        accepted.add(item.key)
        outcomes.append(
            FileOutcome(
                item,
                FileStatus.PROCESSED,
                rows_written=good,
                rows_rejected=bad,
                schema_drift=drift.get(item.key),
            )
        )
    return accepted, outcomes


def _percent(fraction: float) -> str:
    """``100%``, ``33.3%``: one decimal, none when it is 0."""
    return f"{fraction:.1%}".replace(".0%", "%")


def _tally(report: ProcessReport, outcomes: list[FileOutcome]) -> None:
    for outcome in outcomes:
        if outcome.status is FileStatus.PROCESSED:
            report.files_processed += 1
            report.files_recovered += int(outcome.recovered)
            report.rows_written += outcome.rows_written
        else:
            report.files_failed += 1
            report.failures[outcome.file.key] = f"{outcome.error_type}: {outcome.error_message}"
        report.rows_rejected += outcome.rows_rejected


def _expiry(catalog: Catalog, product_name: str, settings: ProcessingSettings) -> Callable[[Table], list[int]]:
    """What an append may expire: snapshots past retention, except those marking files the catalog has not settled."""
    retention = timedelta(seconds=settings.snapshot_retention_seconds)

    def expirable(table: Table) -> list[int]:
        old = iceberg.expirable_snapshots(table, retention, lambda marker: False)
        old_ids = set(old)
        markers = [marker for marker in iceberg.commit_markers(table) if marker.snapshot_id in old_ids]
        marked = {file_id for marker in markers for file_id in marker.file_ids}
        unsettled = catalog.unsettled_files(product_name, marked)
        protected = {marker.snapshot_id for marker in markers if marker.file_ids & unsettled}
        return [snapshot_id for snapshot_id in old if snapshot_id not in protected]

    return expirable
