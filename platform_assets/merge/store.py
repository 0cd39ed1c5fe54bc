"""The merge store: a SQLite file (embedded default) or a PostgreSQL database.

Contract: ``MergeStore(url)`` shares one engine per URL per process (built by
:func:`platform_assets.storage.sql.shared_engine`: SQLite transactions are
``BEGIN IMMEDIATE`` with WAL). :meth:`MergeStore.ensure_tables` is idempotent
and safe to call from concurrent processes; :meth:`MergeStore.epoch` returns
the UUID generated once when the store's meta table was created, so a replica
can tell a rebuilt primary from the one it followed. ``store.dialect`` (chosen
once, from the URL) spells what differs between the backends
(:mod:`platform_assets.merge.dialect`).
"""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from platform_assets.config import ProductConfig
from platform_assets.merge.dialect import MergeDialect, dialect_for
from platform_assets.merge.names import quote_ident, quote_list  # re-exported: identifier quoting lives here too
from platform_assets.merge.spec import MergeSpec, merge_spec
from platform_assets.merge.tables import ensure_product_tables, ensure_store_tables, read_epoch
from platform_assets.storage.sql import shared_engine

__all__ = ["MergeStore", "quote_ident", "quote_list"]


class MergeStore:
    """Connection helpers for one merge store (``sqlite:///...`` or ``postgresql://...``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect: MergeDialect = dialect_for(url)
        self.engine: Engine = shared_engine(url)
        self._lock = threading.Lock()
        self._store_ready = False
        self._ensured: set[MergeSpec] = set()

    def ensure_store_tables(self) -> None:
        """Create the batch log and the meta table (with its epoch) if missing."""
        with self._lock:
            if self._store_ready:
                return
            with self.engine.begin() as connection:
                ensure_store_tables(connection, self.dialect)
            self._store_ready = True

    def ensure_tables(self, product: ProductConfig) -> None:
        """Idempotent DDL for ``product``: merge table, indexes, live view, batch log, store meta.

        Raises MergeError if the product has no schema or key, MergeSchemaMismatch if
        an existing merge table has other columns.
        """
        self.ensure_spec_tables(merge_spec(product))

    def ensure_spec_tables(self, spec: MergeSpec) -> None:
        """:meth:`ensure_tables` for an already-built MergeSpec (cached per store instance)."""
        self.ensure_store_tables()
        with self._lock:
            if spec in self._ensured:
                return
            with self.engine.begin() as connection:
                ensure_product_tables(connection, spec, self.dialect)
            self._ensured.add(spec)

    def epoch(self) -> str:
        """The store's epoch UUID (created with the meta table, never changed afterwards)."""
        self.ensure_store_tables()
        with self.engine.connect() as connection:
            return read_epoch(connection)

    def __repr__(self) -> str:
        from platform_assets.config import mask_url

        return f"MergeStore({mask_url(self.url)!r})"
