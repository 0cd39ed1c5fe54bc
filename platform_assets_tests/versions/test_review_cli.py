"""Review and publication through the command (and so through Dagster), on both state backends.

A version waits, is refused for the wrong role and for four-eyes, approved by an owner, merged at once and
tagged in Iceberg; reject; supersede in snapshot mode; reject-file then approve makes a child with exactly the
approved files' rows; rollback; metrics checked against the audit trail.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from platform_assets.catalog import Catalog
from platform_assets.cli import main
from platform_assets.config import load_config
from platform_assets.storage.iceberg import IcebergTables
from platform_assets.storage.iceberg_tags import PUBLISHED_PROPERTY, PUBLISHED_TAG, published_state
from platform_assets_tests.conftest import write_csv, write_platform_config

REVIEW = {"required": True, "approver_role": "data_owner", "four_eyes": True, "sla_hours": 24}


def review_config(tmp_path: Path, db_url: str, mode: str = "snapshot") -> str:
    landing = tmp_path / "landing"
    landing.mkdir(exist_ok=True)
    product = {
        "name": "customers",
        "source": {"url": f"file://{landing}", "glob": "**/*.csv", "format": "csv"},
        "schema": {
            "columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"},
            "primary_key": ["id"],
        },
        "mode": mode,
        "milestone": "forensic",
        "review": REVIEW,
    }
    path = write_platform_config(tmp_path, db_url, f"file://{landing}", f"file://{tmp_path}/raw", products=[product])
    document = Path(path).read_text() + "roles:\n  data_owner: [carol, dave]\n  steward: [erin]\n"
    Path(path).write_text(document)
    return path


@pytest.fixture
def review_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> str:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return review_config(tmp_path, db_url)


def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, actor: str, *argv: str
) -> tuple[int, dict]:
    monkeypatch.setenv("PLATFORM_ACTOR", actor)
    code = main([*argv, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    return code, json.loads(out[-1])


def land(tmp_path: Path, files: dict[str, list[tuple[str, ...]]]) -> None:
    landing = tmp_path / "landing"
    for old in landing.glob("*.csv"):
        old.unlink()
    for name, rows in files.items():
        write_csv(landing / name, rows)


def statuses(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, config: str) -> dict[int, str]:
    _, listed = cli(capsys, monkeypatch, "auditor", "versions", "customers", "--config", config)
    return {version["number"]: version["status"] for version in listed["versions"]}


def live_ids(tmp_path: Path) -> list[str]:
    engine = create_engine(f"sqlite:///{tmp_path}/merge.db")
    try:
        with engine.connect() as connection:
            return sorted(row[0] for row in connection.execute(text("SELECT id FROM customers_live")))
    finally:
        engine.dispose()


def new_version(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, config: str, actor: str = "carol"
) -> int:
    code, synced = cli(capsys, monkeypatch, actor, "sync", "customers", "--config", config)
    assert code == 0, synced
    code, processed = cli(capsys, monkeypatch, actor, "process", "customers", "--config", config)
    assert code == 0 and processed["status"] == "AWAITING_REVIEW", processed
    return int(synced["version"])


ANN, BOB, CID, DOT = (
    ("1", "Ann", "1.00", "2026-01-01"),
    ("2", "Bob", "2.00", "2026-01-02"),
    ("3", "Cid", "3.00", "2026-01-03"),
    ("4", "Dot", "4.00", "2026-01-04"),
)


def test_the_review_path_through_the_command(
    review_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = review_env
    land(tmp_path, {"a.csv": [ANN, BOB]})
    assert new_version(capsys, monkeypatch, config) == 1
    code, queue = cli(capsys, monkeypatch, "erin", "review", "customers", "--config", config)
    assert code == 0 and [(v["version"], v["files"], v["rows"]) for v in queue["awaiting"]] == [(1, 1, 2)]
    assert queue["awaiting"][0]["files_added"] == ["a.csv"]

    code, refused = cli(capsys, monkeypatch, "erin", "approve", "customers", "1", "--config", config)
    assert code == 1 and "rule approver_role" in refused["error"] and "carol, dave" in refused["error"]
    code, refused = cli(capsys, monkeypatch, "carol", "approve", "customers", "1", "--config", config)
    assert code == 1 and "rule four_eyes" in refused["error"] and "dave" in refused["error"]
    assert statuses(capsys, monkeypatch, config) == {1: "AWAITING_REVIEW"}, "a refusal changes nothing"
    code, merged = cli(capsys, monkeypatch, "carol", "merge", "customers", "--config", config)
    assert code == 1 and "awaits review" in merged["error"] and live_ids(tmp_path) == []

    code, approved = cli(capsys, monkeypatch, "dave", "approve", "customers", "1", "--notes", "ok", "--config", config)
    assert code == 0 and approved["merged"]["batches"] == [1], "the approval merges at once"
    assert statuses(capsys, monkeypatch, config) == {1: "PUBLISHED"} and live_ids(tmp_path) == ["1", "2"]
    platform = load_config(config).platform
    tables = IcebergTables(platform.name, platform.state_db, platform.warehouse)
    table = tables.load(tables.data_table("customers"))
    version, snapshot = published_state(table)
    assert version == 1 and table.properties[PUBLISHED_PROPERTY] == "1"
    assert table.scan(snapshot_id=table.metadata.refs[PUBLISHED_TAG].snapshot_id).to_arrow().num_rows == 2
    assert snapshot is not None

    # reject: v2 never merges
    land(tmp_path, {"a.csv": [ANN, BOB, CID]})
    assert new_version(capsys, monkeypatch, config) == 2
    code, refused = cli(capsys, monkeypatch, "dave", "reject", "customers", "2", "--reason", " ", "--config", config)
    assert code == 1 and "a reason is required" in refused["error"]
    code, rejected = cli(capsys, monkeypatch, "dave", "reject", "customers", "2", "--reason", "bad", "--config", config)
    assert code == 0 and rejected["status"] == "REJECTED"

    # snapshot mode: approving v4 while v3 waits supersedes v3
    land(tmp_path, {"a.csv": [ANN, CID]})
    assert new_version(capsys, monkeypatch, config) == 3
    land(tmp_path, {"a.csv": [ANN, BOB, DOT]})
    assert new_version(capsys, monkeypatch, config) == 4
    code, approved = cli(capsys, monkeypatch, "dave", "approve", "customers", "4", "--config", config)
    assert code == 0 and approved["superseded"] == [3] and approved["merged"]["batches"] == [4]
    assert statuses(capsys, monkeypatch, config) == {1: "SUPERSEDED", 2: "REJECTED", 3: "SUPERSEDED", 4: "PUBLISHED"}
    assert live_ids(tmp_path) == ["1", "2", "4"]

    # reject-file, then approve: a child with exactly the approved file's rows
    land(tmp_path, {"a.csv": [ANN, BOB], "b.csv": [CID, DOT]})
    assert new_version(capsys, monkeypatch, config) == 5
    code, refused = cli(
        capsys, monkeypatch, "erin", "reject-file", "customers", "5", "b.csv", "--reason", "x", "--config", config
    )
    assert code == 1 and "rule approver_role" in refused["error"]
    code, _ = cli(
        capsys, monkeypatch, "dave", "reject-file", "customers", "5", "b.csv", "--reason", "bad", "--config", config
    )
    assert code == 0
    code, queue = cli(capsys, monkeypatch, "erin", "review", "customers", "--config", config)
    assert queue["awaiting"][0]["rejected_files"] == {"b.csv": "bad"}
    code, approved = cli(capsys, monkeypatch, "dave", "approve", "customers", "5", "--config", config)
    assert code == 0 and (approved["child"], approved["carried_files"]) == (6, 1), json.dumps(approved)
    listed = statuses(capsys, monkeypatch, config)
    assert (listed[5], listed[6], listed[4]) == ("SUPERSEDED", "PUBLISHED", "SUPERSEDED")
    assert live_ids(tmp_path) == ["1", "2"], "only the approved file's rows are published"
    catalog = Catalog(platform.state_db)
    parent_files = {f.key: f for f in catalog.review_files("customers", 5)}
    child = catalog.version("customers", 6)
    assert (child.parent, child.origin, child.decided_by) == (5, "review", "dave")
    engine = catalog.engine
    with engine.connect() as connection:
        query = text("SELECT version, raw_location FROM raw_files WHERE key = 'a.csv' AND version >= 5")
        locations = {row[0]: row[1] for row in connection.execute(query)}
    assert locations[6] == locations[5], "the child's file is the parent's raw copy: no byte copied again"
    assert parent_files["b.csv"].rejected_reason == "bad"
    actions = [event.action for event in catalog.audit_events("version", "customers/6")]
    assert actions[0] == "created_from" and "status" in actions

    # rollback: v4's rows again, as a new batch
    code, rolled = cli(capsys, monkeypatch, "carol", "publish", "customers", "--version", "4", "--config", config)
    assert code == 0 and rolled["child"] == 7 and rolled["merged"]["batches"] == [7], rolled
    assert live_ids(tmp_path) == ["1", "2", "4"]
    assert statuses(capsys, monkeypatch, config)[7] == "PUBLISHED"
    code, again = cli(capsys, monkeypatch, "carol", "publish", "customers", "--version", "7", "--config", config)
    assert code == 3 and "published version already" in again["error"]
    table = tables.load(tables.data_table("customers"))
    assert published_state(table)[0] == 7

    # metrics against the audit trail
    code, metrics = cli(capsys, monkeypatch, "erin", "metrics", "customers", "--config", config)
    assert code == 0
    waits, approvals, rejections = [], 0, 0
    for number in range(1, 8):
        events = catalog.audit_events("version", f"customers/{number}")
        entered = [e.at for e in events if e.action == "status" and e.change.get("to") == "AWAITING_REVIEW"]
        approved_at = [e.at for e in events if e.action == "status" and e.change.get("to") == "APPROVED"]
        if entered and approved_at:
            waits.append((approved_at[0] - entered[-1]).total_seconds() / 3600)
            approvals += 1
        rejections += any(e.change.get("to") == "REJECTED" for e in events)
    superseded = sum(1 for status in statuses(capsys, monkeypatch, config).values() if status == "SUPERSEDED")
    assert (metrics["created"], metrics["approved"], metrics["rejected"], metrics["superseded"]) == (
        7,
        approvals,
        rejections,
        superseded,
    )
    assert approvals == 3 and rejections == 1 and superseded == 5  # v1, v3, v4, v5 and v6
    assert metrics["approve_hours_max"] == pytest.approx(max(waits), abs=1e-3)
    assert metrics["approve_hours_median"] == pytest.approx(statistics.median(waits), abs=1e-3)
    assert metrics["waiting_now"] == 0 and metrics["published_version"] == 7
    engine.dispose()


def test_incremental_mode_refuses_out_of_order_and_rollback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    config = review_config(tmp_path, db_url, mode="incremental")
    write_csv(tmp_path / "landing" / "a.csv", [ANN])
    assert new_version(capsys, monkeypatch, config) == 1
    write_csv(tmp_path / "landing" / "b.csv", [BOB])
    assert new_version(capsys, monkeypatch, config) == 2
    code, refused = cli(capsys, monkeypatch, "dave", "approve", "customers", "2", "--config", config)
    assert code == 1 and "decide version 1 first" in refused["error"].lower()
    assert statuses(capsys, monkeypatch, config) == {1: "AWAITING_REVIEW", 2: "AWAITING_REVIEW"}
    assert cli(capsys, monkeypatch, "dave", "approve", "customers", "1", "--config", config)[0] == 0
    code, approved = cli(capsys, monkeypatch, "dave", "approve", "customers", "2", "--config", config)
    assert code == 0 and approved["merged"]["batches"] == [2]
    assert statuses(capsys, monkeypatch, config) == {1: "SUPERSEDED", 2: "PUBLISHED"}
    assert live_ids(tmp_path) == ["1", "2"]
    code, refused = cli(capsys, monkeypatch, "dave", "publish", "customers", "--version", "1", "--config", config)
    assert code == 1 and "incremental" in refused["error"]
