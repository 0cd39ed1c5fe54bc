"""What ``platform-assets schema P [--history]`` shows: a product's current schema and its schema versions.

Contract of :func:`schema_report`: the catalog's newest schema version of the
product (columns and types in order, key, the version that introduced it), the
product's ``schema.evolution`` and ``widen_types`` from the config, for each
column the schema version (and product version) it arrived in and, when its
type widened since, the one it widened in; and every schema version, oldest
first, with its change; and ``pending``: the columns ``platform.yaml`` adds
or widens against the current schema version (a declared change the next
processed version takes), None when there is none (columns files added or
widened, which the config does not declare, are no difference; processing
judges a narrowing). A product without a processed version has no schema
version: :class:`NoSchemaYet` (nothing to show) says so and what to run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from platform_assets.catalog import Catalog
from platform_assets.catalog.errors import UnknownProduct
from platform_assets.catalog.records import SchemaVersionRecord
from platform_assets.column_types import ColumnType
from platform_assets.config import ProductConfig
from platform_assets.errors import NothingToDo
from platform_assets.schema_change import schema_change


class NoSchemaYet(NothingToDo):
    """The product has no schema version yet: none of its versions was processed."""


@dataclass(frozen=True)
class ColumnOrigin:
    """A column of the current schema: its type, the schema version (and product version) it arrived in, and the
    one its type last widened in (None when it kept its first type)."""

    name: str
    column_type: str
    since_schema: int
    since_version: int
    widened_in_schema: int | None = None
    widened_in_version: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.column_type,
            "since_schema_version": self.since_schema,
            "since_version": self.since_version,
            "widened_in_schema_version": self.widened_in_schema,
            "widened_in_version": self.widened_in_version,
        }


@dataclass(frozen=True)
class SchemaReport:
    """The product's current schema version, its columns' origins, and every schema version."""

    product: str
    evolution: str | None
    widen_types: bool | None
    current: SchemaVersionRecord
    columns: tuple[ColumnOrigin, ...]
    history: tuple[SchemaVersionRecord, ...]
    pending: str | None = None

    def as_json(self, history: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "product": self.product,
            "schema_version": self.current.number,
            "introduced_by": self.current.introduced_by,
            "primary_key": list(self.current.primary_key),
            "evolution": self.evolution,
            "widen_types": self.widen_types,
            "columns": [column.as_json() for column in self.columns],
            "pending": self.pending,
        }
        if history:
            payload["history"] = [record.as_json() for record in self.history]
        return payload

    def lines(self, history: bool) -> list[str]:
        current = self.current
        mode = self.evolution or "inferred schema"
        lines = [
            f"{self.product}: schema version {current.number} (introduced by v{current.introduced_by}, "
            f"{current.at:%Y-%m-%d %H:%M} UTC, by {current.actor}); evolution: {mode}; "
            f"widen_types: {str(self.widen_types).lower() if self.widen_types is not None else '-'}",
            f"  primary key: {', '.join(current.primary_key) or '-'}",
        ]
        width = max(len(column.name) for column in self.columns)
        type_width = max(len(column.column_type) for column in self.columns)
        for column in self.columns:
            origin = f"since schema {column.since_schema} (v{column.since_version})"
            if column.widened_in_schema is not None:
                origin += f", widened in schema {column.widened_in_schema} (v{column.widened_in_version})"
            lines.append(f"  {column.name:<{width}}  {column.column_type:<{type_width}}  {origin}")
        if self.pending:
            lines.append(f"  declared in platform.yaml, not processed yet: {self.pending}")
        if history:
            lines.append(f"  history ({len(self.history)} schema versions):")
            lines += [
                f"    {record.number}: v{record.introduced_by}, {record.at:%Y-%m-%d %H:%M} UTC, {record.actor}: "
                f"{record.change}"
                for record in self.history
            ]
        return lines


def schema_report(catalog: Catalog, product: ProductConfig) -> SchemaReport:
    """The product's schema report (see the module contract); NoSchemaYet before its first processed version."""
    try:
        history = catalog.schema_versions(product.name)
    except UnknownProduct:
        history = []
    if not history:
        raise NoSchemaYet(
            f"{product.name} has no schema version yet: none of its versions was processed. Its first processed "
            f"version records schema version 1 (`platform-assets run {product.name}` syncs, processes and merges)"
        )
    settings = product.table_schema
    return SchemaReport(
        product=product.name,
        evolution=settings.evolution if settings else None,
        widen_types=settings.widen_types if settings else None,
        current=history[-1],
        columns=column_origins(history),
        history=tuple(history),
        pending=pending_change(history[-1], product),
    )


def pending_change(current: SchemaVersionRecord, product: ProductConfig) -> str | None:
    """How the declared columns differ from ``current`` (see the module contract); None when they agree."""
    settings = product.table_schema
    if settings is None:
        return None
    held = {name: ColumnType.parse(column_type) for name, column_type in current.columns}
    shared = {name: column_type for name, column_type in held.items() if name in settings.columns}
    change = schema_change(shared, dict(settings.columns), widen_types=settings.widen_types, key=settings.primary_key)
    accepted = [item.describe() for item in change.added] + [item.describe() for item in change.widened]
    return "; ".join(accepted) or None


def column_origins(history: list[SchemaVersionRecord]) -> tuple[ColumnOrigin, ...]:
    """Each column of the newest schema version with where it arrived and where its type last changed."""
    origins: dict[str, ColumnOrigin] = {}
    for record in history:
        for name, column_type in record.columns:
            known = origins.get(name)
            if known is None:
                origins[name] = ColumnOrigin(name, column_type, record.number, record.introduced_by)
            elif known.column_type != column_type:
                origins[name] = ColumnOrigin(
                    name, column_type, known.since_schema, known.since_version, record.number, record.introduced_by
                )
    return tuple(origins[name] for name, _ in history[-1].columns)
