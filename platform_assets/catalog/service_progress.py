"""The catalog's figures for progress reports (SQL: ``queries/progress.py``); reads only."""

from __future__ import annotations

from platform_assets.catalog.queries import progress
from platform_assets.catalog.records import WorkSize
from platform_assets.catalog.service_base import CatalogBase


class ProgressCatalog(CatalogBase):
    """How much work a version holds, and how much of it is done."""

    def version_work(self, product: str, number: int) -> WorkSize:
        """Files and bytes of the version, and those PROCESSED or SKIPPED already."""
        with self._transaction() as session:
            return progress.version_work(session, self._product(session, product), number)
