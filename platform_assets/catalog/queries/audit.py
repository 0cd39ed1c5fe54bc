"""Audit events: who changed what, written in the transaction of the change itself, each a link of a hash chain.

Contract: :func:`record` and :func:`record_many` are the only writers of ``audit_events``. They
queue the events on the session; when the transaction commits (the session's ``before_commit``,
as late as it can be) the queued events are linked to their chains (:mod:`..audit_chain`): each
chain's head row in ``audit_chains`` is locked (``SELECT ... FOR UPDATE`` on PostgreSQL, in
chain-name order so two writers never deadlock; SQLite's ``BEGIN IMMEDIATE`` already serializes
writers), the events get the seq and hashes after it, all are inserted in one executemany and the
heads move, in the same transaction. A rollback drops the queue with everything else. The unique
(chain, seq) constraint is the backstop: two writers can never both link seq n.
Reads of ``audit_events`` in this module link the session's queue first, so they see its events.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, event, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from platform_assets.catalog.audit_chain import (
    GENESIS,
    AuditEntry,
    AuditVerification,
    ChainHead,
    ChainWalker,
    RecordedVerification,
    chain_of,
    link,
)
from platform_assets.catalog.models import AuditChain, AuditEvent, table_of, utc_now
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
_PENDING = "audit_pending"  # in ``Session.info``: the events queued until the commit links them


def record(
    session: Session,
    entity_type: str,
    entity_id: str,
    action: str,
    actor: str,
    change: dict[str, Any],
    chain: str | None = None,
) -> None:
    """Add one audit event to ``session``'s transaction, linked to the session's Dagster run if it has one.

    ``chain`` defaults to the entity's (:func:`..audit_chain.chain_of`: the product its id starts with).
    """
    record_many(
        session,
        [{"entity_type": entity_type, "entity_id": entity_id, "action": action, "change": change, "chain": chain}],
        actor,
    )


def record_many(session: Session, events: Iterable[dict[str, Any]], actor: str) -> None:
    """Queue events given as dicts with entity_type, entity_id, action and change (optionally chain), all by
    ``actor`` at one time and of the session's run; the commit links and inserts them in bulk."""
    now = utc_now()
    run = session.info.get(RUN_KEY)
    queued = session.info.setdefault(_PENDING, [])
    for given in events:
        queued.append(
            {
                "entity_type": given["entity_type"],
                "entity_id": given["entity_id"],
                "action": given["action"],
                "actor": actor,
                "at": now,
                "change": given.get("change") or {},
                "dagster_run_id": run,
                "chain": given.get("chain") or chain_of(given["entity_type"], given["entity_id"]),
            }
        )


@event.listens_for(Session, "before_commit")
def _link_on_commit(session: Session) -> None:
    if not session.in_nested_transaction():  # a savepoint's commit: the outer transaction links them
        link_pending(session)


def link_pending(session: Session) -> None:
    """Link and insert the events queued on ``session`` (see the module's contract); nothing when none are."""
    rows: list[dict[str, Any]] = session.info.pop(_PENDING, None) or []
    if not rows:
        return
    by_chain: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_chain.setdefault(row["chain"], []).append(row)
    heads = []
    for chain in sorted(by_chain):
        seq, head = _lock_head(session, chain)
        new_seq, new_hash = link(by_chain[chain], seq, head)
        heads.append({"b_chain": chain, "b_seq": new_seq, "b_hash": new_hash})
    ordered = [row for chain in sorted(by_chain) for row in by_chain[chain]]
    connection = session.connection()
    change = bindparam("change_text", type_=Text())  # link() encoded it once, for the hash and for this
    connection.execute(insert(table_of(AuditEvent)).values(change=change), ordered)
    chains = table_of(AuditChain)
    connection.execute(
        update(chains)
        .where(chains.c.chain == bindparam("b_chain"))
        .values(seq=bindparam("b_seq"), hash=bindparam("b_hash")),
        heads,
    )


def _lock_head(session: Session, chain: str) -> tuple[int, str]:
    """The chain's head (seq, hash), locked to the end of the transaction; created at seq 0 when missing."""
    query = select(AuditChain.seq, AuditChain.hash).where(AuditChain.chain == chain).with_for_update()
    found = session.execute(query).first()
    if found is None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        statement = dialect.insert(AuditChain).values(chain=chain, seq=0, hash=GENESIS)
        session.execute(statement.on_conflict_do_nothing(index_elements=["chain"]))
        found = session.execute(query).one()
    return int(found[0]), str(found[1])


def file_entity_id(product: str, version: int, key: str) -> str:
    return f"{product}/{version}/{key}"


def version_entity_id(product: str, version: int) -> str:
    return f"{product}/{version}"


def events_for(session: Session, entity_type: str, entity_id: str) -> list[AuditRecord]:
    """The entity's events, oldest first."""
    link_pending(session)
    query = select(AuditEvent).where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
    return [
        AuditRecord(
            event.entity_type, event.entity_id, event.action, event.actor, event.at, event.change, event.dagster_run_id
        )
        for event in session.scalars(query.order_by(AuditEvent.id))
    ]


_HASHED = ("id", "entity_type", "entity_id", "action", "actor", "at", "change", "dagster_run_id")
_LINK = ("chain", "seq", "prev_hash", "hash")


def verify(
    session: Session, chains: Iterable[str] | None = None, anchor: Iterable[ChainHead] = ()
) -> AuditVerification:
    """Walk the chains (all, or those named) in seq order, streamed; the first breach of each broken chain.

    Every chain that has events, a head or an anchor (an earlier head, see
    :class:`..audit_chain.ChainWalker`) is walked.
    """
    link_pending(session)
    events, heads_table = table_of(AuditEvent), table_of(AuditChain)
    wanted = None if chains is None else sorted(set(chains))
    head_query = select(heads_table.c.chain, heads_table.c.seq, heads_table.c.hash)
    query = select(*(events.c[name] for name in _HASHED + _LINK)).order_by(events.c.chain, events.c.seq)
    if wanted is not None:
        head_query = head_query.where(heads_table.c.chain.in_(wanted))
        query = query.where(events.c.chain.in_(wanted))
    heads = {row.chain: ChainHead(row.chain, int(row.seq), row.hash) for row in session.execute(head_query)}
    anchors = {head.chain: head for head in anchor if wanted is None or head.chain in wanted}
    walkers: dict[str, ChainWalker] = {}
    connection = session.connection().execution_options(yield_per=_VERIFY_BATCH)
    for row in connection.execute(query):
        mapping = row._asdict()
        walker = walkers.get(mapping["chain"])
        if walker is None:
            chain = mapping["chain"]
            walker = walkers[chain] = ChainWalker(chain, heads.get(chain), anchors.get(chain))
        walker.feed(mapping)
    for chain in set(heads) | set(anchors):
        walkers.setdefault(chain, ChainWalker(chain, heads.get(chain), anchors.get(chain)))
    findings = tuple(f for chain in sorted(walkers) if (f := walkers[chain].finish()) is not None)
    return AuditVerification(
        chains=len(walkers),
        events=sum(walker.events for walker in walkers.values()),
        findings=findings,
        heads=tuple(heads[chain] for chain in sorted(heads)),
        chain_events={chain: walker.events for chain, walker in walkers.items()},
    )


VERIFY_ENTITY = ("audit", "verify")  # the entity of the events that record a verification (platform chain)
VERIFIED = "verified"


def record_verification(session: Session, result: AuditVerification, actor: str) -> None:
    """Record a verification's result as an event of the platform chain."""
    record(session, *VERIFY_ENTITY, VERIFIED, actor, result.as_change())


def last_verification(session: Session) -> RecordedVerification | None:
    """The newest recorded verification, if any."""
    events = table_of(AuditEvent)
    query = (
        select(events.c.at, events.c.actor, events.c.dagster_run_id, events.c.change)
        .where(
            events.c.entity_type == VERIFY_ENTITY[0],
            events.c.entity_id == VERIFY_ENTITY[1],
            events.c.action == VERIFIED,
        )
        .order_by(events.c.id.desc())
        .limit(1)
    )
    row = session.execute(query).first()
    if row is None:
        return None
    return RecordedVerification(row.at, row.actor, row.dagster_run_id, AuditVerification.from_change(row.change))


_VERIFY_BATCH = 5000


def log(
    session: Session, product: str, version: int | None, key: str | None, since: datetime | None
) -> list[AuditEntry]:
    """The product's events, oldest first: of version ``version`` (the version's and its files'), of the file
    ``key`` (in any version, or in ``version``), at or after ``since``."""
    link_pending(session)
    events = table_of(AuditEvent)
    query = select(*(events.c[name] for name in _ENTRY)).where(events.c.chain == product)
    if version is not None:
        entity = version_entity_id(product, version)
        query = query.where(
            or_(events.c.entity_id == entity, events.c.entity_id.startswith(entity + "/", autoescape=True))
        )
    if key is not None:
        query = query.where(events.c.entity_type == "raw_file", events.c.entity_id.endswith("/" + key, autoescape=True))
    if since is not None:
        query = query.where(events.c.at >= since)
    entries = [AuditEntry(**row._asdict()) for row in session.execute(query.order_by(events.c.seq))]
    if key is None:
        return entries
    return [entry for entry in entries if _file_key(entry.entity_id) == key]


_ENTRY = ("id", "chain", "seq", "entity_type", "entity_id", "action", "actor", "at", "change", "dagster_run_id")


def _file_key(entity_id: str) -> str | None:
    """The source key of a file entity id ``product/version/key``."""
    parts = entity_id.split("/", 2)
    return parts[2] if len(parts) == 3 and parts[1].isdigit() else None
