"""Audit events: who changed what, written in the transaction of the change itself."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from platform_assets.catalog.models import AuditEvent, utc_now
from platform_assets.catalog.records import AuditRecord

ACTOR_ENV_VAR = "PLATFORM_ACTOR"


def default_actor() -> str:
    """$PLATFORM_ACTOR, else the OS user."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return os.environ.get(ACTOR_ENV_VAR) or user


RUN_KEY = "dagster_run_id"  # in ``Session.info``: the Dagster run the transaction works for (Catalog.in_run)


def record(session: Session, entity_type: str, entity_id: str, action: str, actor: str, change: dict[str, Any]) -> None:
    """Add one audit event to ``session``'s transaction, linked to the session's Dagster run if it has one."""
    session.add(
        AuditEvent(
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
            actor=actor,
            change=change,
            dagster_run_id=session.info.get(RUN_KEY),
        )
    )


def record_many(session: Session, events: Iterable[dict[str, Any]], actor: str) -> None:
    """Bulk-insert events given as dicts with entity_type, entity_id, action and change (and the session's run)."""
    now = utc_now()
    rows = [{**event, "actor": actor, "at": now, "dagster_run_id": session.info.get(RUN_KEY)} for event in events]
    if rows:
        session.execute(insert(AuditEvent), rows)


def file_entity_id(product: str, version: int, key: str) -> str:
    return f"{product}/{version}/{key}"


def version_entity_id(product: str, version: int) -> str:
    return f"{product}/{version}"


def events_for(session: Session, entity_type: str, entity_id: str) -> list[AuditRecord]:
    """The entity's events, oldest first."""
    query = select(AuditEvent).where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
    return [
        AuditRecord(
            event.entity_type, event.entity_id, event.action, event.actor, event.at, event.change, event.dagster_run_id
        )
        for event in session.scalars(query.order_by(AuditEvent.id))
    ]
