"""Schema drift of a version's files, as processing recorded it (SQL: ``queries/drift.py``)."""

from __future__ import annotations

from platform_assets.catalog.queries import drift
from platform_assets.catalog.service_base import CatalogBase


class DriftCatalog(CatalogBase):
    """How the columns of a version's files differed from the product's (``schema.evolution``)."""

    def version_drift(self, product: str, number: int) -> dict[str, dict[str, list[str]]]:
        """Part (``missing``, ``added``, ``widened``, ``rescued``) -> column -> keys of the files concerned.

        ``missing``: columns a file lacked (NULL for its rows); ``added``: new
        columns a file added (``add_columns``); ``widened``: ``name: old ->
        new``; ``rescued``: columns kept in ``_rescued``. Empty when the files
        held the product's columns.
        """
        with self._transaction() as session:
            return drift.of_version(session, self._product(session, product), number)
