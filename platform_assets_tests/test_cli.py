"""The platform-assets command: JSON output, exit codes, runs recorded in the Dagster instance."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.catalog.migrate import head_revision
from platform_assets.cli import main
from platform_assets_tests.conftest import write_csv, write_platform_config


@pytest.fixture
def cli_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> str:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    landing = tmp_path / "landing"
    write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01"), ("2", "Bob", "2.00", "2026-01-02")])
    return write_platform_config(tmp_path, db_url, f"file://{landing}", f"file://{tmp_path}/raw", merge_store=None)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def test_sync_process_merge_through_dagster(
    cli_config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, synced = run_json(capsys, "sync", "customers", "--config", cli_config)
    assert code == 0 and synced["version"] == 1 and synced["captures"][0]["status"] == "CAPTURED"
    code, unchanged = run_json(capsys, "sync", "customers", "--config", cli_config)
    assert code == 0 and unchanged["version"] is None
    code, processed = run_json(capsys, "process", "customers", "--config", cli_config)
    assert code == 0 and (processed["version"], processed["status"], processed["rows"]) == (1, "PROCESSED", 2)
    code, nothing = run_json(capsys, "process", "customers", "--config", cli_config)
    assert code == 3 and "nothing to process" in nothing["error"]
    code, missing = run_json(capsys, "process", "customers", "--version", "9", "--config", cli_config)
    assert code == 1 and "newest captured version is v1" in missing["error"]
    code, merged = run_json(capsys, "merge", "customers", "--config", cli_config)
    assert code == 0 and merged["batches"][0]["inserted"] == 2 and merged["live_rows"] == 2
    code, versions = run_json(capsys, "versions", "customers", "--config", cli_config)
    assert [v["status"] for v in versions["versions"]] == ["PUBLISHED"], "merged without review = published"
    with dg.DagsterInstance.get() as instance:
        materialized = {
            key.to_user_string()
            for key in (
                dg.AssetKey(["customers", "raw_files"]),
                dg.AssetKey(["customers", "staged"]),
                dg.AssetKey(["customers", "merge"]),
            )
            if instance.get_latest_materialization_event(key) is not None
        }
    assert materialized == {"customers/raw_files", "customers/staged", "customers/merge"}, (
        "the UI shows what the command did"
    )


def test_commands_read_results_and_errors_from_the_dagster_run(
    cli_config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, synced = run_json(capsys, "sync", "customers", "--config", cli_config)
    assert code == 0 and synced["captures"][0]["copied_now"] == 1, "what the capture run copied, not a second capture"
    assert run_json(capsys, "exclude", "customers", "1", "--reason", "wrong file", "--config", cli_config)[0] == 0
    code, refused = run_json(capsys, "process", "customers", "--version", "1", "--config", cli_config)
    assert code == 1 and refused == {
        "error": "version 1 of customers is excluded (wrong file); it is not processed",
        "kind": "user",
    }, "the PlatformError raised inside the run, with its kind and message"
    with dg.DagsterInstance.get() as instance:
        failed = [run for run in instance.get_runs() if run.tags.get("platform/command") == "process"]
        assert [run.status for run in failed] == [dg.DagsterRunStatus.FAILURE]


def test_config_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("platform: {name: Alpha}\n")
    result = subprocess.run(
        [sys.executable, "-m", "platform_assets.cli", "versions", "x", "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "platform.name" in result.stderr and "Traceback" not in result.stderr


def test_db_upgrade(cli_config: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, payload = run_json(capsys, "db", "upgrade", "--config", cli_config)
    assert code == 0 and payload["revision"] == head_revision()


def test_exclude_a_bad_version_then_merge_the_next(
    cli_config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    assert run_json(capsys, "run", "customers", "--config", cli_config)[0] == 0
    (landing / "bad.csv").write_text("id,name,amount,updated\n9,x,not a number,2026-01-09\n")  # a bad row
    code, failed = run_json(capsys, "run", "customers", "--config", cli_config)
    assert code == 1 and failed["processed"][-1] == {"version": 2, "status": "FAILED", "rows": 2}
    (landing / "bad.csv").unlink()
    write_csv(landing / "c.csv", [("3", "Cy", "3.00", "2026-01-03")])
    run_json(capsys, "sync", "customers", "--config", cli_config)
    assert run_json(capsys, "process", "customers", "--version", "3", "--config", cli_config)[0] == 0
    code, blocked = run_json(capsys, "merge", "customers", "--config", cli_config)
    assert code == 1 and "version 2 of customers is FAILED" in blocked["error"]
    code, excluded = run_json(
        capsys, "exclude", "customers", "2", "--reason", "sender sent a broken file", "--config", cli_config
    )
    assert code == 0 and excluded["excluded"]
    code, merged = run_json(capsys, "merge", "customers", "--config", cli_config)
    assert code == 0 and [b["batch"] for b in merged["batches"]] == [3] and merged["live_rows"] == 3
    code, versions = run_json(capsys, "versions", "customers", "--config", cli_config)
    assert [v["excluded"] for v in versions["versions"]] == [False, True, False]


def test_the_shipped_dagster_yaml_keeps_runs_and_events_in_postgresql(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], pg_database
) -> None:
    """README's production instance: the repository's dagster.yaml in DAGSTER_HOME, DAGSTER_PG_* naming a database."""
    import shutil

    from sqlalchemy import create_engine, make_url, text

    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(Path(__file__).resolve().parents[1] / "dagster.yaml", home / "dagster.yaml")
    url = make_url(pg_database("dagster"))
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name, value in {
        "HOST": url.host,
        "PORT": str(url.port or 5432),
        "USER": url.username,
        "PASSWORD": url.password or "",
        "DB": url.database,
    }.items():
        monkeypatch.setenv(f"DAGSTER_PG_{name}", str(value))
    landing = tmp_path / "landing"
    write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01")])
    config = write_platform_config(
        tmp_path, f"sqlite:///{tmp_path / 'state.db'}", f"file://{landing}", f"file://{tmp_path}/raw"
    )
    assert run_json(capsys, "sync", "customers", "--config", config)[0] == 0
    assert run_json(capsys, "process", "customers", "--config", config)[0] == 0
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.get_latest_materialization_event(dg.AssetKey(["customers", "staged"])) is not None
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            statuses = connection.execute(text("SELECT status FROM runs")).scalars().all()
            materializations = connection.execute(
                text("SELECT count(*) FROM event_logs WHERE dagster_event_type = 'ASSET_MATERIALIZATION'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert len(statuses) == 2 and set(statuses) == {"SUCCESS"} and materializations >= 2
    assert not list(home.rglob("*.db")), "no SQLite run, event or schedule storage (only compute logs stay local)"
