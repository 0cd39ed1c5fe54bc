"""Reads for ``platform-assets trace``: the source objects behind versions' files.

Contract: :func:`source_files` reads, in one statement, the ``raw_files``
rows of the given (version, key) pairs: the source object (key, etag, last
modified, size), the raw copy (its location, None for the layout's own
``<product>/v<version>/<key>``) and its sha256. Pairs without a row are
left out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_assets.catalog.models import RawFile
from platform_assets.catalog.records import ProductRef


@dataclass(frozen=True)
class SourceFile:
    """One file of a version: the source object it was copied from and its raw copy."""

    version: int
    key: str
    etag: str | None
    source_last_modified: datetime | None
    size: int
    sha256: str | None
    raw_location: str | None
    captured_at: datetime | None


def source_files(session: Session, product: ProductRef, pairs: Iterable[tuple[int, str]]) -> list[SourceFile]:
    wanted = set(pairs)
    if not wanted:
        return []
    query = select(
        RawFile.version,
        RawFile.key,
        RawFile.etag,
        RawFile.source_last_modified,
        RawFile.size,
        RawFile.sha256,
        RawFile.raw_location,
        RawFile.captured_at,
    ).where(
        RawFile.product_id == product.id,
        RawFile.version.in_(sorted({version for version, _ in wanted})),
        RawFile.key.in_(sorted({key for _, key in wanted})),
    )
    return [SourceFile(*row) for row in session.execute(query) if (row[0], row[1]) in wanted]
