"""Schema versions: each schema a product's data was processed under, and which one each version was.

Contract (the caller holds the product's lock, :func:`.products.lock`, so two
recorders of one product take turns):

- :func:`record` returns the schema version for ``columns`` and ``key``: the
  newest one when it has these columns and key (idempotent), or when it is an
  accepted evolution of them (a stale caller that saw the table before another
  added a column gets the newest, never a step back); otherwise a new one
  numbered after the newest, with its audit event.
  Either way the version ``introduced_by`` is marked as processed under the
  returned schema, or a newer one it was marked with already (audited when
  the mark changes).
- :func:`of_version`: the schema the version was marked with; for a version
  processed before the marks existed, the newest schema introduced at or
  before it; None when there is none.
- :func:`up_to`: the newest schema any version up to ``version`` was processed
  under: schemas only grow, so it holds every column of each of them (the merge
  table of versions up to ``version`` takes it).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from platform_assets.catalog.models import SchemaVersion, Version
from platform_assets.catalog.queries import audit
from platform_assets.catalog.queries import versions as version_rows
from platform_assets.catalog.records import ProductRef, SchemaVersionRecord
from platform_assets.column_types import ColumnType
from platform_assets.schema_change import schema_change

ENTITY = "schema"


def schema_entity_id(product: str, number: int) -> str:
    return f"{product}/{number}"


def _record_of(product: ProductRef, row: SchemaVersion) -> SchemaVersionRecord:
    return SchemaVersionRecord(
        product=product.name,
        number=row.number,
        columns=tuple((str(name), str(column_type)) for name, column_type in row.columns),
        primary_key=tuple(row.primary_key),
        introduced_by=row.introduced_by,
        change=row.change,
        actor=row.actor,
        at=row.at,
    )


def all_of(session: Session, product: ProductRef) -> list[SchemaVersionRecord]:
    """Every schema version of the product, oldest first."""
    query = select(SchemaVersion).where(SchemaVersion.product_id == product.id).order_by(SchemaVersion.number)
    return [_record_of(product, row) for row in session.scalars(query)]


def numbered(session: Session, product: ProductRef, number: int) -> SchemaVersionRecord | None:
    query = select(SchemaVersion).where(SchemaVersion.product_id == product.id, SchemaVersion.number == number)
    row = session.scalars(query).one_or_none()
    return None if row is None else _record_of(product, row)


def record(
    session: Session,
    product: ProductRef,
    columns: Sequence[tuple[str, ColumnType | str]],
    key: Sequence[str],
    introduced_by: int,
    change: str | None,
    actor: str,
) -> SchemaVersionRecord:
    """The schema version of ``columns`` and ``key``, recorded if new (see the module contract)."""
    version = version_rows.get(session, product, introduced_by, lock=True)
    known = all_of(session, product)
    wanted = tuple((name, str(ColumnType.of(column_type))) for name, column_type in columns)
    found = _known(known, wanted, tuple(key))
    if found is None:
        found = _insert(session, product, known, wanted, tuple(key), introduced_by, change, actor)
    if version.schema_version is None or version.schema_version < found.number:
        audit.record(
            session,
            "version",
            audit.version_entity_id(product.name, introduced_by),
            "schema_version",
            actor,
            {"from": version.schema_version, "to": found.number},
        )
        version.schema_version = found.number
    return found


def _known(
    known: list[SchemaVersionRecord], columns: tuple[tuple[str, str], ...], key: tuple[str, ...]
) -> SchemaVersionRecord | None:
    """The newest schema when it has these columns and key, or evolved from them (a stale caller); else None."""
    if not known or known[-1].primary_key != key:
        return None
    newest = known[-1]
    if newest.columns == columns:
        return newest
    change = schema_change(_types(columns), _types(newest.columns), widen_types=True, key=key)
    return newest if change.accepted else None


def _types(columns: Sequence[tuple[str, str]]) -> dict[str, ColumnType]:
    return {name: ColumnType.parse(column_type) for name, column_type in columns}


def _insert(
    session: Session,
    product: ProductRef,
    known: list[SchemaVersionRecord],
    columns: tuple[tuple[str, str], ...],
    key: tuple[str, ...],
    introduced_by: int,
    change: str | None,
    actor: str,
) -> SchemaVersionRecord:
    number = known[-1].number + 1 if known else 1
    text = change or _describe(known[-1] if known else None, columns, key)
    row = SchemaVersion(
        product_id=product.id,
        number=number,
        columns=[[name, column_type] for name, column_type in columns],
        primary_key=list(key),
        introduced_by=introduced_by,
        change=text,
        actor=actor,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        ENTITY,
        schema_entity_id(product.name, number),
        "recorded",
        actor,
        {"version": introduced_by, "columns": row.columns, "primary_key": list(key), "change": text},
    )
    return _record_of(product, row)


def _describe(before: SchemaVersionRecord | None, columns: tuple[tuple[str, str], ...], key: tuple[str, ...]) -> str:
    """What changed from ``before`` (the first schema: its columns), in words."""
    if before is None:
        return "first schema: " + ", ".join(f"{name} {column_type}" for name, column_type in columns)
    described = schema_change(_types(before.columns), _types(columns), widen_types=True, key=key).describe()
    if before.primary_key != key:
        described += f"; primary key ({', '.join(before.primary_key)}) becomes ({', '.join(key)})"
    return described


def of_version(session: Session, product: ProductRef, number: int) -> SchemaVersionRecord | None:
    """The schema version ``number`` was processed under (see the module contract)."""
    marked = session.scalar(
        select(Version.schema_version).where(Version.product_id == product.id, Version.number == number)
    )
    if marked is not None:
        return numbered(session, product, marked)
    newest = session.scalar(
        select(func.max(SchemaVersion.number)).where(
            SchemaVersion.product_id == product.id, SchemaVersion.introduced_by <= number
        )
    )
    return None if newest is None else numbered(session, product, newest)


def up_to(session: Session, product: ProductRef, number: int) -> SchemaVersionRecord | None:
    """The newest schema a version up to ``number`` was processed under (see the module contract)."""
    marked = session.scalar(
        select(func.max(Version.schema_version)).where(Version.product_id == product.id, Version.number <= number)
    )
    introduced = session.scalar(
        select(func.max(SchemaVersion.number)).where(
            SchemaVersion.product_id == product.id, SchemaVersion.introduced_by <= number
        )
    )
    candidates = [value for value in (marked, introduced) if value is not None]
    return numbered(session, product, max(candidates)) if candidates else None
