"""Failures a user can cause end in one message, the documented exit code and ``{error, kind}`` under --json.

No traceback for: a state DB or merge store that is unreachable or missing, a
port that is not a number, a read-only raw zone, state DB or merge DB, a
version out of range. Dagster's stack traces show only with --verbose; a bug
still shows its traceback.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

from platform_assets.cli import MAX_VERSION, main
from platform_assets_tests.conftest import PG_ADMIN_URL, write_csv, write_platform_config

UNREACHABLE_PG = "postgresql://platform:pw@127.0.0.1:1/state"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    landing = tmp_path / "landing"
    write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01")])
    return tmp_path


def _config(folder: Path, state_db: str | None = None, merge_store: str | None = None) -> str:
    return write_platform_config(
        folder,
        state_db or f"sqlite:///{folder / 'state.db'}",
        f"file://{folder / 'landing'}",
        f"file://{folder / 'raw'}",
        merge_store=merge_store,
    )


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict, str]:
    """Exit code, the one JSON object on stdout, and stderr of ``platform-assets ARGV --json``."""
    code = main([*argv, "--json"])
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert len(lines) == 1, captured.out
    return code, json.loads(lines[0]), captured.err


def _one_message(stderr: str, message: str) -> None:
    """``message`` ends stderr, once, with no traceback (a new DAGSTER_HOME may open with Dagster's telemetry note)."""
    assert "Traceback" not in stderr and "Stack Trace" not in stderr, stderr
    assert stderr.strip().endswith(message) and stderr.count(message) == 1, stderr


def _missing_database(pg_database: Callable[[str], str]) -> str:
    return make_url(pg_database("x")).set(database="pa_no_such_db").render_as_string(hide_password=False)


@pytest.mark.parametrize("store", ["state_db", "merge_store"])
@pytest.mark.parametrize("problem", ["unreachable", "missing"])
def test_an_unreachable_or_missing_postgresql_store_ends_in_one_message(
    home: Path, capsys: pytest.CaptureFixture[str], pg_database: Callable[[str], str], store: str, problem: str
) -> None:
    url = UNREACHABLE_PG if problem == "unreachable" else _missing_database(pg_database)
    config = _config(home, **{store: url})
    code, payload, err = run_json(capsys, "run", "customers", "--config", config)
    expected = {"unreachable": ("transient", 1, "cannot reach the database"), "missing": ("config", 2, "not exist")}
    kind, exit_code, words = expected[problem]
    assert (code, payload["kind"]) == (exit_code, kind) and words in payload["error"]
    _one_message(err, f"platform-assets run: {payload['error']}")
    if problem == "unreachable":
        assert "postgresql://platform:***@127.0.0.1:1/state" in payload["error"]


@pytest.mark.parametrize("key", ["state_db", "merge_store"])
def test_a_port_that_is_not_a_number_is_a_config_error(
    home: Path, capsys: pytest.CaptureFixture[str], key: str
) -> None:
    config = _config(home, **{key: "postgresql://platform@127.0.0.1:five/state"})
    code, payload, _ = run_json(capsys, "versions", "customers", "--config", config)
    assert (code, payload["kind"]) == (2, "config") and f"platform.{key}" in payload["error"]
    assert "port is a number" in payload["error"]


@pytest.mark.parametrize(
    "argv",
    [
        ["process", "customers", "--version", "99999999999999999999"],
        ["merge", "customers", "--version", "0"],
        ["exclude", "customers", "99999999999", "--reason", "r"],
        ["exclude", "customers", str(MAX_VERSION + 1), "--reason", "r"],
        ["skip", "customers", "-3", "k.csv", "--reason", "r"],
        ["replicate", "customers", "--to-batch", "1e3"],
    ],
)
def test_versions_outside_1_to_2_31_minus_1_are_refused_by_the_parser(
    argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The parser refuses them before any store is opened: the config named does not even exist."""
    code, payload, err = run_json(capsys, *argv, "--config", str(tmp_path / "nowhere.yaml"))
    assert (code, payload["kind"]) == (2, "config")
    assert "is not a version: give a whole number from 1 to 2147483647" in payload["error"]
    assert err.strip().splitlines()[0].startswith("usage: platform-assets")


def test_the_largest_version_passes_the_parser_and_is_refused_as_unknown(
    home: Path, capsys: pytest.CaptureFixture[str], db_url: str
) -> None:
    config = _config(home, state_db=db_url)
    assert run_json(capsys, "sync", "customers", "--config", config)[0] == 0
    code, payload, _ = run_json(capsys, "exclude", "customers", str(MAX_VERSION), "--reason", "r", "--config", config)
    assert (code, payload["kind"]) == (1, "user") and "2147483647" in payload["error"]


def test_options_may_stand_before_or_after_the_command(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(home)
    assert main(["--config", config, "--json", "sync", "customers"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == 1
    assert main(["--json", "versions", "customers", "--config", config]) == 0
    assert json.loads(capsys.readouterr().out)["versions"][0]["number"] == 1
    assert main(["--config", config, "db", "upgrade", "--json"]) == 0
    assert "revision" in json.loads(capsys.readouterr().out)
    code, payload, _ = run_json(capsys, "--config", config, "nosuchcommand")
    assert (code, payload["kind"]) == (2, "config") and "invalid choice" in payload["error"]


def test_a_bug_still_shows_its_traceback(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import platform_assets.cli as cli

    def broken(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(cli, "cmd_versions", broken)
    assert main(["versions", "customers", "--config", _config(home)]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: a bug" in err


# --- through a subprocess: stderr as a user sees it, and stores this process may not write ---------------------


def _without_write_access() -> list[str]:
    """A prefix that runs a command without root's power to write what is not writable (none for other users)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.fail("running as root needs setpriv (util-linux) to take away the right to ignore file modes")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search"]


def _cli(*argv: str, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    env.pop("PLATFORM_LOG_LEVEL", None)
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "platform_assets.cli", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def _read_only(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        item.chmod(0o555 if item.is_dir() else 0o444)


def _writable(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        item.chmod(0o755 if item.is_dir() else 0o644)


@pytest.mark.parametrize("store", ["raw", "state", "merge"])
def test_a_read_only_store_ends_in_one_message_and_the_next_run_finishes(home: Path, store: str) -> None:
    folders = {name: home / name for name in ("state", "merge")}
    config = write_platform_config(
        home,
        f"sqlite:///{folders['state'] / 'state.db'}",
        f"file://{home / 'landing'}",
        f"file://{home / 'raw'}",
        merge_store=f"sqlite:///{folders['merge'] / 'merge.db'}",
    )
    assert main(["run", "customers", "--config", config]) == 0
    write_csv(home / "landing" / "b.csv", [("2", "Bo", "2.00", "2026-01-02")])
    _read_only(home / store)
    try:
        failed = _cli("run", "customers", "--config", config, "--json", prefix=_without_write_access())
    finally:
        _writable(home / store)
    payload = json.loads(failed.stdout)
    assert (failed.returncode, payload["kind"]) == (1, "user"), failed.stderr
    _one_message(failed.stderr, f"platform-assets run: {payload['error']}")
    assert "write access" in payload["error"] and str(home / store) in payload["error"]
    assert main(["run", "customers", "--config", config]) == 0, "with write access back, the next run finishes"
    engine = create_engine(f"sqlite:///{folders['merge'] / 'merge.db'}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT id FROM customers_live ORDER BY id")).scalars().all()
    finally:
        engine.dispose()
    assert rows == ["1", "2"]


def test_a_read_only_postgresql_state_db_ends_in_one_message(
    home: Path, capsys: pytest.CaptureFixture[str], pg_database: Callable[[str], str]
) -> None:
    url = pg_database("state")
    config = _config(home, state_db=url)
    assert main(["sync", "customers", "--config", config]) == 0
    capsys.readouterr()
    write_csv(home / "landing" / "b.csv", [("2", "Bo", "2.00", "2026-01-02")])
    _set_read_only(url, True)
    code, payload, _ = run_json(capsys, "sync", "customers", "--config", config)
    assert (code, payload["kind"]) == (1, "user") and "does not accept writes" in payload["error"]
    _set_read_only(url, False)
    code, synced, _ = run_json(capsys, "sync", "customers", "--config", config)
    assert code == 0 and synced["version"] == 2


def _set_read_only(url: str, read_only: bool) -> None:
    from platform_assets.storage.sql import dispose_engines

    dispose_engines()  # the setting applies to new sessions
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            name = make_url(url).database
            setting = "on" if read_only else "off"
            connection.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {setting}'))
    finally:
        admin.dispose()


def test_dagster_stack_traces_show_only_with_verbose(home: Path) -> None:
    """A PlatformError raised inside a Dagster run: one line on stderr; --verbose adds Dagster's logs and stack."""
    config = _config(home)
    assert main(["sync", "customers", "--config", config]) == 0
    assert main(["exclude", "customers", "1", "--reason", "wrong file", "--config", config]) == 0
    quiet = _cli("process", "customers", "--version", "1", "--config", config)
    assert quiet.returncode == 1
    assert quiet.stderr.strip().splitlines() == [
        "platform-assets process: version 1 of customers is excluded (wrong file); it is not processed"
    ]
    verbose = _cli("--verbose", "process", "customers", "--version", "1", "--config", config)
    assert verbose.returncode == 1
    assert "STEP_FAILURE" in verbose.stderr and "Traceback" in verbose.stderr
    assert verbose.stderr.strip().splitlines()[-1].startswith("platform-assets process: version 1 of customers")


def test_a_reader_that_stops_early_ends_the_command_quietly(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``platform-assets versions P | head -1``: writing to the closed pipe ends the command, exit 141, no traceback."""
    config = _config(home)
    assert main(["--config", config, "sync", "customers"]) == 0
    capsys.readouterr()
    read_end, write_end = os.pipe()
    os.close(read_end)
    closed_pipe = io.TextIOWrapper(io.FileIO(write_end, "w", closefd=False), encoding="utf-8", write_through=True)
    saved_stdout = os.dup(1)
    try:
        os.dup2(write_end, 1)  # also what Dagster or a child process would inherit
        monkeypatch.setattr(sys, "stdout", closed_pipe)
        code = main(["--config", config, "versions", "customers"])
    finally:
        os.dup2(saved_stdout, 1)
        os.close(saved_stdout)
        os.close(write_end)
    assert code == 141
    assert "Traceback" not in capsys.readouterr().err
