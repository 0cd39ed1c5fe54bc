"""`platform-assets demo`: its own dagster.yaml, and no output but the product summary and the UI command."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

SUMMARY_LINE = re.compile(
    r"round [12]: (customers|orders|ledger|processed v\d|merged batch \d)|iceberg alpha\.(customers|orders|ledger): "
    r"|ledger: version\(s\) 1, 2 await review"
    r"|  `platform-assets (review|approve) ledger"
)


def test_the_demo_prints_only_the_summary_and_the_ui_command(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    env = {name: value for name, value in os.environ.items() if name not in ("DAGSTER_HOME", "PLATFORM_CONFIG")}
    result = subprocess.run(
        [sys.executable, "-m", "platform_assets.cli", "demo", "--home", str(home)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stderr
    assert "No dagster instance configuration file" not in result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == f"demo in {home} (config {home / 'platform.yaml'})"
    assert lines[-1] == (
        f"open the UI: DAGSTER_HOME={home / 'dagster_home'} PLATFORM_CONFIG={home / 'platform.yaml'} dagster dev"
    )
    assert [line for line in lines[1:-1] if not SUMMARY_LINE.match(line)] == []
    assert {line.split(": ")[1] for line in lines if line.startswith("round 2: ") and "version" in line} == {
        "customers",
        "orders",
        "ledger",
    }
    assert (home / "dagster_home" / "dagster.yaml").is_file()

    approve = [line.split("`")[1] for line in lines if "platform-assets approve ledger 2" in line]
    assert len(approve) == 1, "the demo prints the command that approves the ledger's newest version"
    as_dave = {**env, "DAGSTER_HOME": str(home / "dagster_home"), "PLATFORM_ACTOR": "dave"}
    approved = subprocess.run(
        approve[0], shell=True, cwd=tmp_path, env=as_dave, capture_output=True, text=True, timeout=280
    )
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert "ledger v2 approved by dave: APPROVED" in approved.stdout and "merged batch 2: committed" in approved.stdout
    assert "superseded: v1" in approved.stdout
