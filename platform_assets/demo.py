"""`platform-assets demo`: the main job end to end on the embedded default.

Builds sample data for two products (customers: CSV snapshots; orders:
JSON-lines increments) under one folder, syncs, changes the sources, syncs
again, and reports what each step did. Everything runs through Dagster against
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
        for product in ("customers", "orders"):
            commands = Commands(str(config_path))
            outcome = run_report(commands, product, commands.run(product))
            steps[product] = {key: value for key, value in outcome.items() if key != "summary"}
            summary += [f"round {round_number}: {line.strip()}" for line in outcome["summary"]]
            if not outcome["ok"]:
                raise RuntimeError(f"demo step failed for {product}: {outcome['summary']}")
        report["rounds"].append(steps)
    report["iceberg_rows"] = iceberg_row_counts(str(config_path))
    for product, per_version in report["iceberg_rows"].items():
        summary.append(
            f"iceberg alpha.{product}: "
            + ", ".join(f"v{version}: {rows} rows" for version, rows in per_version.items())
        )
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
