"""`platform-assets demo`: the main job end to end on the embedded default.

Builds sample data for two products (customers: CSV snapshots; orders:
JSON-lines increments) under one folder, syncs, changes the sources, syncs
again, and reports what each step did. Everything runs through Dagster against
the demo's own DAGSTER_HOME, so `dagster dev` on it shows the runs.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_CONFIG = REPO_ROOT / "examples" / "platform.yaml"
SAMPLE_DATA = REPO_ROOT / "examples" / "sample_data.py"
HOME_PLACEHOLDER = "${PLATFORM_HOME:-/tmp/platform_assets_demo}"
DEFAULT_HOME = ".demo"


def _sample_data_module() -> Any:
    spec = importlib.util.spec_from_file_location("platform_assets_sample_data", SAMPLE_DATA)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare_home(home: Path) -> Path:
    """Start ``home`` afresh with a config whose paths point into it; return the config path."""
    if home.exists():
        shutil.rmtree(home)
    home.mkdir(parents=True)
    config_path = home / "platform.yaml"
    config_path.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8").replace(HOME_PLACEHOLDER, str(home)), encoding="utf-8")
    return config_path


def run_demo(home: Path | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the demo in ``home`` (default ./.demo) and return its report."""
    from platform_assets.defs.runs import sync_product

    home = (home or Path(DEFAULT_HOME)).resolve()
    config_path = prepare_home(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster_home")
    sample = _sample_data_module()
    report: dict[str, Any] = {"home": str(home), "config": str(config_path), "dagster_home": os.environ["DAGSTER_HOME"], "rounds": []}
    summary = [f"demo in {home} (config {config_path})"]
    for round_number in (1, 2):
        sample.write_round(home / "landing", round_number)
        log(f"round {round_number}: sample data written to {home / 'landing'}")
        steps = {}
        for product in ("customers", "orders"):
            outcome = sync_product(str(config_path), product)
            registered = outcome.registered
            steps[product] = {
                "version": registered.number if registered else None,
                "files": registered.files if registered else 0,
                "new": registered.new if registered else 0,
                "changed": registered.changed if registered else 0,
                "removed": registered.removed if registered else 0,
                "captured": [capture.status for capture in outcome.captures],
            }
            if registered:
                summary.append(
                    f"round {round_number}: {product} v{registered.number}: {registered.files} files captured "
                    f"({registered.new} new, {registered.changed} changed, {registered.removed} removed)"
                )
        report["rounds"].append(steps)
    summary.append(f"open the UI: DAGSTER_HOME={os.environ['DAGSTER_HOME']} PLATFORM_CONFIG={config_path} dagster dev -m platform_assets.definitions")
    report["summary"] = summary
    return report
