"""The catalog service's audit trail: verify the hash chains of ``audit_events``.

Contract: :meth:`AuditCatalog.verify_audit` reads one consistent snapshot of the
events and the chain heads (REPEATABLE READ on PostgreSQL; SQLite's transaction
is one already), so writers committing meanwhile never look like a break.
The SQL lives in :mod:`platform_assets.catalog.queries.audit`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy.orm import Session

from platform_assets.catalog.audit_chain import (
    PLATFORM_CHAIN,
    AuditEntry,
    AuditVerification,
    ChainHead,
    RecordedVerification,
)
from platform_assets.catalog.queries import audit
from platform_assets.catalog.service_base import CatalogBase
from platform_assets.storage.sql import is_postgres


class AuditCatalog(CatalogBase):
    """Reads of the audit trail: chain verification and a product's log."""

    def verify_audit(
        self, products: Iterable[str] | None = None, anchor: Iterable[ChainHead] = ()
    ) -> AuditVerification:
        """Walk every chain (or the chains of ``products`` plus the platform's) and report the first breach of each;
        each chain must still hold the hash ``anchor`` (heads recorded earlier) gives it at that seq."""
        chains = None if products is None else [*products, PLATFORM_CHAIN]
        with self._snapshot() as session:
            return audit.verify(session, chains, anchor)

    def record_audit_verification(self, result: AuditVerification, actor: str) -> None:
        """Keep ``result`` as an event of the platform chain (the asset check reports the newest one)."""
        with self._transaction() as session:
            audit.record_verification(session, result, actor)

    def last_audit_verification(self) -> RecordedVerification | None:
        """The newest recorded verification, if any."""
        with self._transaction() as session:
            return audit.last_verification(session)

    @contextmanager
    def _snapshot(self) -> Iterator[Session]:
        """A read-only transaction on one snapshot of the catalog."""
        engine = self.engine
        bind = engine.execution_options(isolation_level="REPEATABLE READ") if is_postgres(engine) else engine
        with Session(bind) as session, session.begin():
            yield session

    def audit_log(
        self, product: str, version: int | None = None, key: str | None = None, since: datetime | None = None
    ) -> list[AuditEntry]:
        """The product's audit events, oldest first, filtered by version, file key and time (see
        :func:`.queries.audit.log`); UnknownProduct for a product without versions."""
        with self._transaction() as session:
            self._product(session, product)
            return audit.log(session, product, version, key, since)
