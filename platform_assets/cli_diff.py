"""The provenance commands of ``platform-assets``: ``diff P A B`` (version diff) and ``trace P KEY...``.

``diff`` prints the files, rows and schema that differ from version A to B
(``versions/diff.py``: counts, then a sample of up to 20 keys of each kind
with the changed columns' old and new values). ``trace`` prints every
milestone of one primary key in the merge table with where its values came
from (``versions/trace.py``). ``--json`` prints one object; a version or key
that cannot be used exits 1 naming it and what to do.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_diff(args: argparse.Namespace) -> int:
    from platform_assets.commands import Commands
    from platform_assets.versions.diff import diff_lines, version_diff

    platform = Commands(args.config).platform
    diff = version_diff(platform.services, platform.product(args.product), args.old, args.new)
    print(json.dumps(diff.as_json(), default=str) if args.json else "\n".join(diff_lines(diff)))
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from platform_assets.commands import Commands
    from platform_assets.versions.trace import trace_key, trace_lines

    platform = Commands(args.config).platform
    trace = trace_key(platform.services, platform.product(args.product), args.key)
    print(json.dumps(trace.as_json(), default=str) if args.json else "\n".join(trace_lines(trace)))
    return 0


def add_diff_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``diff`` and ``trace`` subcommands to ``commands`` (an argparse subparsers action)."""
    diff = commands.add_parser(
        "diff", parents=[common], help="files, rows (by primary key) and schema that differ between two versions"
    )
    diff.add_argument("product")
    diff.add_argument("old", type=int, metavar="A")
    diff.add_argument("new", type=int, metavar="B")
    diff.set_defaults(handler=cmd_diff)

    trace = commands.add_parser(
        "trace", parents=[common], help="provenance of one row: each milestone of a key and the file line it came from"
    )
    trace.add_argument("product")
    trace.add_argument("key", nargs="+", metavar="KEY", help="the primary key's values, in the key's column order")
    trace.set_defaults(handler=cmd_trace)
