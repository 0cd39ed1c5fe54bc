"""A real ``dagster-daemon`` on a temporary DAGSTER_HOME, for the automation test and benchmark.

:func:`running_daemon` starts ``python -m dagster._daemon run`` on the
repository's ``workspace.yaml`` with the given config, in its own process
group, and ends that group (daemon, code server, runs) when the block exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Sensors launch their runs at once (no run queue to wait for); no telemetry.
DAGSTER_YAML = """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
"""


@contextmanager
def running_daemon(dagster_home: Path, config: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The daemon on ``dagster_home`` (created with :data:`DAGSTER_YAML`) and ``config``, logging to ``log``."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / "dagster.yaml").write_text(DAGSTER_YAML, encoding="utf-8")
    dropped = ("DAGSTER_HOME", "PLATFORM_CONFIG", "PLATFORM_FAILPOINTS")
    env = {name: value for name, value in os.environ.items() if name not in dropped}
    env.update(DAGSTER_HOME=str(dagster_home), PLATFORM_CONFIG=config)
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster._daemon", "run", "-w", str(REPO / "workspace.yaml")],
            cwd=dagster_home,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the code server and the runs end with it
        )
    try:
        yield process
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the daemon's process group: SIGTERM, then SIGKILL after 20 s."""
    if process.poll() is not None:
        return
    group = os.getpgid(process.pid)
    os.killpg(group, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        process.wait(timeout=20)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, log: Path | None = None) -> float:
    """Poll ``condition`` every 0.2 s until it holds; the seconds it took. TimeoutError (with the log's tail)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if condition():
            return time.monotonic() - start
        time.sleep(0.2)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log and log.exists() else ""
    raise TimeoutError(f"{what}: not within {timeout:.0f} s\n{tail}")
