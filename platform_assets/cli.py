"""The ``platform-assets`` command.

Every command that materializes assets does it through Dagster, against the
instance in $DAGSTER_HOME (default ``./.dagster_home``), so the UI shows it.
``--json`` prints exactly one JSON object on stdout; messages go to stderr.
Exit codes: 0 done, 1 failed (the message says why), 2 usage or config error,
3 nothing to do where something was asked for (e.g. nothing to process).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from platform_assets.errors import EXIT_FAILED, ConfigError, PlatformError
from platform_assets.secrets import scrubbed_output

EXIT_BROKEN_PIPE = 141  # what a shell reports for a command ended by SIGPIPE (128 + 13)

if TYPE_CHECKING:
    from platform_assets.commands import Commands

MIN_VERSION = 1
MAX_VERSION = 2**31 - 1  # versions and batches are 32-bit integers in every store


def _commands(args: argparse.Namespace) -> Commands:
    from platform_assets.commands import Commands

    return Commands(args.config, verbose=args.verbose)


def _emit(args: argparse.Namespace, payload: dict[str, Any], text: str) -> None:
    if args.json:
        print(json.dumps(payload, default=str))
    else:
        print(text)


def _say(message: str) -> None:
    print(message, file=sys.stderr)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from platform_assets.catalog.migrate import current_revision, upgrade
    from platform_assets.config import load_config, mask_url
    from platform_assets.storage.sql import shared_engine

    config = load_config(args.config)
    engine = shared_engine(config.platform.state_db)
    before = current_revision(engine)
    after = upgrade(engine)
    payload = {"state_db": mask_url(config.platform.state_db), "from_revision": before, "revision": after}
    _emit(args, payload, f"catalog {payload['state_db']}: {before or 'empty'} -> {after}")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    outcome = _commands(args).sync(args.product)
    if outcome.registered is None and not outcome.captures:
        payload = {
            "product": args.product,
            "version": None,
            "reason": "the source has not changed since the last version",
        }
        _emit(args, payload, f"{args.product}: the source has not changed; no new version")
        return 0
    payload = {
        "product": args.product,
        "version": outcome.registered.number if outcome.registered else None,
        "registered": outcome.registered.as_json() if outcome.registered else None,
        "captures": [capture.as_json() for capture in outcome.captures],
        "dagster_runs": outcome.run_ids,
    }
    lines = []
    if outcome.registered:
        reg = outcome.registered
        lines.append(
            f"{args.product}: version {reg.number} ({reg.mode}): {reg.files} files, {reg.bytes} bytes; {reg.new} "
            f"new, {reg.changed} changed, {reg.removed} removed"
        )
        if reg.superseded:
            stale = ", ".join(f"v{number}" for number in reg.superseded)
            lines.append(f"  supersedes {stale}: the source changed under its capture")
    for capture in outcome.captures:
        lines.append(
            f"  captured v{capture.version}: {capture.status}, {capture.copied_now} copied, {len(capture.failed)} "
            "failed"
        )
    _emit(args, payload, "\n".join(lines))
    failed = [capture for capture in outcome.captures if capture.failed]
    return EXIT_FAILED if failed else 0


def cmd_process(args: argparse.Namespace) -> int:
    from platform_assets.ingest.leases import held_advice

    outcome = _commands(args).process(args.product, args.version, retry_failed=args.retry_failed)
    if outcome.error is not None:
        raise outcome.error
    report = outcome.report
    assert report is not None, "a process run without an error reports its result"
    if report.unchanged:  # asked for by number: the user learns it is decided and was not reprocessed
        from platform_assets.catalog.errors import VersionNotReady

        raise VersionNotReady(report.note)
    payload = {
        "product": args.product,
        "version": outcome.version,
        "status": report.version_status,
        "rows": report.version_rows,
        "files": report.file_counts,
        "failures": report.version_failures,
        "held_by": [holder.as_json() for holder in report.held_by],
        "dagster_run": outcome.run_id,
    }
    lines = [
        f"{args.product} v{outcome.version}: {report.version_status}; {report.version_rows} rows; files "
        + ", ".join(f"{k.lower()}={v}" for k, v in sorted(report.file_counts.items()))
    ]
    lines += [f"  FAILED {key}: {message}" for key, message in sorted(report.version_failures.items())]
    lines += [f"  {line}" for line in held_advice(args.product, outcome.version, report.held_by)]
    if report.version_failures and not report.held_by:
        lines.append(
            f"  fix or `platform-assets skip {args.product} {outcome.version} KEY --reason TEXT`, then "
            f"`platform-assets process {args.product} --version {outcome.version} --retry-failed`"
        )
    _emit(args, payload, "\n".join(lines))
    return 0 if report.succeeded else EXIT_FAILED


def cmd_merge(args: argparse.Namespace) -> int:
    from platform_assets.commands import batch_line

    outcome = _commands(args).merge(args.product, args.version)
    batches = [
        {
            "batch": e.batch,
            "status": e.status,
            "inserted": e.inserted,
            "updated": e.updated,
            "deleted": e.deleted,
            "live_count": e.live_count,
        }
        for e in outcome.merged
    ]
    error = str(outcome.error) if outcome.error else None
    payload = {
        "product": args.product,
        "batches": batches,
        "live_rows": outcome.live_rows,
        "table_rows": outcome.table_rows,
        "already_merged": outcome.already_merged,
        "error": error,
        "kind": outcome.error.kind if outcome.error else None,
    }
    lines = [f"{args.product}: {batch_line(entry)}" for entry in outcome.merged]
    lines += [f"{args.product}: batch {n} was merged already, by another command" for n in outcome.already_merged]
    if not batches and not error and not outcome.already_merged:
        lines.append(f"{args.product}: nothing to merge")
    lines.append(f"{args.product}_merge: {outcome.live_rows} live rows, {outcome.table_rows} rows with history")
    if error:
        lines.append(f"merge failed: {error}")
    _emit(args, payload, "\n".join(lines))
    return outcome.error.exit_code if outcome.error else 0


def cmd_exclude(args: argparse.Namespace) -> int:
    _commands(args).platform.exclude(args.product, args.version, args.reason)
    payload = {"product": args.product, "version": args.version, "excluded": True, "reason": args.reason}
    _emit(args, payload, f"{args.product} v{args.version} excluded from the merge order: {args.reason}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from platform_assets.commands import run_report

    commands = _commands(args)
    report = run_report(commands, args.product, commands.run(args.product))
    _emit(args, report, "\n".join(report["summary"]))
    return 0 if report["ok"] else EXIT_FAILED


def cmd_replicate(args: argparse.Namespace) -> int:
    result = _commands(args).replicate(args.product, args.to_batch)
    start = "-" if result.from_batch is None else result.from_batch
    lines = [
        f"{args.product}: {result.mode} from {result.primary}, batch {start} -> {result.to_batch}: "
        f"+{result.inserted} ~{result.updated} -{result.deleted} in {result.duration_s:.1f} s; "
        f"{result.lag_batches} batch(es) behind {result.primary} (latest {result.primary_latest})"
    ]
    if result.reseed_reason:
        lines.append(f"  reseeded: {result.reseed_reason}")
    lines += [f"  primary {name} skipped: {reason}" for name, reason in result.skipped_primaries.items()]
    _emit(args, result.as_json(), "\n".join(lines))
    return 0


def cmd_skip(args: argparse.Namespace) -> int:
    previous = _commands(args).platform.skip(args.product, args.version, args.key, args.reason)
    payload = {
        "product": args.product,
        "version": args.version,
        "key": args.key,
        "previous_status": previous,
        "status": "SKIPPED",
        "reason": args.reason,
    }
    _emit(args, payload, f"{args.product} v{args.version}: {args.key} skipped (was {previous}): {args.reason}")
    return 0


def cmd_versions(args: argparse.Namespace) -> int:
    platform = _commands(args).platform
    versions = platform.catalog.version_summaries(platform.product(args.product).name)
    payload = {"product": args.product, "versions": [version.as_json() for version in versions]}
    lines = [f"{'version':>7}  {'status':<14} {'mode':<11} {'files':>6} {'bytes':>10}  new/chg/del  file statuses"]
    for version in versions:
        statuses = ", ".join(f"{name.lower()}={count}" for name, count in sorted(version.file_statuses.items()))
        excluded = "  (excluded)" if version.excluded else ""
        reason = f"  ({version.status_reason})" if version.status_reason else ""
        if version.deleted_at is not None:
            reason += f"  (deleted by {version.deleted_by}: {version.delete_reason})"
        if version.purged_at is not None:
            reason += f"  (purged by {version.purged_by}, {version.purge_rule})"
        lines.append(
            f"{version.number:>7}  {version.status:<14} {version.mode:<11} {version.files:>6} {version.bytes:>10}  "
            f"{version.new}/{version.changed}/{version.removed}  {statuses}{excluded}{reason}"
        )
    _emit(args, payload, "\n".join(lines))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from platform_assets.demo import run_demo

    report = run_demo(Path(args.home) if args.home else None)
    _emit(args, report, "\n".join(report["summary"]))
    return 0


def version_number(text: str) -> int:
    """A version (or batch) number from the command line: a whole number from 1 to 2^31-1."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not MIN_VERSION <= number <= MAX_VERSION:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version: give a whole number from 1 to {MAX_VERSION}")
    return number


class UsageError(ConfigError):
    """The command line is wrong: an unknown option, a missing argument, a value out of range."""

    def __init__(self, message: str, prog: str, usage: str) -> None:
        super().__init__(message)
        self.prog = prog
        self.usage = usage


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is raised as :class:`UsageError` (``main`` reports it like any other)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.prog, self.format_usage().rstrip())


def _global_options(parser: argparse.ArgumentParser, *, before_command: bool) -> None:
    """--config, --json, --verbose and --progress, taken before the command and after it.

    After the command they have no default, so the command's parser does not
    reset what was given before it.
    """
    unset: dict[str, Any] = {} if before_command else {"default": argparse.SUPPRESS}
    parser.add_argument("--config", help="platform.yaml (default: $PLATFORM_CONFIG)", **unset)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout", **unset)
    parser.add_argument(
        "--verbose", action="store_true", help="show Dagster's logs and a failure's stack trace on stderr", **unset
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="show progress lines on stderr even when it is not a terminal (a terminal always shows bars)",
        **unset,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="platform-assets", description=__doc__.split("\n\n")[0])
    _global_options(parser, before_command=True)
    common = _Parser(add_help=False)
    _global_options(common, before_command=False)
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser("demo", parents=[common], help="run the main job end to end on the embedded default")
    demo.add_argument("--home", help="folder for the demo's data (default: ./.demo)")
    demo.set_defaults(handler=cmd_demo)

    sync = commands.add_parser("sync", parents=[common], help="discover + capture a new version if the source changed")
    sync.add_argument("product")
    sync.set_defaults(handler=cmd_sync)

    process = commands.add_parser(
        "process", parents=[common], help="parse a version into Iceberg (default: the newest captured, unprocessed one)"
    )
    process.add_argument("product")
    process.add_argument(
        "--version", type=version_number, help="the version; processing a processed one again replaces its rows"
    )
    process.add_argument("--retry-failed", action="store_true", help="reprocess only the version's failed files")
    process.set_defaults(handler=cmd_process)

    merge = commands.add_parser(
        "merge", parents=[common], help="merge processed versions into the merge table, in order"
    )
    merge.add_argument("product")
    merge.add_argument("--version", type=version_number, help="merge up to this version")
    merge.set_defaults(handler=cmd_merge)

    exclude = commands.add_parser(
        "exclude", parents=[common], help="take a bad version out of the merge order (audited)"
    )
    exclude.add_argument("product")
    exclude.add_argument("version", type=version_number)
    exclude.add_argument("--reason", required=True)
    exclude.set_defaults(handler=cmd_exclude)

    run = commands.add_parser("run", parents=[common], help="sync + process + merge")
    run.add_argument("product")
    run.set_defaults(handler=cmd_run)

    replicate = commands.add_parser(
        "replicate", parents=[common], help="sync a replicated product from a primary platform's merge table"
    )
    replicate.add_argument("product")
    replicate.add_argument(
        "--to-batch",
        type=version_number,
        help=(
            "the primary batch to sync to (default: its latest committed, at most replication.max_batches_per_sync "
            "past the last synced)"
        ),
    )
    replicate.set_defaults(handler=cmd_replicate)

    skip = commands.add_parser("skip", parents=[common], help="give up on one file of a version (audited)")
    skip.add_argument("product")
    skip.add_argument("version", type=version_number)
    skip.add_argument("key")
    skip.add_argument("--reason", required=True)
    skip.set_defaults(handler=cmd_skip)

    versions = commands.add_parser("versions", parents=[common], help="versions with their statuses")
    versions.add_argument("product")
    versions.set_defaults(handler=cmd_versions)

    from platform_assets.cli_review import add_review_commands

    add_review_commands(commands, common)
    from platform_assets.cli_schema import add_schema_command

    add_schema_command(commands, common)

    from platform_assets.cli_audit import add_audit_commands

    add_audit_commands(commands, common)
    from platform_assets.cli_diff import add_diff_commands

    add_diff_commands(commands, common)

    from platform_assets.cli_reconcile import add_reconcile_command

    add_reconcile_command(commands, common)

    from platform_assets.cli_retention import add_retention_commands

    add_retention_commands(commands, common, version_number)

    db = commands.add_parser("db", help="state catalog administration")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", parents=[common], help="apply catalog migrations")
    upgrade.set_defaults(handler=cmd_db_upgrade)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; a PlatformError ends it with its exit code and one message, anything else is a bug.

    Everything the command prints or logs is scrubbed of the config's secrets
    (:func:`platform_assets.secrets.scrubbed_output`), a bug's traceback included.
    A usage error (the command line itself) is reported like a PlatformError, exit 2.
    With ``--verbose`` a PlatformError's stack trace follows its message on stderr.
    A reader that closes stdout early (``| head``) ends the command quietly, exit 141.
    """
    argv = sys.argv[1:] if argv is None else argv
    try:
        with scrubbed_output():  # no secret of the config leaves through stdout, stderr or a log handler
            return _run(argv)
    except BrokenPipeError:
        # The reader of stdout went away (`| head`): stop quietly, as a command killed by SIGPIPE does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _run(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as error:
        _say(error.usage)
        return _report(error, error.prog, json_out="--json" in argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    from platform_assets.cli_progress import shown

    try:
        with shown(args.progress):
            return handler(args)
    except BrokenPipeError:
        raise
    except PlatformError as error:
        if args.verbose:
            traceback.print_exc()
        return _report(error, f"platform-assets {args.command}", json_out=args.json)
    except Exception:
        traceback.print_exc()  # a bug: its traceback, scrubbed like everything else
        return EXIT_FAILED


def _report(error: PlatformError, prog: str, *, json_out: bool) -> int:
    if json_out:
        print(json.dumps({"error": str(error), "kind": error.kind}, default=str))
    _say(f"{prog}: {error}")
    return error.exit_code


if __name__ == "__main__":
    sys.exit(main())
