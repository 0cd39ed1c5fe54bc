"""Figures for progress reports: how much of a version's files is done (read only, no state change)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from platform_assets.catalog.models import RawFile
from platform_assets.catalog.records import ProductRef, WorkSize
from platform_assets.catalog.states import FileStatus

DONE_FILE_STATES = (FileStatus.PROCESSED, FileStatus.SKIPPED)


def version_work(session: Session, product: ProductRef, number: int) -> WorkSize:
    """Files and bytes of version ``number``, and how many of them are PROCESSED or SKIPPED already."""
    done = RawFile.status.in_(DONE_FILE_STATES)
    rows = session.execute(
        select(done, func.count(), func.coalesce(func.sum(RawFile.size), 0))
        .where(RawFile.product_id == product.id, RawFile.version == number)
        .group_by(done)
    ).all()
    files = sum(int(count) for _, count, _ in rows)
    size = sum(int(total) for _, _, total in rows)
    done_files = sum(int(count) for is_done, count, _ in rows if is_done)
    done_bytes = sum(int(total) for is_done, _, total in rows if is_done)
    return WorkSize(files, size, done_files, done_bytes)
