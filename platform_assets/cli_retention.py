"""The soft delete and retention commands of ``platform-assets``: delete-version, restore-version, retention.

Each prints one line per fact (or one JSON object with ``--json``); a refusal (published, in flight,
deleted or purged already) exits 1 saying why and what to do, and changes nothing. ``retention`` is a dry
run unless ``--apply`` is given.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from platform_assets.versions.deletion import delete_version, restore_version
from platform_assets.versions.purge import RetentionReport, run_retention

if TYPE_CHECKING:
    from platform_assets.platform import Platform


def _platform(args: argparse.Namespace) -> Platform:
    """The platform of ``--config`` (else $PLATFORM_CONFIG); these commands materialize nothing, so no Dagster."""
    from platform_assets.platform import Platform

    return Platform.from_path(args.config)


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    print(json.dumps(payload, default=str) if args.json else text)


def cmd_delete_version(args: argparse.Namespace) -> int:
    platform = _platform(args)
    result = delete_version(platform.services, platform.product(args.product), args.version, args.reason)
    text = (
        f"{args.product} v{args.version} deleted by {result.actor} (was {result.previous_status}): {args.reason}; "
        f"`platform-assets restore-version {args.product} {args.version}` brings it back until retention purges it"
    )
    _emit(args, result.as_json(), text)
    return 0


def cmd_restore_version(args: argparse.Namespace) -> int:
    platform = _platform(args)
    result = restore_version(platform.services, platform.product(args.product), args.version)
    lines = [f"{args.product} v{args.version} restored by {result.actor}: {result.status} again"]
    if result.excluded_reason:
        lines.append(f"  excluded from the merge order: {result.excluded_reason}")
    _emit(args, result.as_json(), "\n".join(lines))
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    platform = _platform(args)
    report = run_retention(platform.services, platform.product(args.product), apply=args.apply)
    _emit(args, report.as_json(), "\n".join(retention_lines(report)))
    return 0


def retention_lines(report: RetentionReport) -> list[str]:
    """What a retention run says: the rules, each version it purges (or would) and why, and why others stay."""
    plan, name = report.plan, report.plan.product
    rules = plan.settings
    head = (
        f"{name}: retention keep_last={rules.keep_last}, unpublished_days={rules.unpublished_days}, "
        f"deleted_days={rules.deleted_days}"
    )
    lines = [head + ("" if report.applied else " (dry run)")]
    purged = {item.version: item for item in report.purged}
    for candidate in plan.candidates:
        done = purged.get(candidate.version)
        if done is None:
            verb = "not purged (published or in flight meanwhile)" if report.applied else "would purge"
            lines.append(f"  {verb} v{candidate.version}: {candidate.reason}")
        else:
            lines.append(
                f"  purged v{candidate.version}: {candidate.reason}; {done.raw_copies_deleted} raw copies deleted "
                f"({done.raw_copies_shared} shared, kept), {done.rows_deleted} rows and {done.rejected_rows_deleted} "
                "rejected rows deleted"
            )
    lines += [f"  keeps v{item.version}: {item.reason}" for item in plan.kept]
    if report.applied and (report.snapshots_expired or report.data_files_deleted):
        lines.append(
            f"  {report.snapshots_expired} snapshots expired; {report.data_files_deleted} Parquet files of purged "
            "versions deleted (none a retained snapshot reads)"
        )
    if plan.purged_before:
        lines.append("  purged before: " + ", ".join(f"v{number}" for number in plan.purged_before))
    if not plan.candidates:
        lines.append("  nothing to purge")
    elif not report.applied:
        lines.append(f"  `platform-assets retention {name} --apply` purges them")
    return lines


def add_retention_commands(commands: Any, common: argparse.ArgumentParser, version_number: Any) -> None:
    """Add delete-version, restore-version and retention to ``commands`` (an argparse subparsers action)."""
    delete = commands.add_parser(
        "delete-version", parents=[common], help="soft-delete a version (restorable until retention purges it)"
    )
    delete.add_argument("product")
    delete.add_argument("version", type=version_number)
    delete.add_argument("--reason", required=True)
    delete.set_defaults(handler=cmd_delete_version)
    restore = commands.add_parser(
        "restore-version", parents=[common], help="give a deleted version back the status it had"
    )
    restore.add_argument("product")
    restore.add_argument("version", type=version_number)
    restore.set_defaults(handler=cmd_restore_version)
    retention = commands.add_parser(
        "retention",
        parents=[common],
        help="list the versions retention would purge (a dry run); with --apply purge their raw copies and rows",
    )
    retention.add_argument("product")
    retention.add_argument("--apply", action="store_true", help="purge (raw copies, Iceberg partitions); rows stay")
    retention.set_defaults(handler=cmd_retention)
