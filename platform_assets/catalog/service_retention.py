"""The catalog service's soft delete and retention: delete, restore, and the steps of a purge a crash can resume.

Contract: each method is one transaction whose state change and audit events commit together
(SQL in :mod:`platform_assets.catalog.queries.retention`). The rules of retention live in
``platform_assets/versions/retention.py``, the purge's steps in ``platform_assets/versions/purge.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from platform_assets.catalog.queries import retention, versions
from platform_assets.catalog.records import VersionRecord
from platform_assets.catalog.service_base import CatalogBase


class RetentionCatalog(CatalogBase):
    """Soft delete, restore and purge of versions (see the module contract)."""

    def delete_version(self, product: str, number: int, reason: str, actor: str) -> VersionRecord:
        """Soft-delete the version (DELETED, restorable); RetentionStateError when published, in flight, deleted or
        purged."""
        with self._transaction() as session:
            return versions.record_of(retention.delete(session, self._product(session, product), number, reason, actor))

    def restore_version(self, product: str, number: int, actor: str) -> VersionRecord:
        """The DELETED version gets back the status it had before it was deleted."""
        with self._transaction() as session:
            return versions.record_of(retention.restore(session, self._product(session, product), number, actor))

    def start_purge(self, product: str, rules: Mapping[int, str], actor: str) -> list[int]:
        """Mark the intent to purge the versions of ``rules`` (number -> rule); the numbers to purge now."""
        with self._transaction() as session:
            return retention.start_purge(session, self._product(session, product), rules, actor)

    def raw_locations(self, product: str, number: int) -> list[tuple[str, str]]:
        """(key, raw_location) of the version's files that have a raw copy."""
        with self._transaction() as session:
            return retention.raw_locations(session, self._product(session, product), number)

    def locations_in_use(self, product: str, locations: Iterable[str]) -> set[str]:
        """Those of ``locations`` that a version neither purged nor being purged still references."""
        with self._transaction() as session:
            return retention.locations_in_use(session, self._product(session, product), locations)

    def finish_purge(self, product: str, number: int, actor: str, figures: dict[str, Any]) -> bool:
        """The version is PURGED (its files DELETED), audited with ``figures``; False when it was already."""
        with self._transaction() as session:
            return retention.finish_purge(session, self._product(session, product), number, actor, figures)
