"""Schema drift of processed files: how each file's columns differed from the product's, and a version's sum.

Contract: :func:`record` stores, in the outcome's transaction, the drift of
each outcome that has one (``raw_files.schema_drift``, JSON: ``missing``,
``added``, ``widened``, ``rescued`` -> column names) on files still owned by
the version; :func:`of_version` sums a version's files: part -> column ->
the keys of the files it concerns (sorted).
"""

from __future__ import annotations

import json

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from platform_assets.catalog.models import RawFile
from platform_assets.catalog.records import FileOutcome, ProductRef


def record(session: Session, product: ProductRef, version: int, outcomes: list[FileOutcome]) -> None:
    """Write the drift of the outcomes that carry one."""
    for outcome in outcomes:
        if outcome.schema_drift:
            session.execute(
                update(RawFile)
                .where(RawFile.id == outcome.file.id, RawFile.product_id == product.id, RawFile.version == version)
                .values(schema_drift=json.dumps(outcome.schema_drift, sort_keys=True))
            )


def of_version(session: Session, product: ProductRef, version: int) -> dict[str, dict[str, list[str]]]:
    """Part (missing, added, widened, rescued) -> column -> keys of the version's files it concerns."""
    rows = session.execute(
        select(RawFile.key, RawFile.schema_drift)
        .where(RawFile.product_id == product.id, RawFile.version == version, RawFile.schema_drift.is_not(None))
        .order_by(RawFile.key)
    ).all()
    summed: dict[str, dict[str, list[str]]] = {}
    for key, text in rows:
        for part, columns in json.loads(text or "{}").items():
            for column in columns:
                summed.setdefault(part, {}).setdefault(column, []).append(key)
    return summed
