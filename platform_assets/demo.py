"""`platform-assets demo`: the main job end to end on the embedded default.

Builds sample data for three products (customers: CSV snapshots; orders:
JSON-lines increments; ledger: CSV snapshots under review) under one folder,
syncs, changes the sources, syncs again, and reports what each step did. The
ledger's versions wait for a data owner: the report ends with the commands
that approve the newest one. Everything runs through Dagster against
the demo's own DAGSTER_HOME (with a ``dagster.yaml``: SQLite storage, telemetry
off), so `dagster dev` on it shows the runs. The config and the sample-data
generator ship inside the package (``platform_assets/examples/``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from platform_assets.examples import sample_data

EXAMPLE_CONFIG = Path(__file__).resolve().parent / "examples" / "platform.yaml"
HOME_PLACEHOLDER = "${PLATFORM_HOME:-/tmp/platform_assets_demo}"
DEFAULT_HOME = ".demo"
PRODUCTS = ("customers", "orders", "ledger")
REVIEWED = "ledger"  # under review: its versions wait for a holder of data_owner
APPROVER = "dave"
# The example is production's (sensors stopped); the demo's copy runs them, so a dropped file is merged by itself
AUTOMATION_OFF = "automation: {enabled: false}"
AUTOMATION_ON = "automation: {enabled: true}"
# Dagster's SQLite default, written out: without the file every instance load warns that it is missing
DAGSTER_YAML = """\
# The demo's Dagster instance: runs, events and schedules in SQLite under this folder.
# Queued runs start within a second (Dagster's default waits up to 5 s): a dropped file is merged sooner.
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1
telemetry:
  enabled: false
"""


def prepare_home(home: Path) -> Path:
    """Start ``home`` afresh with a config whose paths point into it and automation on; return the config path."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    config_path = home / "platform.yaml"
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(HOME_PLACEHOLDER, str(home))
    assert AUTOMATION_OFF in text, "the example config names its automation"
    config_path.write_text(text.replace(AUTOMATION_OFF, AUTOMATION_ON), encoding="utf-8")
    return config_path


def run_demo(home: Path | None = None) -> dict[str, Any]:
    """Run the demo in ``home`` (default ./.demo) and return its report; it prints nothing itself."""
    from platform_assets.commands import Commands, run_report

    home = (home or Path(DEFAULT_HOME)).resolve()
    config_path = prepare_home(home)
    dagster_home = home / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    report: dict[str, Any] = {
        "home": str(home),
        "config": str(config_path),
        "dagster_home": os.environ["DAGSTER_HOME"],
        "rounds": [],
    }
    summary = [f"demo in {home} (config {config_path})"]
    for round_number in (1, 2):
        sample_data.write_round(home / "landing", round_number)
        steps = {}
        for product in PRODUCTS:
            commands = Commands(str(config_path))
            outcome = run_report(commands, product, commands.run(product))
            steps[product] = {key: value for key, value in outcome.items() if key != "summary"}
            summary += [f"round {round_number}: {line.strip()}" for line in outcome["summary"]]
            if not outcome["ok"]:
                raise RuntimeError(f"demo step failed for {product}: {outcome['summary']}")
        report["rounds"].append(steps)
    report["awaiting_review"] = awaiting = awaiting_review(str(config_path))
    report["approve_commands"] = commands_to_approve(str(config_path), awaiting)
    report["iceberg_rows"] = iceberg_row_counts(str(config_path))
    for product, per_version in report["iceberg_rows"].items():
        summary.append(
            f"iceberg alpha.{product}: "
            + ", ".join(f"v{version}: {rows} rows" for version, rows in per_version.items())
        )
    if awaiting:
        summary.append(
            f"{REVIEWED}: version(s) {', '.join(str(v) for v in awaiting)} await review by a data owner "
            f"(carol or dave; four-eyes: not who processed them). To see and approve the newest:"
        )
        summary += [f"  {command}" for command in report["approve_commands"]]
    summary.append(f"open the UI: DAGSTER_HOME={os.environ['DAGSTER_HOME']} PLATFORM_CONFIG={config_path} dagster dev")
    report["summary"] = summary
    return report


def iceberg_row_counts(config_path: str) -> dict[str, dict[int, int]]:
    """Rows per version, read back from each product's Iceberg table."""
    from collections import Counter

    from platform_assets.platform import Platform

    platform = Platform.from_path(config_path)
    counts = {}
    for product in platform.config.products:
        tables = platform.services.iceberg
        table = tables.load(tables.data_table(product.name))
        versions = table.scan(selected_fields=("_version",)).to_arrow()["_version"].to_pylist()
        counts[product.name] = dict(sorted(Counter(versions).items()))
    return counts


def awaiting_review(config_path: str) -> list[int]:
    """The versions of the reviewed product that wait for a reviewer."""
    from platform_assets.platform import Platform

    return [item.version for item in Platform.from_path(config_path).review_queue(REVIEWED)]


def commands_to_approve(config_path: str, awaiting: list[int]) -> list[str]:
    """The commands that show the queue and approve the newest waiting version (older ones are superseded)."""
    if not awaiting:
        return []
    home = f"DAGSTER_HOME={os.environ['DAGSTER_HOME']}"
    return [
        f"`platform-assets review {REVIEWED} --config {config_path}` (with {home})",
        f"`platform-assets approve {REVIEWED} {awaiting[-1]} --notes checked --config {config_path}` "
        f"(with {home} PLATFORM_ACTOR={APPROVER})",
    ]
