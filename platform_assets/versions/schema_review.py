"""What a reviewer reads first about a version: how its schema differs from the published version's.

Contract of :func:`schema_review`: one line per schema difference of the
version, in this order: columns added, columns widened (the schema version it
was processed under against the published version's, or against the first
schema version when nothing is published yet), then, from the version's drift
as processing recorded it, columns missing from its files (NULL for their
rows) and columns kept in ``_rescued``. Empty when the version changes no
column. The lines name the columns, types and files concerned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from platform_assets.catalog.records import SchemaVersionRecord
from platform_assets.column_types import ColumnType
from platform_assets.config import ProductConfig
from platform_assets.schema_change import schema_change

if TYPE_CHECKING:
    from platform_assets.services import Services

MAX_FILES_NAMED = 3


def schema_review(services: Services, product: ProductConfig, version: int, published: int | None) -> list[str]:
    """The version's schema differences, added and widened columns first (see the module contract)."""
    catalog = services.catalog
    mine = catalog.schema_of_version(product.name, version)
    base = catalog.schema_of_version(product.name, published) if published is not None else None
    if base is None and mine is not None and mine.number > 1:
        base = catalog.schema_versions(product.name)[0]
    lines = _column_changes(base, mine) if base is not None and mine is not None else []
    return lines + drift_lines(catalog.version_drift(product.name, version))


def _types(record: SchemaVersionRecord) -> dict[str, ColumnType]:
    return {name: ColumnType.parse(column_type) for name, column_type in record.columns}


def _column_changes(base: SchemaVersionRecord, mine: SchemaVersionRecord) -> list[str]:
    if base.number >= mine.number:
        return []
    change = schema_change(_types(base), _types(mine), widen_types=True, key=mine.primary_key)
    lines = [
        f"added column {column.name} ({column.column_type}, NULL in earlier rows; schema version {mine.number})"
        for column in change.added
    ]
    lines += [
        f"widened column {column.name}: {column.old} -> {column.new} (schema version {mine.number})"
        for column in change.widened
    ]
    return lines


def drift_lines(drift: dict[str, dict[str, list[str]]]) -> list[str]:
    """The missing and rescued columns of a version's drift (part -> column -> file keys), one line each."""
    lines = [
        f"column {column} missing from {_files(keys)}: NULL for their rows"
        for column, keys in sorted(drift.get("missing", {}).items())
    ]
    lines += [
        f"column {column} of {_files(keys)} kept in _rescued (not in the schema)"
        for column, keys in sorted(drift.get("rescued", {}).items())
    ]
    return lines


def _files(keys: list[str]) -> str:
    named = ", ".join(keys[:MAX_FILES_NAMED])
    more = f" and {len(keys) - MAX_FILES_NAMED} more" if len(keys) > MAX_FILES_NAMED else ""
    return f"{len(keys)} file(s) ({named}{more})"
