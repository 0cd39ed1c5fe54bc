"""Messages match the state: merge --version N says why nothing merges, refusals write nothing, advice is runnable."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text

from platform_assets.cli import main
from platform_assets_tests.conftest import write_csv, write_platform_config


@pytest.fixture
def stores(tmp_path: Path, db_url: str, pg_database: Callable[[str], str]) -> tuple[str, str]:
    """(state DB, merge store), both on the backend of ``db_url``."""
    merge = pg_database("merge") if db_url.startswith("postgresql") else f"sqlite:///{tmp_path / 'merge.db'}"
    return db_url, merge


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stores: tuple[str, str]) -> str:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    write_csv(tmp_path / "landing" / "a.csv", [("1", "Ann", "1.00", "2026-01-01")])
    state_db, merge_store = stores
    return write_platform_config(
        tmp_path, state_db, f"file://{tmp_path / 'landing'}", f"file://{tmp_path / 'raw'}", merge_store=merge_store
    )


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def text_of(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def batch_log_rows(merge_store: str) -> list[tuple[int, str]]:
    engine = create_engine(merge_store)
    try:
        if not inspect(engine).has_table("merge_batches"):
            return []
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT batch, status FROM merge_batches ORDER BY batch")).all()
    finally:
        engine.dispose()
    return [(int(batch), str(status)) for batch, status in rows]


def test_merge_version_says_which_state_keeps_it_from_merging(
    config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli(capsys, "run", "customers", "--config", config)[0] == 0
    code, merged = cli(capsys, "merge", "customers", "--version", "1", "--config", config)
    assert (code, merged["kind"]) == (3, "nothing_to_do") and "version 1 of customers is merged already" in (
        merged["error"]
    )
    code, missing = cli(capsys, "merge", "customers", "--version", "99", "--config", config)
    assert (code, missing["kind"]) == (1, "user")
    assert "has no version 99; its newest version is 1" in missing["error"] and "--version" not in missing["error"]

    write_csv(tmp_path / "landing" / "b.csv", [("2", "Bo", "2.00", "2026-01-02")])
    assert cli(capsys, "sync", "customers", "--config", config)[0] == 0
    code, unprocessed = cli(capsys, "merge", "customers", "--version", "2", "--config", config)
    assert (code, unprocessed["kind"]) == (1, "user")
    assert "version 2 of customers is CAPTURED, not processed" in unprocessed["error"]
    assert "`platform-assets process customers --version 2`" in unprocessed["error"]

    assert cli(capsys, "exclude", "customers", "2", "--reason", "half a file", "--config", config)[0] == 0
    code, excluded = cli(capsys, "merge", "customers", "--version", "2", "--config", config)
    assert (code, excluded["kind"]) == (1, "user")
    assert "version 2 of customers is excluded (half a file); it is not merged" in excluded["error"]
    code, out, err = text_of(capsys, "merge", "customers", "--config", config)
    assert code == 0 and "nothing to merge" in out, "without --version, nothing pending is not a failure"


def test_exclude_refused_writes_nothing(
    config: str, stores: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, merge_store = stores
    code, refused = cli(capsys, "exclude", "customers", "99", "--reason", "no such", "--config", config)
    assert (code, refused["kind"]) == (1, "user") and "no versions in the catalog yet" in refused["error"]
    assert "`platform-assets sync customers`" in refused["error"]
    assert cli(capsys, "run", "customers", "--config", config)[0] == 0
    code, refused = cli(capsys, "exclude", "customers", "99", "--reason", "no such", "--config", config)
    assert (code, refused["kind"]) == (1, "user")
    assert "has no version 99; its newest version is 1" in refused["error"] and "--version" not in refused["error"]
    code, merged = cli(capsys, "exclude", "customers", "1", "--reason", "too late", "--config", config)
    assert (code, merged["kind"]) == (1, "user") and "committed" in merged["error"]
    assert batch_log_rows(merge_store) == [(1, "committed")], "no excluded row for 99 or 1"
    code, versions = cli(capsys, "versions", "customers", "--config", config)
    assert [(v["number"], v["excluded"]) for v in versions["versions"]] == [(1, False)]


def test_duplicate_keys_advise_exclude_and_no_count_is_none(
    config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write_csv(tmp_path / "landing" / "dup.csv", [("1", "Again", "9.00", "2026-01-09")])
    code, out, err = text_of(capsys, "run", "customers", "--config", config)
    assert code == 1
    assert "`platform-assets exclude customers 1 --reason TEXT`" in out and "process the version again" not in out
    assert "merged batch 1 failed: batch 1 of 'customers'" in out and "None" not in out, out
    code, out, err = text_of(capsys, "merge", "customers", "--config", config)
    assert code == 1 and "None" not in out + err
    assert "customers: batch 1 failed: " in out


def test_run_says_captured_only_when_the_capture_succeeded(
    config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write_csv(tmp_path / "landing" / "b\\c.csv", [("2", "Bo", "2.00", "2026-01-02")])  # an unsafe key
    code, out, _ = text_of(capsys, "run", "customers", "--config", config)
    assert code == 1
    assert out.splitlines()[0] == "customers: version 1 registered; capture: CAPTURE_FAILED, 1 file(s) failed"


@pytest.mark.xfail(
    strict=False,
    reason="known race (stop 19): a merge that planned version N while another merge committed and published it "
    "refuses N ('it must be processed before it merges', exit 1) instead of reporting it already merged",
)
def test_merges_started_together_report_each_batch_once(
    config: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Three merge commands at once: each batch is merged by one, and the others say it was merged already."""
    assert cli(capsys, "sync", "customers", "--config", config)[0] == 0
    write_csv(tmp_path / "landing" / "b.csv", [("2", "Bo", "2.00", "2026-01-02")])
    assert cli(capsys, "sync", "customers", "--config", config)[0] == 0
    for version in ("1", "2"):
        assert cli(capsys, "process", "customers", "--version", version, "--config", config)[0] == 0
    command = [sys.executable, "-m", "platform_assets.cli", "merge", "customers", "--config", config, "--json"]
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    finished = [(process.communicate(timeout=300), process.returncode) for process in running]
    assert [code for _, code in finished] == [0, 0, 0], [(out, err) for (out, err), _ in finished]
    payloads = [json.loads(out.strip().splitlines()[-1]) for (out, _), _ in finished]
    merged = sorted(batch["batch"] for payload in payloads for batch in payload["batches"])
    assert merged == [1, 2], payloads
    for payload in payloads:
        assert {batch["batch"] for batch in payload["batches"]}.isdisjoint(payload["already_merged"])
        assert all(batch["status"] == "committed" for batch in payload["batches"])
