"""The catalog's schema versions: each schema a product's data was processed under (SQL: ``queries/schemas.py``).

Contract (see :mod:`platform_assets.catalog.queries.schemas`): processing
records the product's columns after it committed a version's data
(:meth:`SchemaCatalog.record_schema_version`); recording the current columns
again returns the current schema version, so every worker of every version
may call it, concurrently too (the product's lock orders them). A new schema
version and its audit event commit together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from platform_assets.catalog.queries import products, schemas
from platform_assets.catalog.records import SchemaVersionRecord
from platform_assets.catalog.service_base import CatalogBase
from platform_assets.column_types import ColumnType


class SchemaCatalog(CatalogBase):
    """Schema versions of products: record them, list them, and say which one a version was processed under."""

    def record_schema_version(
        self,
        product: str,
        columns: Mapping[str, ColumnType | str],
        primary_key: Sequence[str],
        introduced_by: int,
        change: str | None,
        actor: str,
    ) -> SchemaVersionRecord:
        """The schema version of ``columns`` (in order) and ``primary_key``; a new one, audited, when it is new.

        ``introduced_by``: the version being processed (VersionNotFound when it
        does not exist): a new schema version names it, and it is marked as
        processed under the returned one. ``change`` describes a new one
        (default: the columns added or widened since the schema before).
        """
        with self._transaction() as session:
            products.lock(session, product)
            ref = self._product(session, product)
            return schemas.record(session, ref, list(columns.items()), primary_key, introduced_by, change, actor)

    def schema_versions(self, product: str) -> list[SchemaVersionRecord]:
        """Every schema version of the product, oldest first (UnknownProduct before its first version)."""
        with self._transaction() as session:
            return schemas.all_of(session, self._product(session, product))

    def current_schema(self, product: str) -> SchemaVersionRecord | None:
        """The newest schema version; None before the first version is processed."""
        found = self.schema_versions(product)
        return found[-1] if found else None

    def schema_of_version(self, product: str, version: int) -> SchemaVersionRecord | None:
        """The schema version ``version`` was processed under (unmarked: the newest introduced at or before it); None
        before the first schema version."""
        with self._transaction() as session:
            return schemas.of_version(session, self._product(session, product), version)

    def schema_up_to(self, product: str, version: int) -> SchemaVersionRecord | None:
        """The newest schema any version up to ``version`` was processed under (what merging it needs)."""
        with self._transaction() as session:
            return schemas.up_to(session, self._product(session, product), version)
