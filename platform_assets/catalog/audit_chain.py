"""The audit trail's hash chain: which chain an event belongs to, its canonical content, and a chain's check.

Contract:
- One chain per product (named after it) and :data:`PLATFORM_CHAIN` for events of no product.
  :func:`chain_of` tells an event's chain from its entity: the first ``/``-separated part of the
  entity id when it is a product name (``customers/3``, ``customers/3/a.csv``, ``customers``),
  else the platform chain; an entity type of :data:`PLATFORM_ENTITY_TYPES` always goes to the platform.
- Each event of a chain has ``seq`` 1, 2, 3, ... with no gap, ``prev_hash`` = the ``hash`` of the
  event before it (:data:`GENESIS` for seq 1) and ``hash`` = :func:`event_hash` of its canonical
  content: :func:`canonical` (sorted-key compact JSON of chain, seq, entity_type, entity_id, action,
  actor, at as UTC ISO with microseconds, change, dagster_run_id, prev).
- :class:`ChainWalker` checks one chain's events in seq order against that, against the chain's
  head (``audit_chains``: the seq and hash of its last event) and, when given, against an anchor (a
  head recorded earlier and kept outside the catalog: the chain must still hold that hash at that seq,
  which a rewrite of the whole chain cannot fake), and names the first event that breaks it.
  Pure: no SQL, no Dagster (the catalog feeds it rows).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from hashlib import sha256
from json.encoder import encode_basestring_ascii
from typing import Any

PLATFORM_CHAIN = "_platform"
"""The chain of events that belong to no product (a product name never starts with ``_``)."""
PLATFORM_ENTITY_TYPES = frozenset({"platform", "worker", "audit"})
"""Entity types that are never a product's, whatever their id looks like."""
GENESIS = "0" * 64
"""The ``prev_hash`` of a chain's first event."""
_PRODUCT_NAME = re.compile(r"[a-z][a-z0-9_]*")


def chain_of(entity_type: str, entity_id: str) -> str:
    """The chain of an event on ``entity_type``/``entity_id`` (see the module's contract)."""
    if entity_type in PLATFORM_ENTITY_TYPES:
        return PLATFORM_CHAIN
    head = entity_id.split("/", 1)[0]
    return head if _PRODUCT_NAME.fullmatch(head) else PLATFORM_CHAIN


def utc_iso(at: datetime) -> str:
    """``at`` as UTC ISO 8601 with microseconds (a naive value is taken as UTC, as SQLite returns them)."""
    aware = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return aware.isoformat(timespec="microseconds")


_encode_change = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode
_string = encode_basestring_ascii  # a JSON string literal, as json.dumps(ensure_ascii=True) writes it


def change_json(change: dict[str, Any] | None) -> str:
    """The canonical JSON of an event's change (what the writer stores, and what its hash covers)."""
    return _encode_change(change) if change else "{}"


def canonical(event: dict[str, Any], prev_hash: str, at_iso: str | None = None, change_text: str | None = None) -> str:
    """The canonical content of ``event`` (a dict with the columns named in the contract) after ``prev_hash``.

    Exactly ``json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`` of the content
    dict (keys action, actor, at, chain, change, dagster_run_id, entity_id, entity_type, prev, seq), written out
    field by field because it runs once per event of every bulk write. ``at_iso``: ``utc_iso(event["at"])``
    and ``change_text``: ``change_json(event["change"])``, when the caller has them.
    """
    run = event["dagster_run_id"]
    return (
        f'{{"action":{_string(event["action"])},"actor":{_string(event["actor"])},'
        f'"at":{_string(at_iso or utc_iso(event["at"]))},"chain":{_string(event["chain"])},'
        f'"change":{change_json(event["change"]) if change_text is None else change_text},'
        f'"dagster_run_id":{"null" if run is None else _string(run)},'
        f'"entity_id":{_string(event["entity_id"])},"entity_type":{_string(event["entity_type"])},'
        f'"prev":{_string(prev_hash)},"seq":{int(event["seq"])}}}'
    )


def event_hash(event: dict[str, Any], prev_hash: str, at_iso: str | None = None, change_text: str | None = None) -> str:
    """The sha256 (hex) of the event's canonical content."""
    return sha256(canonical(event, prev_hash, at_iso, change_text).encode()).hexdigest()


def link(rows: list[dict[str, Any]], head_seq: int, head_hash: str) -> tuple[int, str]:
    """Give ``rows`` (one chain, in order) their seq, prev_hash and hash after the head; the new head.

    Each row's ``change`` is replaced by ``change_text``, its canonical JSON: what the writer stores, so the
    change is encoded once for both the hash and the insert.
    """
    seq, prev = head_seq, head_hash
    times: dict[datetime, str] = {}  # the events of one write share their time: format it once
    for row in rows:
        seq += 1
        row["seq"] = seq
        row["prev_hash"] = prev
        at = row["at"]
        at_iso = times.get(at)
        if at_iso is None:
            at_iso = times[at] = utc_iso(at)
        text = row["change_text"] = change_json(row.pop("change"))
        prev = row["hash"] = event_hash(row, prev, at_iso, text)
    return seq, prev


class Breach(StrEnum):
    """How a chain is broken at an event."""

    EDITED = "edited"  # its content no longer hashes to its hash
    DELETED = "deleted"  # an event before it is gone (a seq gap, or its prev_hash names no event)
    OUT_OF_ORDER = "inserted_out_of_order"  # written after a later event of its chain, or past the head
    UNLINKED = "unlinked"  # no chain link at all (written around the audit writer)
    HEAD = "head_mismatch"  # the chain's last events are gone, or its head was moved
    REWRITTEN = "rewritten"  # consistent in itself, but not the chain an earlier anchor recorded


@dataclass(frozen=True)
class AuditFinding:
    """The first event at which a chain breaks, and why."""

    chain: str
    breach: Breach
    event_id: int | None  # the audit_events id (None: the break is after the last event left)
    seq: int | None
    entity: str  # entity_type:entity_id of the event ('' when there is none)
    action: str
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {
            "chain": self.chain,
            "breach": self.breach.value,
            "event_id": self.event_id,
            "seq": self.seq,
            "entity": self.entity,
            "action": self.action,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AuditFinding:
        return cls(
            data["chain"],
            Breach(data["breach"]),
            data["event_id"],
            data["seq"],
            data["entity"],
            data["action"],
            data["detail"],
        )


@dataclass(frozen=True)
class ChainHead:
    """A chain's head as its audit_chains row holds it (seq 0 and GENESIS: no event yet)."""

    chain: str
    seq: int
    hash: str


@dataclass(frozen=True)
class AuditVerification:
    """The result of walking the chains: events checked, chains, and the first breach of each broken chain."""

    chains: int
    events: int
    findings: tuple[AuditFinding, ...]
    heads: tuple[ChainHead, ...] = ()
    chain_events: dict[str, int] = field(default_factory=dict)  # events checked per chain

    @property
    def intact(self) -> bool:
        return not self.findings

    def as_change(self) -> dict[str, Any]:
        """The result as an audit event's change (the verification job records each one it runs)."""
        return {
            "intact": self.intact,
            "chains": self.chains,
            "events": self.events,
            "chain_events": dict(sorted(self.chain_events.items())),
            "findings": [finding.as_json() for finding in self.findings],
        }

    @classmethod
    def from_change(cls, change: dict[str, Any]) -> AuditVerification:
        findings = tuple(AuditFinding.from_json(item) for item in change.get("findings", []))
        return cls(change["chains"], change["events"], findings, (), dict(change.get("chain_events", {})))


@dataclass(frozen=True)
class RecordedVerification:
    """A verification the catalog recorded: when, by whom, in which Dagster run, and its result."""

    at: datetime
    actor: str
    dagster_run_id: str | None
    result: AuditVerification


@dataclass
class ChainWalker:
    """Checks one chain's events, fed in seq order, against its head; keeps the first breach (later ones follow)."""

    chain: str
    head: ChainHead | None  # None: the chain has events but no head row
    anchor: ChainHead | None = None  # a head recorded earlier (outside the catalog): the chain must still hold it
    seq: int = 0
    hash: str = GENESIS
    last_id: int = 0
    events: int = 0
    finding: AuditFinding | None = field(default=None)
    previous: dict[str, Any] | None = field(default=None, repr=False)

    def feed(self, row: dict[str, Any]) -> None:
        """Check the next event (a dict with id and the hashed columns, plus seq, prev_hash and hash)."""
        self.events += 1
        if self.finding is None:
            self.finding = self._breach(row)
        self.seq, self.hash, self.last_id = row["seq"] or 0, row["hash"] or "", row["id"]
        self.previous = row

    def finish(self) -> AuditFinding | None:
        """The chain's first breach; past the last event, the head must be that event (else its end was cut)."""
        if self.finding is not None:
            return self.finding
        anchor = self.anchor
        if anchor is not None and anchor.seq > self.seq:
            detail = f"the anchor has seq {anchor.seq} ({anchor.hash[:12]}) but the chain ends at seq {self.seq}: cut"
            self.finding = AuditFinding(self.chain, Breach.REWRITTEN, None, anchor.seq, "", "", detail)
            return self.finding
        head = self.head
        if head is None:
            detail = "the chain has no head row: its audit_chains row was deleted"
        elif head.seq > self.seq:
            detail = f"seq {self.seq + 1}..{head.seq} missing after the last event (seq {self.seq}): deleted"
        elif head.hash != self.hash:
            detail = f"the head's hash {head.hash[:12]} is not its last event's {self.hash[:12]}: replaced"
        else:
            return None
        breach = Breach.DELETED if head is not None and head.seq > self.seq else Breach.HEAD
        self.finding = AuditFinding(self.chain, breach, None, head.seq if head else None, "", "", detail)
        return self.finding

    def _breach(self, row: dict[str, Any]) -> AuditFinding | None:
        def found(breach: Breach, detail: str, event: dict[str, Any] = row) -> AuditFinding:
            entity = f"{event['entity_type']}:{event['entity_id']}"
            return AuditFinding(self.chain, breach, event["id"], event["seq"], entity, event["action"], detail)

        seq, prev = row["seq"], row["prev_hash"]
        if seq is None or prev is None or row["hash"] is None:
            return found(Breach.UNLINKED, "the event has no chain link: it was written around the audit writer")
        if seq > self.seq + 1:
            missing = f"seq {self.seq + 1}" if seq == self.seq + 2 else f"seq {self.seq + 1}..{seq - 1}"
            return found(Breach.DELETED, f"{missing} missing before it: deleted")
        if row["id"] <= self.last_id and self.previous is not None:
            detail = f"written (id {self.last_id}) after the event at seq {seq} (id {row['id']}) that follows it"
            return found(Breach.OUT_OF_ORDER, detail, self.previous)
        if self.head is not None and seq > self.head.seq:
            return found(
                Breach.OUT_OF_ORDER, f"past the chain's head (seq {self.head.seq}): appended around the audit writer"
            )
        if prev != self.hash:
            return found(
                Breach.DELETED,
                f"its prev_hash {prev[:12]} is not the hash {self.hash[:12]} of the event before it: "
                "an event before it was deleted or replaced",
            )
        if event_hash(row, prev) != row["hash"]:
            return found(Breach.EDITED, "its content does not hash to its stored hash: the row was edited")
        anchor = self.anchor
        if anchor is not None and seq == anchor.seq and row["hash"] != anchor.hash:
            return found(
                Breach.REWRITTEN,
                f"the anchor recorded hash {anchor.hash[:12]} at this seq, the chain now has {row['hash'][:12]}: "
                "the chain was rewritten from this event or before it",
            )
        return None


@dataclass(frozen=True)
class AuditEntry:
    """One event of a product's audit log: who did what to which entity, when, and the change (with its why)."""

    id: int
    chain: str
    seq: int
    entity_type: str
    entity_id: str
    action: str
    actor: str
    at: datetime
    change: dict[str, Any]
    dagster_run_id: str | None
