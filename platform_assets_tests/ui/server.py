"""The demo and a `dagster dev` on it, as the README tells a new user to start them.

``start_demo_ui`` runs ``platform-assets demo`` into a folder, then ``dagster dev``
(webserver and daemon) on the demo's DAGSTER_HOME and PLATFORM_CONFIG with the
repository's ``workspace.yaml``, in its own process group on a free port, and
waits until the webserver answers and the code location is loaded.
``stop`` ends the whole group (webserver, daemon, code server, runs).
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
LOCATION = "platform_assets"
DEMO_SECONDS = 240
START_SECONDS = 180
DISCOVERY_SECONDS = 5  # the demo's sensors run (automation: {enabled: true}); the tests wait for fewer ticks

LOCATION_STATUS = """
query {
  workspaceOrError {
    ... on Workspace {
      locationEntries { name loadStatus locationOrLoadError { __typename ... on PythonError { message } } }
    }
  }
}
"""
NUX_SEEN = "mutation { setNuxSeen }"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


@dataclass
class DemoUi:
    """A running `dagster dev` on a fresh demo: its URL, folders and process."""

    url: str
    home: Path
    config: Path
    dagster_home: Path
    log: Path
    process: subprocess.Popen[bytes]

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST ``query`` to the webserver's GraphQL API; its ``data`` (errors raise)."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise AssertionError(f"GraphQL errors: {answer['errors']}")
        data: dict[str, Any] = answer["data"]
        return data

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _end_with_the_tests() -> None:
    """In the child, before exec: SIGTERM when the test process dies, even killed, so no `dagster dev` outlives it."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _environment(**values: str) -> dict[str, str]:
    """This process's environment (PYTHONPATH included) without its Dagster/platform settings, plus ``values``."""
    dropped = ("DAGSTER_HOME", "PLATFORM_CONFIG", "PLATFORM_FAILPOINTS")
    return {**{name: value for name, value in os.environ.items() if name not in dropped}, **values}


def run_demo(folder: Path) -> Path:
    """``platform-assets demo --home folder/demo``; the demo's home."""
    home = folder / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "platform_assets.cli", "demo", "--home", str(home)],
        cwd=folder,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=DEMO_SECONDS,
    )
    if result.returncode != 0:
        raise RuntimeError(f"platform-assets demo failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return home


def tick_faster(config: Path) -> None:
    """Discovery every DISCOVERY_SECONDS instead of the demo's 30 s: a dropped file is picked up sooner."""
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    for product in settings["products"]:
        product.setdefault("automation", {})["minimum_interval_seconds"] = DISCOVERY_SECONDS
    config.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")


def start_demo_ui(folder: Path) -> DemoUi:
    """The demo in ``folder``, then `dagster dev` on it; returns once the UI serves the loaded code location.

    The demo's config is used as written, except that discovery ticks every DISCOVERY_SECONDS (tick_faster).
    """
    home = run_demo(folder)
    tick_faster(home / "platform.yaml")
    port = free_port()
    log = folder / "dagster_dev.log"
    env = _environment(DAGSTER_HOME=str(home / "dagster_home"), PLATFORM_CONFIG=str(home / "platform.yaml"))
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", str(REPO / "workspace.yaml")]
            + ["-h", "127.0.0.1", "-p", str(port)],
            cwd=folder,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends webserver, daemon and code server
            preexec_fn=_end_with_the_tests,
        )
    ui = DemoUi(
        url=f"http://127.0.0.1:{port}",
        home=home,
        config=home / "platform.yaml",
        dagster_home=home / "dagster_home",
        log=log,
        process=process,
    )
    try:
        _wait_until_loaded(ui)
        ui.graphql(NUX_SEEN)  # the community dialog that opens once on a new instance would cover the pages
    except BaseException:
        stop(ui)
        raise
    return ui


def _wait_until_loaded(ui: DemoUi) -> None:
    deadline = time.monotonic() + START_SECONDS
    last = "no answer"
    while time.monotonic() < deadline:
        if ui.process.poll() is not None:
            raise RuntimeError(f"dagster dev exited with {ui.process.returncode}:\n{ui.log_tail()}")
        try:
            entries = ui.graphql(LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
        except (urllib.error.URLError, ConnectionError, TimeoutError, AssertionError) as error:
            last = str(error)
        else:
            entry = next((entry for entry in entries if entry["name"] == LOCATION), None)
            last = json.dumps(entry)
            if entry and entry["loadStatus"] == "LOADED":
                if entry["locationOrLoadError"]["__typename"] != "RepositoryLocation":
                    raise RuntimeError(f"the code location did not load: {last}\n{ui.log_tail()}")
                return
        time.sleep(1)
    raise TimeoutError(f"dagster dev did not serve {LOCATION} within {START_SECONDS}s ({last}):\n{ui.log_tail()}")


def stop(ui: DemoUi, grace_seconds: float = 20) -> None:
    """SIGTERM the process group (dagster dev shuts its children down), SIGKILL what is left after the grace."""
    group = ui.process.pid
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        ui.process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(group, signal.SIGKILL)  # runs and code servers that outlived dagster dev
    except ProcessLookupError:
        pass
    ui.process.wait(timeout=10)
