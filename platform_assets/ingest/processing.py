"""Processing: a captured version's files become rows of the product's Iceberg table.

Contract:
- Each file's good rows land in ``<platform>.<product>`` exactly once, however
  many workers run and wherever one crashes: claims hand a file to one worker,
  and every append carries markers naming its files, so a file whose rows a
  crashed worker already committed is marked PROCESSED without being written
  again, and two workers can never both commit one file (the optimistic
  Iceberg commit makes the later one reload and see the marker).
- A file whose raw copy is missing or does not match its sha256, that cannot
  be parsed, or whose rejected share exceeds ``max_bad_row_fraction`` is FAILED
  with a typed error and none of its rows are written; the others go on.
- Processing a PROCESSED version again on purpose (``reprocess=True``) starts a
  new generation that first removes the version's rows, so it replaces them.
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from platform_assets.catalog import audit
from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import FileStatus, RawFile, Run, Version, VersionStatus, utc_now
from platform_assets.catalog.products import get_product
from platform_assets.catalog.states import CAPTURED_STATES
from platform_assets.catalog.versions import file_status_counts, get_version, set_version_status
from platform_assets.column_types import ColumnType
from platform_assets.config import ProcessingSettings, ProductConfig
from platform_assets.failpoints import failpoint
from platform_assets.ingest.capture import raw_key
from platform_assets.ingest.claims import (
    ClaimedFile,
    ClaimPolicy,
    FileOutcome,
    LeaseKeeper,
    claim_files,
    record_outcomes,
)
from platform_assets.ingest.parsing import InputFile, ParseResult, ParsingEngine
from platform_assets.ingest.table_schema import held_columns
from platform_assets.storage import data_files, iceberg
from platform_assets.storage.object_store import ObjectStore

CHECK_THREADS = 8  # raw copies read (or downloaded) and hashed at once


class VersionNotReady(RuntimeError):
    """The version is not captured yet, or is excluded."""


@dataclass
class ProcessReport:
    """What one worker did to one version, and where the version stands after it."""

    product: str
    version: int
    worker: str
    generation: int
    version_status: str = ""
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
    file_counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ProcessTarget:
    """Where a product's rows and rejects go."""

    catalog: SqlCatalog
    table: str
    rejects_table: str


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def table_identifiers(platform_name: str, product_name: str) -> tuple[str, str]:
    return f"{platform_name}.{product_name}", f"{platform_name}.{product_name}_rejects"


def process_version(
    engine: Engine,
    target: ProcessTarget,
    raw_zone: ObjectStore,
    product: ProductConfig,
    version: int,
    parser: ParsingEngine,
    settings: ProcessingSettings,
    *,
    worker: str | None = None,
    retry_failed: bool = False,
    reprocess: bool = False,
    actor: str | None = None,
    on_batch: Callable[[ProcessReport], None] | None = None,
) -> ProcessReport:
    """Claim and process the version's files until none is left for this worker, then settle the version."""
    started = time.perf_counter()
    worker = worker or default_worker_id()
    actor = actor or worker
    generation = _prepare(engine, product.name, version, retry_failed, reprocess, actor)
    report = ProcessReport(product.name, version, worker, generation)
    run_id = _start_run(engine, product.name, version, worker)
    policy = ClaimPolicy(
        settings.claim_batch_size, settings.lease_seconds, settings.max_retries, settings.retry_backoff_seconds
    )
    try:
        columns = _ensure_tables_and_reset(engine, target, raw_zone, product, version, generation, settings)
        with transaction(engine) as session:
            product_id = get_product(session, product.name).id
        expiry = _expiry(engine, product_id, settings)
        with (
            LeaseKeeper(engine, worker, settings.lease_seconds) as keeper,
            tempfile.TemporaryDirectory(prefix="platform-process-") as scratch,
        ):
            failed_here: set[int] = set()
            while True:
                tick = time.perf_counter()
                claimed = claim_files(engine, product.name, product_id, version, worker, policy, frozenset(failed_here))
                report.catalog_s += time.perf_counter() - tick
                if not claimed:
                    break
                keeper.hold([item.id for item in claimed])
                outcomes = _process_batch(
                    target,
                    raw_zone,
                    product,
                    version,
                    generation,
                    columns,
                    parser,
                    claimed,
                    Path(scratch),
                    report,
                    expiry,
                )
                tick = time.perf_counter()
                record_outcomes(engine, product.name, version, worker, outcomes, policy)
                report.catalog_s += time.perf_counter() - tick
                keeper.hold([])
                failed_here.update(outcome.file.id for outcome in outcomes if outcome.status is FileStatus.FAILED)
                _tally(report, outcomes)
                if on_batch:
                    on_batch(report)
    except BaseException as error:
        _finish_run(engine, run_id, "FAILED", report, repr(error))
        raise
    tick = time.perf_counter()
    report.version_status, report.file_counts = settle_version(engine, product.name, version, actor)
    report.catalog_s += time.perf_counter() - tick
    report.duration_s = time.perf_counter() - started
    _finish_run(
        engine,
        run_id,
        "SUCCEEDED" if report.version_status == VersionStatus.PROCESSED else "FAILED",
        report,
        None,
    )
    return report


def _prepare(engine: Engine, product_name: str, number: int, retry_failed: bool, reprocess: bool, actor: str) -> int:
    """Move the version into PROCESSING (a new generation when reprocessing); return its generation."""
    with transaction(engine) as session:
        product = get_product(session, product_name)
        version = session.scalars(
            select(Version).where(Version.product_id == product.id, Version.number == number).with_for_update()
        ).one_or_none()
        if version is None:
            get_version(session, product, number)  # raises VersionNotFound with a suggestion
            raise AssertionError("unreachable")
        if version.excluded:
            raise VersionNotReady(
                f"version {number} of {product_name} is excluded ({version.exclude_reason}); it is not processed"
            )
        if version.status not in CAPTURED_STATES:
            raise VersionNotReady(
                f"version {number} of {product_name} is {version.status}, not captured yet: "
                f"run `platform-assets sync {product_name}` (or materialize {product_name}/raw_files[{number}]) first"
            )
        entity = audit.version_entity_id(product_name, number)
        if reprocess and version.status == VersionStatus.PROCESSED:
            version.process_generation += 1
            version.reset_pending = True
            session.execute(
                update(RawFile)
                .where(
                    RawFile.product_id == product.id,
                    RawFile.version == number,
                    RawFile.status.in_([FileStatus.PROCESSED, FileStatus.FAILED]),
                    RawFile.sha256.is_not(None),
                )
                .values(
                    status=FileStatus.CAPTURED,
                    retry_count=0,
                    next_attempt_at=None,
                    error_type=None,
                    error_message=None,
                    rows_written=None,
                    rows_rejected=None,
                )
            )
            audit.record(session, "version", entity, "reprocess", actor, {"generation": version.process_generation})
        elif retry_failed:
            result = session.execute(
                update(RawFile)
                .where(
                    RawFile.product_id == product.id,
                    RawFile.version == number,
                    RawFile.status == FileStatus.FAILED,
                    RawFile.sha256.is_not(None),
                )
                .values(status=FileStatus.CAPTURED, retry_count=0, next_attempt_at=None)
            )
            audit.record(session, "version", entity, "retry_failed", actor, {"files": int(result.rowcount or 0)})
        if version.status != VersionStatus.PROCESSING:
            set_version_status(
                session, product, version, VersionStatus.PROCESSING, actor, generation=version.process_generation
            )
        return version.process_generation


def _ensure_tables_and_reset(
    engine: Engine,
    target: ProcessTarget,
    raw_zone: ObjectStore,
    product: ProductConfig,
    version: int,
    generation: int,
    settings: ProcessingSettings,
) -> dict[str, ColumnType]:
    columns = held_columns(
        target.catalog,
        target.table,
        product,
        lambda: _first_files_for_inference(engine, raw_zone, product, version),
        settings.max_line_bytes,
    )
    from platform_assets.ingest.parsing import declared_arrow_schema

    iceberg.ensure_table(target.catalog, target.table, iceberg.product_arrow_schema(declared_arrow_schema(columns)))
    iceberg.ensure_table(target.catalog, target.rejects_table, iceberg.rejects_arrow_schema())
    with transaction(engine) as session:
        product_row = get_product(session, product.name)
        pending = session.scalar(
            select(Version.reset_pending).where(
                Version.product_id == product_row.id,
                Version.number == version,
                Version.process_generation == generation,
            )
        )
    if pending:
        iceberg.reset_version(target.catalog, target.table, version, generation)
        iceberg.reset_version(target.catalog, target.rejects_table, version, generation)
        with transaction(engine) as session:
            product_row = get_product(session, product.name)
            session.execute(
                update(Version)
                .where(
                    Version.product_id == product_row.id,
                    Version.number == version,
                    Version.process_generation == generation,
                )
                .values(reset_pending=False)
            )
    return columns


def _first_files_for_inference(
    engine: Engine, raw_zone: ObjectStore, product: ProductConfig, version: int
) -> list[InputFile]:
    """Local copies of the version's first non-empty files, for schema inference."""
    with transaction(engine) as session:
        product_row = get_product(session, product.name)
        rows = session.execute(
            select(RawFile.key, RawFile.sha256)
            .where(
                RawFile.product_id == product_row.id,
                RawFile.version == version,
                RawFile.size > 0,
                RawFile.sha256.is_not(None),
            )
            .order_by(RawFile.key)
            .limit(1)
        ).all()
    scratch = Path(tempfile.mkdtemp(prefix="platform-infer-"))
    return [
        InputFile(key, str(_local_copy(raw_zone, raw_key(product.name, version, key), scratch)), sha)
        for key, sha in rows
    ]


def _process_batch(
    target: ProcessTarget,
    raw_zone: ObjectStore,
    product: ProductConfig,
    version: int,
    generation: int,
    columns: dict[str, ColumnType],
    parser: ParsingEngine,
    claimed: list[ClaimedFile],
    scratch: Path,
    report: ProcessReport,
    expiry: Callable[[Table], list[int]],
) -> list[FileOutcome]:
    data_table = target.catalog.load_table(target.table)
    committed = iceberg.committed_file_ids(data_table, version, generation)
    outcomes: list[FileOutcome] = []
    inputs: dict[int, tuple[ClaimedFile, InputFile]] = {}
    unsettled = []
    for item in claimed:
        if item.id in committed:
            outcomes.append(
                FileOutcome(
                    item,
                    FileStatus.PROCESSED,
                    rows_written=_committed_rows(data_table, version, generation, item.id),
                    recovered=True,
                )
            )
        else:
            unsettled.append(item)
    for item, checked in zip(unsettled, _check_raw_copies(raw_zone, product.name, version, unsettled, scratch)):
        if isinstance(checked, FileOutcome):
            outcomes.append(checked)
        else:
            inputs[item.id] = (item, checked)
            report.bytes_read += item.size
    if not inputs:
        return outcomes
    parsed = parser.parse([input_file for _, input_file in inputs.values()], product.source, columns)
    accepted, batch_outcomes = _judge(product, parsed, list(inputs.values()))
    outcomes += batch_outcomes
    sha_by_key = {item.key: item.sha256 for item, _ in inputs.values()}
    id_by_key = {item.key: item.id for item, _ in inputs.values()}
    reject_keys = {item.key for item, _ in inputs.values() if item.key not in parsed.file_errors}
    # Rejects first: a crash between the two commits redoes only the data append.
    _append_exactly_once(
        target.catalog,
        target.rejects_table,
        _by_file(parsed.rejects, parsed.rejects_per_file, parsed.grouped),
        reject_keys,
        id_by_key,
        sha_by_key,
        version,
        generation,
        expiry,
        markers_only_with_rows=True,
    )
    snapshot = _append_exactly_once(
        target.catalog,
        target.table,
        _by_file(parsed.rows, parsed.rows_per_file, parsed.grouped),
        accepted,
        id_by_key,
        sha_by_key,
        version,
        generation,
        expiry,
    )
    if snapshot is not None:
        report.snapshot_id = snapshot
    failpoint("process.after_iceberg_commit")
    return outcomes


def _check_raw_copies(
    raw_zone: ObjectStore, product_name: str, version: int, items: list[ClaimedFile], scratch: Path
) -> list[InputFile | FileOutcome]:
    """:func:`_check_raw_copy` of each item, in order; files are read and hashed on parallel threads."""

    def check(item: ClaimedFile) -> InputFile | FileOutcome:
        return _check_raw_copy(raw_zone, raw_key(product_name, version, item.key), item, scratch)

    if len(items) < 2:
        return [check(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(CHECK_THREADS, len(items))) as pool:
        return list(pool.map(check, items))


def _check_raw_copy(raw_zone: ObjectStore, key: str, item: ClaimedFile, scratch: Path) -> InputFile | FileOutcome:
    """A local path to the verified raw copy at ``key``, or the FAILED outcome saying what is wrong.

    Runs before the file is parsed: an altered or missing copy is never read by an engine.
    """
    if not raw_zone.exists(key):
        message = (
            f"raw copy of {item.key!r} is missing at {item.raw_location}; restore it, or give the file up with "
            "`platform-assets skip`"
        )
        return FileOutcome(item, FileStatus.FAILED, error_type="missing", error_message=message)
    path = _local_copy(raw_zone, key, scratch)
    actual = _sha256_of(path)
    if actual != item.sha256:
        message = (
            f"raw copy of {item.key!r} at {item.raw_location} does not match its catalogued checksum: "
            f"catalog sha256 {item.sha256}, raw copy sha256 {actual}; the raw zone was altered: restore the file or "
            "skip it"
        )
        return FileOutcome(item, FileStatus.FAILED, error_type="checksum_mismatch", error_message=message)
    return InputFile(key=item.key, path=str(path), sha256=item.sha256)


def _local_copy(raw_zone: ObjectStore, key: str, scratch: Path) -> Path:
    """A local path of the raw object ``key``: itself on a local store, else a download to ``scratch``."""
    path = raw_zone.local_path(key)
    if path is not None:
        return path
    target = scratch / hashlib.sha1(key.encode()).hexdigest()
    raw_zone.download_to(key, target)
    return target


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _judge(
    product: ProductConfig, parsed: ParseResult, inputs: list[tuple[ClaimedFile, InputFile]]
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
                f"{item.key!r}: {bad} of {total} rows rejected ({bad / total:.1%}), more than max_bad_row_fraction "
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
        outcomes.append(FileOutcome(item, FileStatus.PROCESSED, rows_written=good, rows_rejected=bad))
    return accepted, outcomes


def _append_exactly_once(
    catalog: SqlCatalog,
    identifier: str,
    rows: pa.Table,
    keys: set[str],
    id_by_key: dict[str, int],
    sha_by_key: dict[str, str],
    version: int,
    generation: int,
    expiry: Callable[[Table], list[int]],
    markers_only_with_rows: bool = False,
) -> int | None:
    """Append the rows of ``keys`` that no retained snapshot has committed yet, with their markers.

    The Parquet files are written once; each commit attempt reloads the table
    and re-checks the markers, so a file another worker committed meanwhile is
    never committed twice. The data table records a marker even for files
    without rows (the file is done); the rejects table only commits rows.
    """
    while keys:
        table = catalog.load_table(identifier)
        done = iceberg.committed_file_ids(table, version, generation)
        todo = {key for key in keys if id_by_key[key] not in done}
        if not todo:
            return None
        selected = _rows_of(rows, todo)
        if markers_only_with_rows and selected.num_rows == 0:
            return None
        lineage = _with_lineage(selected, version, sha_by_key, utc_now(), table.schema().as_arrow())
        files = data_files.write_partition_files(table, lineage, version) if lineage.num_rows else []
        properties = iceberg.marker_properties(
            "append", version, generation, [(id_by_key[key], sha_by_key[key]) for key in todo]
        )
        properties[iceberg.MARKER_ROWS] = iceberg.encode_row_counts(
            {id_by_key[key]: count for key, count in _rows_per_key(selected, todo).items()}
        )
        todo_ids = {id_by_key[key] for key in todo}

        attempt = partial(_commit_new_files, version=version, generation=generation, file_ids=todo_ids, files=files)
        try:
            table = iceberg.with_commit_retries(
                catalog, identifier, partial(attempt, properties=properties, expiry=expiry)
            )
        except _CommittedMeanwhile:
            iceberg.delete_files(table, files)
            continue  # rare: another worker committed some of these files; redo without them
        snapshot = table.current_snapshot()
        return snapshot.snapshot_id if snapshot else None
    return None


class _CommittedMeanwhile(Exception):
    """Another writer committed some of the files between our check and our commit."""


def _commit_new_files(
    fresh: Table,
    *,
    version: int,
    generation: int,
    file_ids: set[int],
    files: list[DataFile],
    properties: dict[str, str],
    expiry: Callable[[Table], list[int]],
) -> None:
    """One commit attempt on the freshly loaded table; _CommittedMeanwhile if a marker names one of ``file_ids``."""
    if iceberg.committed_file_ids(fresh, version, generation) & file_ids:
        raise _CommittedMeanwhile
    iceberg.commit_files(fresh, files, properties, expire=expiry(fresh))


def _by_file(rows: pa.Table, rows_per_file: dict[str, int], grouped: bool) -> pa.Table:
    """``rows`` with ``_source_file`` dictionary-encoded, so per-file steps work on indices.

    Rows grouped by file in ``rows_per_file``'s order (see ``ParseResult.grouped``;
    the rows of a single file always are) get their indices from the counts,
    without reading the column; others take one hash pass.
    """
    position = rows.schema.get_field_index("_source_file")
    present = [key for key, count in rows_per_file.items() if count]
    counts = [rows_per_file[key] for key in present]
    if (grouped or len(present) == 1) and sum(counts) == rows.num_rows:
        indices = np.repeat(np.arange(len(present), dtype=np.int32), counts)
        files = pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(present, pa.string()))
    else:
        files = _files_column(rows)
    return rows.set_column(position, rows.schema.field(position).with_type(files.type), files)


def _files_column(rows: pa.Table) -> pa.DictionaryArray:
    column = rows["_source_file"].combine_chunks()
    return column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)


def _rows_of(rows: pa.Table, keys: set[str]) -> pa.Table:
    """The rows whose ``_source_file`` is in ``keys`` (no copy when that is all of them)."""
    if rows.num_rows == 0:
        return rows
    files = _files_column(rows)
    names = files.dictionary.to_pylist()
    if set(names) <= keys:
        return rows
    wanted = pa.array([index for index, name in enumerate(names) if name in keys], files.indices.type)
    return rows.filter(pc.is_in(files.indices, value_set=wanted))


def _rows_per_key(rows: pa.Table, keys: set[str]) -> dict[str, int]:
    """Row count of each key in ``keys`` (0 for keys without rows)."""
    counts = dict.fromkeys(keys, 0)
    if rows.num_rows:
        files = _files_column(rows)
        tally = pc.value_counts(files.indices)
        names = files.dictionary.to_pylist()
        for index, count in zip(tally.field("values").to_pylist(), tally.field("counts").to_pylist()):
            counts[names[index]] = count
    return counts


def _with_lineage(
    rows: pa.Table, version: int, sha_by_key: dict[str, str], ingested_at: datetime, schema: pa.Schema
) -> pa.Table:
    """``rows`` (columns + _source_file) completed with the lineage columns, in the table's column order.

    ``_source_file`` and ``_source_sha256`` are dictionary-encoded (a few
    distinct values over many rows), which the Parquet writer stores as is.
    """
    count = rows.num_rows
    files = _files_column(rows)
    shas = pa.array([sha_by_key[key] for key in files.dictionary.to_pylist()], pa.string())
    extra = {
        "_version": pa.repeat(pa.scalar(version, pa.int32()), count),
        "_source_file": files,
        "_source_sha256": pa.DictionaryArray.from_arrays(files.indices, shas),
        "_ingested_at": pa.repeat(pa.scalar(ingested_at, pa.timestamp("us", tz="UTC")), count),
    }
    arrays = [extra[name] if name in extra else rows[name] for name in schema.names]
    return pa.Table.from_arrays(
        arrays, schema=pa.schema([field.with_type(array.type) for field, array in zip(schema, arrays)])
    )


def _committed_rows(table, version: int, generation: int, file_id: int) -> int:  # type: ignore[no-untyped-def]
    for marker in iceberg.commit_markers(table):
        if (
            marker.kind == "append"
            and marker.version == version
            and marker.generation == generation
            and file_id in marker.file_ids
        ):
            return marker.rows.get(file_id, 0)
    return 0


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


def settle_version(engine: Engine, product_name: str, number: int, actor: str) -> tuple[str, dict[str, int]]:
    """PROCESSED when every file is PROCESSED or SKIPPED; FAILED when nothing is left to try; else unchanged."""
    with transaction(engine) as session:
        product = get_product(session, product_name)
        version = get_version(session, product, number)
        counts = file_status_counts(session, product.id, number)
        open_files = sum(
            counts.get(status.value, 0)
            for status in (FileStatus.DISCOVERED, FileStatus.CAPTURING, FileStatus.CAPTURED, FileStatus.PROCESSING)
        )
        finished = counts.get(FileStatus.PROCESSED, 0) + counts.get(FileStatus.SKIPPED, 0)
        if finished == sum(counts.values()):
            set_version_status(session, product, version, VersionStatus.PROCESSED, actor, files=finished)
        elif not open_files:
            set_version_status(
                session,
                product,
                version,
                VersionStatus.FAILED,
                actor,
                failed_files=counts.get(FileStatus.FAILED, 0),
            )
        return version.status, counts


def _expiry(engine: Engine, product_id: int, settings: ProcessingSettings) -> Callable[[Table], list[int]]:
    """What an append may expire: snapshots past retention, except those marking files the catalog has not settled."""
    retention = timedelta(seconds=settings.snapshot_retention_seconds)

    def expirable(table: Table) -> list[int]:
        old = iceberg.expirable_snapshots(table, retention, lambda marker: False)
        old_ids = set(old)
        markers = [marker for marker in iceberg.commit_markers(table) if marker.snapshot_id in old_ids]
        marked = {file_id for marker in markers for file_id in marker.file_ids}
        unsettled = _unsettled_files(engine, product_id, marked) if marked else set()
        protected = {marker.snapshot_id for marker in markers if marker.file_ids & unsettled}
        return [snapshot_id for snapshot_id in old if snapshot_id not in protected]

    return expirable


def _unsettled_files(engine: Engine, product_id: int, file_ids: set[int]) -> set[int]:
    """Those of ``file_ids`` whose outcome the catalog has not recorded (still CAPTURED or PROCESSING)."""
    unsettled = [FileStatus.PROCESSING, FileStatus.CAPTURED]
    with transaction(engine) as session:
        return set(
            session.scalars(
                select(RawFile.id).where(
                    RawFile.product_id == product_id, RawFile.id.in_(sorted(file_ids)), RawFile.status.in_(unsettled)
                )
            )
        )


def _start_run(engine: Engine, product_name: str, version: int, worker: str) -> int:
    with transaction(engine) as session:
        product = get_product(session, product_name)
        run = Run(product_id=product.id, version=version, kind="process", status="STARTED", worker=worker)
        session.add(run)
        session.flush()
        return run.id


def _finish_run(engine: Engine, run_id: int, status: str, report: ProcessReport, error: str | None) -> None:
    with transaction(engine) as session:
        run = session.get(Run, run_id)
        if run is None:
            return
        run.status = status
        run.error = error
        run.finished_at = utc_now()
        run.stats = {
            "rows_written": report.rows_written,
            "rows_rejected": report.rows_rejected,
            "files_processed": report.files_processed,
            "files_failed": report.files_failed,
        }
