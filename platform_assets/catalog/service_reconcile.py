"""The catalog's side of reconciliation (``versions/reconciliation.py``): one bulk read, and the repairs' changes.

Contract: each method is one transaction; each change commits with its audit
events (:mod:`.queries.reconcile`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from platform_assets.catalog.queries import reconcile
from platform_assets.catalog.records import LostCopy, QuarantinedObject, RawCopyRow, RestoredCopy
from platform_assets.catalog.service_base import CatalogBase


class ReconcileCatalog(CatalogBase):
    """Reconciliation's reads and writes on ``raw_files``, ``versions`` and ``audit_events``."""

    def raw_copies(self, product: str, listed_at: datetime, *, with_details: bool = False) -> list[RawCopyRow]:
        """Every file of the product (any status), in one statement; etag and sha256 ``with_details``."""
        with self._transaction() as session:
            return reconcile.raw_copies(session, self._product(session, product), listed_at, with_details)

    def held_files(self, product: str, pairs: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
        """Those (version, key) pairs that have a row now."""
        with self._transaction() as session:
            return reconcile.held(session, self._product(session, product), pairs)

    def lost_files(self, product: str, number: int) -> dict[str, str]:
        """The version's LOST files, key -> why (processing refuses the version while it has any)."""
        with self._transaction() as session:
            return reconcile.lost_files(session, self._product(session, product), number)

    def mark_lost(self, product: str, lost: Sequence[LostCopy], actor: str) -> None:
        """The files turn LOST with their reasons; their versions' status_reason says so; all audited."""
        with self._transaction() as session:
            reconcile.mark_lost(session, self._product(session, product), lost, actor)

    def record_restored(self, product: str, restored: Sequence[RestoredCopy], actor: str) -> None:
        """Audit the raw copies recaptured from the source."""
        if restored:
            with self._transaction() as session:
                reconcile.record_restored(session, self._product(session, product), restored, actor)

    def record_quarantined(self, product: str, moved: Sequence[QuarantinedObject], actor: str) -> None:
        """Audit the objects moved under ``<product>/_quarantine/``."""
        if moved:
            with self._transaction() as session:
                reconcile.record_quarantined(session, self._product(session, product), moved, actor)

    def record_reconciled(self, product: str, summary: dict[str, Any], actor: str) -> None:
        """Audit one finished reconciliation of the product (its counts and repairs)."""
        with self._transaction() as session:
            reconcile.record_reconciled(session, self._product(session, product), summary, actor)
