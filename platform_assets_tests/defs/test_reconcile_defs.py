"""``platform-assets reconcile`` through Dagster: the job, the check on raw_files, the schedule, the exit codes.

The command runs ``customers_reconcile`` (the check ``raw_zone_reconciled``), prints the counts, the first
findings and backticked next steps, and exits 1 while findings remain; after ``--repair`` it exits 1 when a
file was marked LOST and says so; the check's latest evaluation in the instance is that result.
"""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.cli import main
from platform_assets.commands import dagster_instance
from platform_assets.config import load_config
from platform_assets.defs.builder import build_definitions
from platform_assets.defs.reconcile import RECONCILED_CHECK, reconcile_schedule_name
from platform_assets_tests.conftest import customers_product, write_csv, write_platform_config


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("PLATFORM_ACTOR", "olga")
    landing = tmp_path / "landing"
    for name in ("a.csv", "b.csv"):
        write_csv(landing / name, [(name[0], "x", "1.00", "2026-01-01")])
    product = customers_product(f"file://{landing}", reconcile={"cron": "15 2 * * *", "deep": True})
    return write_platform_config(
        tmp_path, f"sqlite:///{tmp_path}/state.db", f"file://{landing}", f"file://{tmp_path}/raw", products=[product]
    )


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_reconcile_command_reports_repairs_and_the_check_shows_it(
    config: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "customers", "--config", config]) == 0
    code, clean = _run(capsys, "reconcile", "customers", "--config", config)
    assert code == 0 and clean["ok"] and clean["copies_checked"] == 2
    raw = tmp_path / "raw" / "customers"
    (raw / "v1" / "a.csv").unlink()
    (tmp_path / "landing" / "b.csv").write_text("id,name,amount,updated\nb,changed,9.00,2026-03-03\n")
    (raw / "v1" / "b.csv").write_text("altered")
    (raw / "stray.txt").write_text("stray")

    assert main(["reconcile", "customers", "--config", config]) == 1
    text = capsys.readouterr().out
    assert "1 missing, 1 size_mismatch, 0 checksum_mismatch, 1 orphan" in text
    assert "missing           v1 a.csv: expected" in text and "not clean: 3 finding(s) found" in text
    assert "`platform-assets reconcile customers --repair`" in text

    code, repaired = _run(capsys, "reconcile", "customers", "--repair", "--config", config)
    assert code == 1 and not repaired["ok"]
    assert repaired["resolutions"] == {"restored": 1, "lost": 1, "quarantined": 1}
    assert any("platform-assets skip customers 1 b.csv" in step for step in repaired["next"])
    assert any("platform-assets process customers --version 1 --retry-failed" in step for step in repaired["next"])
    assert (raw / "_quarantine" / "stray.txt").read_text() == "stray"

    code, again = _run(capsys, "reconcile", "customers", "--deep", "--config", config)
    assert code == 0 and again["ok"] and again["counts"]["orphan"] == 0
    _assert_latest_check(again["dagster_run"])


def _assert_latest_check(run_id: str) -> None:
    instance = dagster_instance()
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey(["customers", "raw_files"]), RECONCILED_CHECK)]
    )
    (latest,) = record.values()
    assert latest.run_id == run_id
    assert latest.event is not None and latest.event.dagster_event is not None
    evaluation = latest.event.dagster_event.asset_check_evaluation_data
    assert evaluation.passed and evaluation.metadata["copies_checked"].value == 1  # b.csv is LOST
    assert evaluation.metadata["deep"].value is True
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.tags["platform/actor"] == "olga"


def test_the_schedule_follows_the_product_config(config: str) -> None:
    defs = build_definitions(load_config(config), config)
    schedule = defs.resolve_schedule_def(reconcile_schedule_name("customers"))
    assert schedule.cron_schedule == "15 2 * * *" and schedule.execution_timezone == "UTC"
    assert schedule.job_name == "customers_reconcile"
    assert schedule.default_status is dg.DefaultScheduleStatus.RUNNING
    with dg.instance_for_test() as instance:
        tick = schedule.evaluate_tick(dg.build_schedule_context(instance=instance))
    (request,) = tick.run_requests or []
    (op_config,) = request.run_config["ops"].values()
    assert op_config == {"config": {"deep": True, "repair": False}}
