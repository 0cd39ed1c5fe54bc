"""The audit trail commands of ``platform-assets``: ``audit verify`` and ``audit log``.

``audit verify`` walks every hash chain of the catalog's audit events and exits 1
when one is broken, naming each broken chain's first edited, deleted or
out-of-order event; ``audit log P`` prints who did what, when and why, newest
last. Both read the catalog only (no Dagster run); ``--json`` prints one object.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from platform_assets.errors import EXIT_FAILED
from platform_assets.versions import audit_trail


def _catalog(args: argparse.Namespace) -> Any:
    from platform_assets.commands import Commands

    return Commands(args.config).platform.catalog


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, default=str) if args.json else text)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    anchor = audit_trail.read_anchor(args.anchor) if args.anchor else []
    result = _catalog(args).verify_audit(anchor=anchor)
    _emit(args, audit_trail.verification_json(result), audit_trail.verification_text(result))
    return 0 if result.intact else EXIT_FAILED


def cmd_audit_log(args: argparse.Namespace) -> int:
    since = audit_trail.parse_since(args.since) if args.since else None
    entries = _catalog(args).audit_log(args.product, args.version, args.file, since)
    payload = {"product": args.product, "events": [audit_trail.log_entry_json(entry) for entry in entries]}
    _emit(args, payload, audit_trail.log_text(args.product, entries))
    return 0


def add_audit_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``audit verify`` and ``audit log`` to ``commands`` (an argparse subparsers action)."""
    audit = commands.add_parser("audit", help="the tamper-evident audit trail: verify its chains, read a product's log")
    audit_commands = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_commands.add_parser(
        "verify", parents=[common], help="walk the audit chains; exit 1 naming the first edited/deleted/inserted event"
    )
    verify.add_argument(
        "--anchor",
        metavar="FILE",
        help="an earlier `audit verify --json` output kept outside the catalog: each chain must still hold its heads",
    )
    verify.set_defaults(handler=cmd_audit_verify)
    log = audit_commands.add_parser("log", parents=[common], help="who did what, when and why on a product")
    log.add_argument("product")
    log.add_argument("--version", type=int, help="only this version's events (the version's and its files')")
    log.add_argument("--file", help="only the events of this source key (in any version, or in --version)")
    log.add_argument("--since", help="only events at or after this ISO date or time (UTC unless it has an offset)")
    log.set_defaults(handler=cmd_audit_log)
