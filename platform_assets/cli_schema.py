"""The ``platform-assets schema PRODUCT [--history]`` command: the product's current schema, and how it got there.

It prints the catalog's newest schema version (columns and types in order,
key, ``schema.evolution`` and ``widen_types``, the version that introduced
it, and where each column came from); ``--history`` adds every schema version
with its change (``versions/schema_report.py``). ``--json`` prints one object.
A product none of whose versions was processed yet has no schema version:
exit 3 with what to run.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def cmd_schema(args: argparse.Namespace) -> int:
    from platform_assets.commands import Commands
    from platform_assets.versions.schema_report import schema_report

    platform = Commands(args.config).platform
    report = schema_report(platform.catalog, platform.product(args.product))
    if args.json:
        print(json.dumps(report.as_json(args.history), default=str))
    else:
        print("\n".join(report.lines(args.history)))
    return 0


def add_schema_command(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``schema`` subcommand to ``commands`` (an argparse subparsers action)."""
    schema = commands.add_parser(
        "schema", parents=[common], help="the product's current schema (columns, types, key, schema version)"
    )
    schema.add_argument("product")
    schema.add_argument("--history", action="store_true", help="every schema version, with what changed")
    schema.set_defaults(handler=cmd_schema)
