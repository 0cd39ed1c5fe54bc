"""Every catalog runs row names its Dagster run, and every file outcome the run that produced it."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.catalog import Catalog
from platform_assets.cli import main
from platform_assets.commands import dagster_instance
from platform_assets_tests.conftest import write_csv, write_no_retry_config


def test_runs_rows_and_file_events_name_the_dagster_run_that_made_them(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    landing = tmp_path / "landing"
    write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01")])
    write_csv(landing / "b.csv", [("2", "Bob", "not a number", "2026-01-02")])
    config = write_no_retry_config(tmp_path, db_url, landing)
    main(["run", "customers", "--config", config, "--json"])
    assert json.loads(capsys.readouterr().out)["processed"][0]["status"] == "FAILED"
    (b_csv_fixed := landing / "b.csv").unlink()
    write_csv(b_csv_fixed, [("2", "Bob", "2.00", "2026-01-02")])
    # v1 again: its failed file is retried in a second run
    assert main(["process", "customers", "--version", "1", "--retry-failed", "--config", config, "--json"]) in (0, 1)
    capsys.readouterr()

    instance = dagster_instance()
    ids = {
        job: [run.run_id for run in reversed(instance.get_runs(filters=dg.RunsFilter(job_name=job)))]
        for job in ("customers_capture", "customers_process")
    }
    instance.dispose()
    assert len(ids["customers_capture"]) == 1 and len(ids["customers_process"]) == 2
    catalog = Catalog(db_url)
    rows = catalog.runs("customers", 1)
    assert [row.dagster_run_id for row in rows] == ids["customers_process"], "each processing row names its run"
    assert all(row.dagster_run_id for row in rows)

    for key in ("a.csv", "b.csv"):
        events = catalog.audit_events("raw_file", f"customers/1/{key}")
        assert events, key
        by_run = {(event.action, event.dagster_run_id) for event in events}
        capture_run = ids["customers_capture"][0]
        assert all(run for _, run in by_run), f"every outcome of {key} names its run: {by_run}"
        assert {run for action, run in by_run if action == "captured"} == {capture_run}, by_run
        outcome_runs = {run for action, run in by_run if action != "captured"}
        assert outcome_runs <= set(ids["customers_process"]) and outcome_runs, by_run
    version_events = catalog.audit_events("version", "customers/1")
    registered = [event for event in version_events if event.action == "registered"]
    assert registered and registered[0].dagster_run_id is None, "registered by the CLI's own sync, outside a run"
    catalog.engine.dispose()
