"""A capture that failed because the source changed under it is superseded by the next sync; `run` goes on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platform_assets.catalog.states import VersionStatus
from platform_assets.cli import main
from platform_assets.platform import Platform
from platform_assets_tests.conftest import customers_product, write_csv
from platform_assets_tests.ingest.test_processing import landing_of, make_platform


def _row(key: str, name: str) -> tuple[str, str, str, str]:
    return (key, name, "1.00", "2026-01-01")


def _incremental(tmp_path: Path, db_url: str) -> Platform:
    product = customers_product(f"file://{tmp_path}/landing", mode="incremental", milestone="live_only")
    return make_platform(tmp_path, db_url, products=[product])


def test_run_supersedes_a_capture_the_source_changed_under_and_goes_on(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    platform = make_platform(tmp_path, db_url)
    landing = landing_of(platform)
    write_csv(landing / "a.csv", [_row("1", "Ann")])
    write_csv(landing / "b.csv", [_row("2", "Bob")])
    stale = platform.sync("customers")
    assert stale is not None
    write_csv(landing / "b.csv", [_row("2", "Bobby"), _row("3", "Cy")])  # changed between discovery and capture
    assert platform.capture("customers", stale.number).status == "CAPTURE_FAILED"
    assert platform.process("customers", stale.number).version_status == "FAILED", "what an earlier `run` left"

    code = main(["run", "customers", "--config", str(platform.config.source_path), "--json"])
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    assert code == 0 and report["ok"], report
    assert [step["version"] for step in report["processed"]] == [2] and report["merged"] == [2]
    assert report["live_rows"] == 3
    old = platform.catalog.version("customers", stale.number)
    assert old.status is VersionStatus.SUPERSEDED
    assert old.status_reason is not None and "b.csv" in old.status_reason and "superseded by v2" in old.status_reason
    event = platform.catalog.audit_events("version", f"customers/{stale.number}")[-1]
    assert (event.change["from"], event.change["to"], event.change["superseded_by"]) == ("FAILED", "SUPERSEDED", 2)
    registered = platform.catalog.audit_events("version", "customers/2")[0]
    assert registered.action == "registered" and registered.change["supersedes"] == [1]

    assert main(["run", "customers", "--config", str(platform.config.source_path)]) == 0, "and again: nothing stops it"


def test_incremental_successor_takes_the_stale_versions_files_still_at_the_source(tmp_path: Path, db_url: str) -> None:
    platform = _incremental(tmp_path, db_url)
    landing = landing_of(platform)
    write_csv(landing / "a.csv", [_row("1", "Ann")])
    write_csv(landing / "b.csv", [_row("2", "Bob")])
    assert platform.sync("customers") is not None
    (landing / "b.csv").unlink()  # deleted between discovery and capture
    assert platform.capture("customers", 1).status == "CAPTURE_FAILED"

    successor = platform.sync("customers")

    assert successor is not None and successor.superseded == (1,)
    assert (successor.number, successor.files, successor.changed) == (2, 1, 1), "a.csv is captured again, b.csv gone"
    assert platform.catalog.version("customers", 1).status is VersionStatus.SUPERSEDED
    assert platform.capture("customers", 2).status == "CAPTURED"
    assert platform.process("customers", 2).version_rows == 1
    assert platform.merge("customers", 2).inserted == 1, "batch 1 is out of the merge order"
    assert platform.sync("customers") is None, "the source is unchanged since v2"


def test_a_stale_capture_with_nothing_left_at_the_source_is_superseded_without_a_new_version(
    tmp_path: Path, db_url: str
) -> None:
    platform = _incremental(tmp_path, db_url)
    landing = landing_of(platform)
    write_csv(landing / "a.csv", [_row("1", "Ann")])
    assert platform.sync("customers") is not None
    assert platform.capture("customers", 1).status == "CAPTURED"
    write_csv(landing / "b.csv", [_row("2", "Bob")])
    assert platform.sync("customers") is not None
    (landing / "b.csv").unlink()
    assert platform.capture("customers", 2).status == "CAPTURE_FAILED"

    assert platform.sync("customers") is None

    record = platform.catalog.version("customers", 2)
    assert record.status is VersionStatus.SUPERSEDED and "nothing new is left" in (record.status_reason or "")
    assert platform.catalog.newest_unprocessed("customers") == 1
