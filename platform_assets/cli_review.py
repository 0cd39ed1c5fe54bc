"""The review and publication commands of ``platform-assets``: review, approve, reject, reject-file, publish, metrics.

Each prints one line per fact (or one JSON object with ``--json``); a refusal
(``versions/review.py``: role, four-eyes, state, order) exits 1 naming the rule
and who may act, and changes nothing.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from platform_assets.errors import EXIT_FAILED

if TYPE_CHECKING:
    from platform_assets.commands import Commands, MergeOutcome, ReviewOutcome


def _commands(args: argparse.Namespace) -> Commands:
    from platform_assets.commands import Commands

    return Commands(args.config)


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, default=str) if args.json else text)


def _merged_json(merged: MergeOutcome | None) -> dict[str, Any] | None:
    if merged is None:
        return None
    return {
        "batches": [entry.batch for entry in merged.merged],
        "live_rows": merged.live_rows,
        "error": str(merged.error) if merged.error else None,
    }


def _follow_up(args: argparse.Namespace, outcome: ReviewOutcome, lines: list[str]) -> int:
    decision = outcome.decision
    payload: dict[str, Any] = {**decision.as_json(), "processed": None, "merged": _merged_json(outcome.merged)}
    if decision.child is not None:
        lines.append(
            f"  child version {decision.child} carries {decision.carried_files} file(s) of v{decision.version}"
        )
    if decision.superseded:
        lines.append("  superseded: " + ", ".join(f"v{number}" for number in decision.superseded))
    processed = outcome.processed
    if processed is not None:
        status = processed.report.version_status if processed.report else None
        payload["processed"] = {"version": processed.version, "status": status, "error": str(processed.error or "")}
        lines.append(f"  processed v{processed.version}: {status or processed.error}")
    merged = outcome.merged
    if merged is not None:
        lines += [f"  merged batch {entry.batch}: {entry.status}, {entry.live_count} live" for entry in merged.merged]
        if merged.error:
            lines.append(f"  merge stopped: {merged.error}")
    _emit(args, payload, "\n".join(lines))
    return EXIT_FAILED if merged is None or merged.error is not None else 0


def cmd_approve(args: argparse.Namespace) -> int:
    outcome = _commands(args).approve(args.product, args.version, args.notes)
    lines = [f"{args.product} v{args.version} approved by {outcome.decision.actor}: {outcome.decision.status}"]
    return _follow_up(args, outcome, lines)


def cmd_publish(args: argparse.Namespace) -> int:
    outcome = _commands(args).publish(args.product, args.version, args.notes)
    lines = [f"{args.product} v{args.version} re-published by {outcome.decision.actor} as a new version"]
    return _follow_up(args, outcome, lines)


def cmd_reject(args: argparse.Namespace) -> int:
    result = _commands(args).platform.reject(args.product, args.version, args.reason)
    _emit(args, result.as_json(), f"{args.product} v{args.version} rejected by {result.actor}: {args.reason}")
    return 0


def cmd_reject_file(args: argparse.Namespace) -> int:
    result = _commands(args).platform.reject_file(args.product, args.version, args.key, args.reason)
    payload = {**result.as_json(), "key": args.key}
    _emit(
        args,
        payload,
        f"{args.product} v{args.version}: {args.key} rejected by {result.actor}: {args.reason}; approving "
        f"v{args.version} publishes a new version without it",
    )
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from platform_assets.versions.diff import diff_lines

    queue = _commands(args).platform.review_queue(args.product)
    payload = {"product": args.product, "awaiting": [item.as_json() for item in queue]}
    lines = [f"{args.product}: {len(queue)} version(s) awaiting review"]
    for item in queue:
        lines.append(f"  v{item.version}: schema " + ("; ".join(item.schema_change) or "unchanged"))
        lines.append(
            f"    {item.files} files, {item.rows} rows ({item.rows_change:+d} vs published "
            f"{item.published_version or '-'}); files +{len(item.files_added)} ~{len(item.files_changed)} "
            f"-{len(item.files_removed)}; waiting {item.waiting_hours:.1f} h"
        )
        lines += [f"    rejected {key}: {reason}" for key, reason in item.rejected_files.items()]
        if item.diff is not None:
            lines += ["    " + line for line in diff_lines(item.diff)]
        elif item.diff_error is not None:
            lines.append(f"    no diff: {item.diff_error}")
        lines.append(f"    `platform-assets approve {args.product} {item.version} --notes TEXT`")
    _emit(args, payload, "\n".join(lines))
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    metrics = _commands(args).platform.review_metrics(args.product)

    def hours(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f} h"

    text = (
        f"{args.product}: {metrics.created} created, {metrics.approved} approved, {metrics.rejected} rejected, "
        f"{metrics.superseded} superseded; published v{metrics.published_version or '-'}\n"
        f"  time to approve: median {hours(metrics.approve_hours_median)}, p90 {hours(metrics.approve_hours_p90)}, "
        f"max {hours(metrics.approve_hours_max)}\n"
        f"  waiting now: {metrics.waiting_now} (longest {hours(metrics.waiting_longest_hours)})"
    )
    _emit(args, metrics.as_json(), text)
    return 0


def add_review_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the review and publication subcommands to ``commands`` (an argparse subparsers action)."""

    def add(name: str, handler: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, parents=[common], help=help_text)
        parser.add_argument("product")
        parser.set_defaults(handler=handler)
        return parser

    add("review", cmd_review, "versions awaiting review, with their changes against the published version")
    approve = add("approve", cmd_approve, "approve a version awaiting review (then it merges and is published)")
    approve.add_argument("version", type=int)
    approve.add_argument("--notes")
    reject = add("reject", cmd_reject, "reject a version awaiting review (out of the merge order)")
    reject.add_argument("version", type=int)
    reject.add_argument("--reason", required=True)
    reject_file = add("reject-file", cmd_reject_file, "reject one file of a version awaiting review")
    reject_file.add_argument("version", type=int)
    reject_file.add_argument("key")
    reject_file.add_argument("--reason", required=True)
    publish = add("publish", cmd_publish, "re-publish an earlier published version (snapshot mode: a rollback)")
    publish.add_argument("--version", type=int, required=True)
    publish.add_argument("--notes")
    add("metrics", cmd_metrics, "review metrics: versions created/approved/rejected/superseded, time to approve")
