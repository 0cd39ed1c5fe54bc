"""Claims: workers take a version's files in batches under a renewable lease.

Contract:
- :func:`claim` hands each claimable file to exactly one worker: PostgreSQL
  selects with ``FOR UPDATE SKIP LOCKED``, so concurrent workers skip each
  other's rows instead of waiting; SQLite runs the claim in a ``BEGIN
  IMMEDIATE`` transaction, one claimer at a time.
- Claimable: CAPTURED files; PROCESSING files whose lease expired, or whose
  holder is provably gone (:mod:`.workers`: a dead holder's files are taken at
  once, a live one's wait for its lease); FAILED processing attempts whose
  backoff has passed and that have retries left.
- State changes after a claim only apply while the worker still owns the
  lease, so a worker that lost its lease cannot overwrite the new owner's outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Connection,
    Table,
    Update,
    and_,
    bindparam,
    cast,
    column,
    or_,
    select,
    update,
)
from sqlalchemy import values as sa_values
from sqlalchemy.orm import Session

from platform_assets.catalog.models import RawFile, table_of, utc_now
from platform_assets.catalog.queries import audit, drift, workers
from platform_assets.catalog.records import ClaimedFile, ClaimPolicy, FileOutcome, ProductRef
from platform_assets.catalog.states import CAPTURE_ERROR_TYPES, FileStatus

Parameter = Callable[[str], ColumnElement[Any]]


def _claimable(
    product: ProductRef, version: int, now: datetime, max_retries: int, gone: Collection[str]
) -> ColumnElement[bool]:
    held = RawFile.lease_expires_at < now
    if gone:
        held = or_(held, RawFile.lease_owner.in_(sorted(gone)))
    return and_(
        RawFile.product_id == product.id,
        RawFile.version == version,
        or_(
            RawFile.status == FileStatus.CAPTURED,
            and_(RawFile.status == FileStatus.PROCESSING, held),
            and_(
                RawFile.status == FileStatus.FAILED,
                RawFile.retry_count < max_retries,
                or_(RawFile.next_attempt_at.is_(None), RawFile.next_attempt_at <= now),
                RawFile.error_type.not_in(CAPTURE_ERROR_TYPES),
                RawFile.sha256.is_not(None),
            ),
        ),
    )


def claim(
    session: Session,
    product: ProductRef,
    version: int,
    worker: str,
    policy: ClaimPolicy,
    skip_ids: frozenset[int],
    postgres: bool,
    actor: str | None = None,
) -> list[ClaimedFile]:
    """Claim up to ``policy.batch_size`` files of the version for ``worker``, none of ``skip_ids``.

    The audit event names ``actor`` (who runs the worker; the worker itself without one) and the worker."""
    gone = workers.gone_holders(session, product, version, worker, postgres)
    now = utc_now()
    claimable = and_(
        _claimable(product, version, now, policy.max_retries, gone),
        RawFile.id.not_in(skip_ids) if skip_ids else RawFile.id.is_not(None),
    )
    query = (
        select(
            RawFile.id,
            RawFile.key,
            RawFile.raw_location,
            RawFile.sha256,
            RawFile.size,
            RawFile.retry_count,
            RawFile.status,
            RawFile.lease_owner,
            RawFile.lease_expires_at,
        )
        .where(claimable)
        .order_by(RawFile.key)
        .limit(_batch_limit(session, claimable, policy))
    )
    if postgres:
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).all()
    if not rows:
        return []
    session.execute(
        update(RawFile)
        .where(RawFile.id.in_([row.id for row in rows]))
        .values(
            status=FileStatus.PROCESSING,
            lease_owner=worker,
            lease_expires_at=now + timedelta(seconds=policy.lease_seconds),
            updated_at=now,
        )
    )
    reclaimed = [row for row in rows if row.status is FileStatus.PROCESSING]
    expired = [row.key for row in reclaimed if row.lease_expires_at is None or row.lease_expires_at < now]
    from_gone: dict[str, dict[str, Any]] = {}
    for row in reclaimed:
        if row.lease_owner in gone and row.lease_expires_at is not None and row.lease_expires_at >= now:
            entry = from_gone.setdefault(row.lease_owner, {"reason": gone[row.lease_owner], "keys": []})
            entry["keys"].append(row.key)
    change: dict[str, Any] = {
        "worker": worker,
        "keys": [row.key for row in rows],
        "reclaimed_from_expired_leases": expired,
    }
    if from_gone:
        change["reclaimed_from_gone_workers"] = from_gone
    audit.record(
        session, "version", audit.version_entity_id(product.name, version), "files_claimed", actor or worker, change
    )
    return [
        ClaimedFile(row.id, row.key, row.raw_location or "", row.sha256 or "", row.size, row.retry_count)
        for row in rows
    ]


def _batch_limit(session: Session, claimable: ColumnElement[bool], policy: ClaimPolicy) -> int:
    """How many files this claim takes: ``batch_size``, or more small files within ``batch_bytes``.

    The sizes come from an unlocked read of the claimable files in claim
    order; the claim itself then locks that many (another worker may take some
    meanwhile: the count only sizes the batch, it promises no file).
    """
    if policy.batch_bytes <= 0 or policy.max_files <= policy.batch_size:
        return policy.batch_size
    sizes = session.execute(
        select(RawFile.size).where(claimable).order_by(RawFile.key).limit(policy.max_files)
    ).scalars()
    count, total = 0, 0
    for size in sizes:
        total += size or 0
        if count >= policy.batch_size and total > policy.batch_bytes:
            break
        count += 1
    return max(count, policy.batch_size)


def renew(session: Session, worker: str, file_ids: list[int], lease_seconds: int) -> int:
    """Push the lease of the worker's files forward; returns how many it still owns."""
    result = session.connection().execute(
        update(RawFile)
        .where(RawFile.id.in_(file_ids), RawFile.lease_owner == worker, RawFile.status == FileStatus.PROCESSING)
        .values(lease_expires_at=utc_now() + timedelta(seconds=lease_seconds))
    )
    return result.rowcount


def record_outcomes(
    session: Session,
    product: ProductRef,
    version: int,
    worker: str,
    outcomes: list[FileOutcome],
    policy: ClaimPolicy,
    actor: str | None = None,
) -> int:
    """Write the outcomes of files the worker still owns, with their audit events; returns how many applied."""
    now = utc_now()
    processed: list[dict[str, object]] = [
        {"b_id": o.file.id, "b_written": o.rows_written, "b_rejected": o.rows_rejected, "b_now": now}
        for o in outcomes
        if o.status is FileStatus.PROCESSED
    ]
    failed: list[dict[str, object]] = [
        {
            "b_id": o.file.id,
            "b_type": o.error_type,
            "b_message": o.error_message,
            "b_retry": o.file.retry_count + 1,
            "b_next": now + timedelta(seconds=policy.retry_backoff_seconds * 2**o.file.retry_count),
            "b_rejected": o.rows_rejected,
            "b_now": now,
        }
        for o in outcomes
        if o.status is FileStatus.FAILED
    ]
    connection = session.connection()
    applied = _update_owned(connection, worker, _processed_values, processed)
    applied += _update_owned(connection, worker, _failed_values, failed)
    drift.record(session, product, version, outcomes)
    events = [_outcome_event(product.name, version, outcome, worker) for outcome in outcomes]
    audit.record_many(session, events, actor or worker)
    return applied


# The column each outcome parameter is written to (and typed as).
_PARAMETER_COLUMNS = {
    "b_id": "id",
    "b_written": "rows_written",
    "b_rejected": "rows_rejected",
    "b_now": "updated_at",
    "b_type": "error_type",
    "b_message": "error_message",
    "b_retry": "retry_count",
    "b_next": "next_attempt_at",
}
_VALUES_CHUNK = 2000  # rows per UPDATE ... FROM (VALUES ...): at most 8 parameters each


def _processed_values(parameter: Parameter) -> dict[str, object]:
    return {
        "status": FileStatus.PROCESSED,
        "rows_written": parameter("b_written"),
        "processed_at": parameter("b_now"),
        "error_type": None,
        "error_message": None,
    }


def _failed_values(parameter: Parameter) -> dict[str, object]:
    return {
        "status": FileStatus.FAILED,
        "error_type": parameter("b_type"),
        "error_message": parameter("b_message"),
        "retry_count": parameter("b_retry"),
        "next_attempt_at": parameter("b_next"),
    }


def _update_owned(
    connection: Connection, worker: str, values: Callable[[Parameter], dict[str, object]], rows: list[dict[str, object]]
) -> int:
    """Apply ``values`` to the rows (by ``b_id``) the worker still holds in PROCESSING, releasing their lease.

    PostgreSQL gets one ``UPDATE ... FROM (VALUES ...)`` per chunk of rows (its
    driver runs an executemany as one round trip per row); SQLite an executemany.
    """
    if not rows:
        return 0
    table = table_of(RawFile)
    if connection.dialect.name != "postgresql" or len(rows) == 1:
        statement = _owned_update(table, worker, values, bindparam)
        return connection.execute(statement, rows).rowcount
    names = list(rows[0])
    applied = 0
    for start in range(0, len(rows), _VALUES_CHUNK):
        chunk = rows[start : start + _VALUES_CHUNK]
        source = sa_values(*[_typed_column(table, name) for name in names], name="outcome").data(
            [tuple(row[name] for name in names) for row in chunk]
        )
        statement = _owned_update(
            table,
            worker,
            values,
            lambda name: cast(source.c[name], table.c[_PARAMETER_COLUMNS[name]].type),  # noqa: B023
        )
        applied += connection.execute(statement).rowcount
    return applied


def _typed_column(table: Table, name: str) -> ColumnClause[Any]:
    return column(name, table.c[_PARAMETER_COLUMNS[name]].type)


def _owned_update(
    table: Table, worker: str, values: Callable[[Parameter], dict[str, object]], parameter: Parameter
) -> Update:
    return (
        update(table)
        .where(
            table.c.id == parameter("b_id"),
            table.c.lease_owner == worker,
            table.c.status == FileStatus.PROCESSING,
        )
        .values(
            **values(parameter),
            rows_rejected=parameter("b_rejected"),
            updated_at=parameter("b_now"),
            lease_owner=None,
            lease_expires_at=None,
        )
    )


def _outcome_event(product_name: str, version: int, outcome: FileOutcome, worker: str) -> dict[str, object]:
    change: dict[str, object] = {
        "rows_written": outcome.rows_written,
        "rows_rejected": outcome.rows_rejected,
        "worker": worker,
    }
    if outcome.recovered:
        change["recovered_from_commit_marker"] = True
    if outcome.schema_drift:
        change["schema_drift"] = outcome.schema_drift
    if outcome.status is FileStatus.FAILED:
        change.update(
            {
                "error_type": outcome.error_type,
                "message": outcome.error_message,
                "attempt": outcome.file.retry_count + 1,
            }
        )
    return {
        "entity_type": "raw_file",
        "entity_id": audit.file_entity_id(product_name, version, outcome.file.key),
        "action": outcome.status.lower(),
        "change": change,
    }
