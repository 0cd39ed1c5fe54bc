"""The ``runs`` table: one row per step a worker ran on a version, with its figures."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_assets.catalog.models import Run, utc_now
from platform_assets.catalog.records import ProductRef, RunRecord
from platform_assets.catalog.states import RunKind, RunStatus


def start(
    session: Session, product: ProductRef, version: int | None, kind: RunKind, worker: str, dagster_run_id: str | None
) -> int:
    run = Run(
        product_id=product.id,
        version=version,
        kind=kind,
        status=RunStatus.STARTED,
        worker=worker,
        dagster_run_id=dagster_run_id,
    )
    session.add(run)
    session.flush()
    return run.id


def finish(session: Session, run_id: int, status: RunStatus, stats: dict[str, Any], error: str | None) -> None:
    run = session.get(Run, run_id)
    if run is None:
        return
    run.status = status
    run.error = error
    run.finished_at = utc_now()
    run.stats = stats


def of_version(session: Session, product: ProductRef, version: int) -> list[RunRecord]:
    query = select(Run).where(Run.product_id == product.id, Run.version == version).order_by(Run.id)
    return [
        RunRecord(run.id, run.version, run.kind, run.status, run.worker, run.dagster_run_id, run.error)
        for run in session.scalars(query)
    ]
