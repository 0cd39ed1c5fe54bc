"""``platform-assets reconcile P [--deep] [--repair]``: the catalog and the raw zone checked against each other.

The command runs the Dagster job ``<product>_reconcile`` (the check ``raw_zone_reconciled`` on
``<product>/raw_files``, so the UI shows the result) and prints its report: the count of each finding,
the first findings with key, version, expected and actual, what repair did, and what to do next.
Exit 0 when nothing was found (after ``--repair``: nothing turned LOST and nothing is left unresolved),
else 1, saying which.
"""

from __future__ import annotations

import argparse
import json
import shlex
from typing import Any

from platform_assets.errors import EXIT_FAILED
from platform_assets.versions.reconcile_findings import Finding, FindingKind, Resolution
from platform_assets.versions.reconciliation import ReconcileReport

SHOWN = 20  # findings printed (``--json`` carries up to 100)


def _value(kind: FindingKind, value: int | str | None) -> str:
    if value is None:
        return "nothing" if kind is FindingKind.ORPHAN else "absent"
    return f"{value} bytes" if isinstance(value, int) else f"sha256 {value}"


def finding_line(finding: Finding) -> str:
    """``missing  v1 a.csv: expected 30 bytes, found absent`` (an orphan names its raw key)."""
    where = f"v{finding.version} {finding.key}" if finding.key is not None else finding.raw_key
    line = (
        f"{finding.kind:<17} {where}: expected {_value(finding.kind, finding.expected)}, found "
        f"{_value(finding.kind, finding.actual)}"
    )
    if finding.resolution is not None:
        line += f" -> {finding.resolution.upper()}" + (f": {finding.detail}" if finding.detail else "")
    return line


def next_steps(report: ReconcileReport) -> list[str]:
    """What to do next, commands in backticks."""
    product = report.product
    if not report.repair:
        if report.ok:
            return [] if report.deep else [f"`platform-assets reconcile {product} --deep` also checks every sha256"]
        return [
            f"`platform-assets reconcile {product} --repair` recaptures missing or altered copies the source still "
            f"holds unchanged, marks the others LOST, and moves orphans under {product}/_quarantine/ (nothing is "
            "deleted)"
        ]
    steps = []
    lost = [finding for finding in report.findings if finding.resolution is Resolution.LOST]
    for finding in lost[:3]:
        for number in finding.versions or (finding.version,):
            key = shlex.quote(finding.key or "")
            steps.append(
                f"`platform-assets skip {product} {number} {key} --reason TEXT` gives up the LOST file (or put it "
                f"back at the source and `platform-assets sync {product}`)"
            )
    restored = sorted({f.version for f in report.findings if f.resolution is Resolution.RESTORED and f.version})
    for number in restored[:3]:
        steps.append(
            f"`platform-assets process {product} --version {number} --retry-failed` reprocesses the files of "
            f"v{number} that failed on a bad copy, if any did"
        )
    if report.unresolved:
        steps.append(f"fix what the detail says, then `platform-assets reconcile {product} --repair` again")
    if lost:
        steps.append(f"`platform-assets versions {product}` shows each version's lost files and why")
    return steps


def report_lines(report: ReconcileReport, run_id: str) -> list[str]:
    counts = ", ".join(f"{report.counts.get(kind, 0)} {kind}" for kind in FindingKind)
    depth = "deep (sizes and sha256)" if report.deep else "sizes"
    lines = [
        f"{report.product}: {report.copies_checked} raw copies checked ({depth}), {report.objects_listed} objects "
        f"listed in {report.duration_s:.1f} s: {counts}"
    ]
    lines += [f"  {finding_line(finding)}" for finding in report.findings[:SHOWN]]
    if report.total > SHOWN:
        lines.append(f"  ... {report.total - SHOWN} more (`platform-assets reconcile {report.product} --json`)")
    if report.repair and report.resolutions:
        done = ", ".join(f"{count} {outcome}" for outcome, count in sorted(report.resolutions.items()))
        lines.append(f"repair: {done}")
    if not report.ok:
        why = []
        if report.lost:
            why.append(f"{report.lost} file(s) marked LOST")
        if report.unresolved:
            why.append(f"{report.unresolved} finding(s) " + ("unresolved" if report.repair else "found"))
        lines.append("not clean: " + " and ".join(why))
    lines += [f"next: {step}" for step in next_steps(report)]
    lines.append(f"(Dagster run {run_id}: check raw_zone_reconciled on {report.product}/raw_files)")
    return lines


def cmd_reconcile(args: argparse.Namespace) -> int:
    from platform_assets.commands import Commands

    report, run_id = Commands(args.config, verbose=args.verbose).reconcile(args.product, args.deep, args.repair)
    if args.json:
        payload: dict[str, Any] = {**report.as_json(), "dagster_run": run_id, "next": next_steps(report)}
        print(json.dumps(payload, default=str))
    else:
        print("\n".join(report_lines(report, run_id)))
    return 0 if report.ok else EXIT_FAILED


def add_reconcile_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``reconcile`` to ``commands`` (an argparse subparsers action)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "reconcile",
        parents=[common],
        help="check the catalog against the raw zone (missing, altered and orphan objects); --repair fixes them",
    )
    parser.add_argument("product")
    parser.add_argument("--deep", action="store_true", help="also hash every raw copy against its sha256")
    parser.add_argument(
        "--repair",
        action="store_true",
        help="recapture from the source or mark LOST; move orphans under <product>/_quarantine/",
    )
    parser.set_defaults(handler=cmd_reconcile)
