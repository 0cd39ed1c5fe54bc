"""A built wheel, installed into a fresh virtualenv, runs the demo and loads the default code location.

Marked ``packaging`` (``python -m pytest -m packaging``): it builds the wheel
from a copy of the project (a build leaves ``build/`` and ``*.egg-info``
behind), installs it with ``--no-deps`` into a virtualenv that sees this
machine's packages, and runs everything from a folder outside the repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parent.parent
PROJECT_FILES = ("pyproject.toml", "setup.py", "README.md")


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


def test_a_built_wheel_runs_the_demo_and_loads_the_code_location(tmp_path: Path) -> None:
    source = tmp_path / "source"
    shutil.copytree(
        REPO / "platform_assets", source / "platform_assets", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    for name in PROJECT_FILES:
        shutil.copy2(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), "."],
        source,
    )
    [wheel] = wheels.glob("platform_assets-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    for name in (
        "platform_assets/examples/platform.yaml",
        "platform_assets/examples/sample_data.py",
        "platform_assets/catalog/migrations/env.py",
        "platform_assets/catalog/migrations/script.py.mako",
        "platform_assets/catalog/migrations/versions/0001_initial_catalog.py",
    ):
        assert name in shipped

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], tmp_path)
    _run([str(venv / "bin" / "pip"), "install", "--no-deps", "-q", str(wheel)], tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {
        **{name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PLATFORM_CONFIG")},
        "PLATFORM_HOME": str(tmp_path / "platform_home"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "dagster_home").mkdir()
    python = str(venv / "bin" / "python")
    imported = _run([python, "-c", "import platform_assets; print(platform_assets.__file__)"], outside, env)
    assert imported.stdout.strip().startswith(str(venv)), imported.stdout

    demo = _run([str(venv / "bin" / "platform-assets"), "demo", "--home", str(outside / "demo")], outside, env)
    assert "open the UI:" in demo.stdout.splitlines()[-1]
    _run([python, "-m", "dagster", "definitions", "validate", "-m", "platform_assets.definitions"], outside, env)
