"""What ``audit verify`` and ``audit log`` say: the chains' verification and a product's log, as text and JSON.

Contract:
- :func:`verification_json` / :func:`verification_text`: intact or not, chains
  and events checked, each broken chain's first bad event (id, seq, entity,
  action, how it broke) and the chain heads (the anchor a reader may keep
  elsewhere to notice a rewritten chain later).
- :func:`read_anchor`: the chain heads of an earlier ``audit verify --json``
  output kept elsewhere (its ``heads``), for ``audit verify --anchor FILE``.
- :func:`parse_since`: an ISO date (``2026-01-31``) or date and time
  (``2026-01-31T12:00``, with or without an offset; without one it is UTC).
- :func:`product_chains`: what a verification says about one product: its
  chain and the platform's (events checked, first bad event of each).
- :func:`log_entry_json` / :func:`log_text`: who did what to which entity,
  when, why (the change's ``reason`` or ``notes``), newest last.
No Dagster, no SQL: the records come from the catalog service.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from platform_assets.catalog.audit_chain import PLATFORM_CHAIN, AuditEntry, AuditFinding, AuditVerification, ChainHead
from platform_assets.errors import EXIT_USAGE, UserError

WHY_KEYS = ("reason", "notes", "decision_notes")
"""Keys of an event's change that say why it was made, in the order they are looked up."""


class BadSince(UserError):
    """--since is neither an ISO date nor an ISO date and time."""

    exit_code = EXIT_USAGE


class BadAnchor(UserError):
    """--anchor names no readable output of ``audit verify --json``."""

    exit_code = EXIT_USAGE


def read_anchor(path: str) -> list[ChainHead]:
    """The ``heads`` of the ``audit verify --json`` output saved at ``path``."""
    try:
        heads = json.loads(Path(path).read_text(encoding="utf-8"))["heads"]
        return [ChainHead(str(head["chain"]), int(head["seq"]), str(head["hash"])) for head in heads]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BadAnchor(
            f"--anchor {path}: not the output of `platform-assets audit verify --json` ({error}); "
            "save that output when the trail verifies intact and pass the file"
        ) from None


def parse_since(text: str) -> datetime:
    """``text`` as an aware UTC datetime (see the module's contract); BadSince names the forms it takes."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise BadSince(
                f"--since {text!r} is not an ISO date or time: give e.g. 2026-01-31, 2026-01-31T12:00 "
                "or 2026-01-31T12:00+02:00"
            ) from None
        parsed = datetime(day.year, day.month, day.day)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def why(entry: AuditEntry) -> str | None:
    """The reason or notes the change carries, if any."""
    for key in WHY_KEYS:
        value = entry.change.get(key)
        if value:
            return str(value)
    return None


def finding_text(finding: AuditFinding) -> str:
    """One line naming the chain's first bad event and how it broke."""
    where = f"seq {finding.seq}" if finding.seq is not None else "its head"
    event = f"event id {finding.event_id} ({finding.entity} {finding.action})" if finding.event_id else "no event"
    return f"{finding.chain}: {finding.breach.value} at {where}, {event}: {finding.detail}"


def verification_json(result: AuditVerification) -> dict[str, Any]:
    return {
        "intact": result.intact,
        "chains": result.chains,
        "events": result.events,
        "findings": [finding.as_json() for finding in result.findings],
        "chain_events": dict(sorted(result.chain_events.items())),
        "heads": [{"chain": head.chain, "seq": head.seq, "hash": head.hash} for head in result.heads],
    }


def verification_text(result: AuditVerification) -> str:
    """A summary line, then one line per broken chain."""
    if result.intact:
        return f"audit trail intact: {result.chains} chain(s), {result.events} event(s) checked"
    lines = [
        f"audit trail BROKEN: {len(result.findings)} of {result.chains} chain(s) broken, "
        f"{result.events} event(s) checked; the first bad event of each:"
    ]
    lines += [f"  {finding_text(finding)}" for finding in result.findings]
    lines.append(
        "  The rows were changed outside the platform: compare them with a backup of the catalog "
        "and find who had write access to it."
    )
    return "\n".join(lines)


def log_entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "entity_type": entry.entity_type,
        "entity_id": entry.entity_id,
        "why": why(entry),
        "change": entry.change,
        "dagster_run_id": entry.dagster_run_id,
    }


def log_text(product: str, entries: list[AuditEntry]) -> str:
    """One line per event, newest last: when, who, what on which entity, and why."""
    lines = [f"{product}: {len(entries)} audit event(s)"]
    for entry in entries:
        reason = why(entry)
        entity = entry.entity_id.removeprefix(product + "/") if entry.entity_id != product else product
        line = f"  {entry.at.strftime('%Y-%m-%d %H:%M:%S')}Z  {entry.actor:<12} {entry.action:<16} {entity}"
        if reason:
            line += f"  — {reason}"
        if entry.dagster_run_id:
            line += f"  (run {entry.dagster_run_id[:8]})"
        lines.append(line)
    return "\n".join(lines)


@dataclass(frozen=True)
class ProductChains:
    """A verification seen from one product: its chain and the platform chain."""

    product: str
    events: int
    findings: tuple[AuditFinding, ...]

    @property
    def intact(self) -> bool:
        return not self.findings


def product_chains(result: AuditVerification, product: str) -> ProductChains:
    chains = (product, PLATFORM_CHAIN)
    return ProductChains(
        product,
        sum(result.chain_events.get(chain, 0) for chain in chains),
        tuple(finding for finding in result.findings if finding.chain in chains),
    )
