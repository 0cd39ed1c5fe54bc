"""The catalog service's common ground: the engine, a transaction per call, and the product rows it resolves.

Contract: :class:`CatalogBase` holds no method on state of its own. The service
:class:`~platform_assets.catalog.service.Catalog` is built from it and from one
mixin per concern (``catalog/service_<concern>.py``), each a subclass of
:class:`CatalogBase` whose SQL lives in :mod:`platform_assets.catalog.queries`.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Self

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from platform_assets.catalog.db import open_catalog, transaction
from platform_assets.catalog.errors import UnknownProduct
from platform_assets.catalog.queries import audit, products
from platform_assets.catalog.records import ProductRef


class CatalogBase:
    """What every part of the catalog service shares: the engine, one transaction per call, product rows."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dagster_run_id: str | None = None
        self._products: dict[str, ProductRef] = {}
        self._products_lock = threading.Lock()

    def in_run(self, dagster_run_id: str | None) -> Self:
        """This catalog working for the Dagster run ``dagster_run_id``: every audit event it writes, and every
        ``runs`` row it starts, names that run (same engine and product cache)."""
        clone = copy.copy(self)
        clone.__dict__["engine"] = self.engine
        clone.dagster_run_id = dagster_run_id
        return clone

    @cached_property
    def engine(self) -> Engine:
        """The catalog's engine (migrated). Code goes through the methods; tests and migrations may use it."""
        return open_catalog(self.url)

    def ready(self) -> None:
        """Create and migrate the catalog's database now (others that share it, like the iceberg catalog, wait)."""
        self.engine  # noqa: B018 - opening migrates

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with transaction(self.engine) as session:
            if self.dagster_run_id is not None:
                session.info[audit.RUN_KEY] = self.dagster_run_id
            yield session

    def _product(self, session: Session, name: str) -> ProductRef:
        """The product's row, resolved once per catalog; UnknownProduct when it has none yet."""
        with self._products_lock:
            found = self._products.get(name)
        if found is not None:
            return found
        found = products.find(session, name)
        if found is None:
            raise UnknownProduct(
                f"product {name!r} has no versions in the catalog yet; run `platform-assets sync {name}` first"
            )
        with self._products_lock:
            self._products[name] = found
        return found
