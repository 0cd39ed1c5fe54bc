"""The CLI's own Dagster instance: commands that start together on a new DAGSTER_HOME, or on a new version."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.cli import main
from platform_assets.commands import add_version_partitions, dagster_instance
from platform_assets.defs.partitions import version_of, versions_partitions_name
from platform_assets_tests.conftest import write_csv, write_platform_config

# Imports first, then wait for the start signal, so the processes reach the instance at the same moment.
FIRST_USE = """
import sys, time
from pathlib import Path
from platform_assets.commands import dagster_instance
print("ready", flush=True)
start = Path(sys.argv[1])
while not start.exists():
    time.sleep(0.005)
instance = dagster_instance()
print(len(instance.get_runs()), flush=True)
"""


def _first_uses_at_once(home: Path, processes: int) -> list[subprocess.CompletedProcess[str]]:
    """Start ``processes`` first uses of the instance in ``home`` at the same moment; their results."""
    start = home.parent / f"{home.name}.start"
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    running = [
        subprocess.Popen(
            [sys.executable, "-c", FIRST_USE, str(start)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(processes)
    ]
    for process in running:
        assert process.stdout is not None and process.stdout.readline().strip() == b"ready"
    start.touch()
    results = []
    for process in running:
        out, err = process.communicate(timeout=240)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out.decode(), err.decode()))
    return results


def test_commands_started_at_once_on_a_new_dagster_home_make_one_working_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for trial in range(2):
        folder = tmp_path / f"trial{trial}"
        landing = folder / "landing"
        write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01")])
        config = write_platform_config(
            folder, f"sqlite:///{folder}/state.db", f"file://{landing}", f"file://{folder}/raw"
        )
        home = folder / "dagster_home"
        results = _first_uses_at_once(home, processes=3)
        assert [result.returncode for result in results] == [0] * 3, "\n".join(result.stderr for result in results)
        monkeypatch.setenv("DAGSTER_HOME", str(home))
        assert main(["sync", "customers", "--config", config]) == 0, "a later command works on the instance"
        with dg.DagsterInstance.get() as instance:
            assert len(instance.get_runs()) == 1


def test_concurrent_commands_on_a_new_version_add_its_partition_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    dagster_instance().dispose()
    threads, rounds = 6, 8
    instances = [dagster_instance() for _ in range(threads)]
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def add(instance: dg.DagsterInstance) -> None:
        for number in range(1, rounds + 1):
            barrier.wait()
            try:
                add_version_partitions(instance, "customers", [number, number + 100])
            except BaseException as error:  # collected and shown by the assertion below
                errors.append(error)

    workers = [threading.Thread(target=add, args=(instance,)) for instance in instances]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    keys = instances[0].get_dynamic_partitions(versions_partitions_name("customers"))
    assert sorted(keys, key=version_of) == [f"v{n}" for n in range(1, rounds + 1)] + [
        f"v{n + 100}" for n in range(1, rounds + 1)
    ]
    for instance in instances:
        instance.dispose()
