"""The catalog's side of ``platform-assets trace`` (``versions/trace.py``): where versions' files came from."""

from __future__ import annotations

from collections.abc import Iterable

from platform_assets.catalog.queries import trace
from platform_assets.catalog.queries.trace import SourceFile
from platform_assets.catalog.service_base import CatalogBase


class TraceCatalog(CatalogBase):
    """Reads of ``raw_files`` for provenance."""

    def source_files(self, product: str, pairs: Iterable[tuple[int, str]]) -> list[SourceFile]:
        """The files (version, key) of ``pairs`` with their source objects and raw copies, in one statement."""
        with self._transaction() as session:
            return trace.source_files(session, self._product(session, product), pairs)
