"""Retention through the command, on both state backends, local and S3 (moto) raw zones: the dry run lists
exactly what ``--apply`` then purges; a published version, a once-published one and the newest ``keep_last``
survive; a purged version's raw copies and Iceberg rows are gone, its rows PURGED with who and when, audited; a
purge killed after its raw deletes is finished by the next run; copies a child version shares stay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pyiceberg.expressions import EqualTo
from sqlalchemy import create_engine, select, text

from platform_assets.catalog.db import transaction
from platform_assets.catalog.errors import RetentionStateError, VersionNotReady
from platform_assets.catalog.models import RawFile
from platform_assets.cli import main
from platform_assets.platform import Platform
from platform_assets.versions.deletion import delete_version, restore_version
from platform_assets.versions.purge import run_retention
from platform_assets.versions.review import ReviewOptions, approve, reject_file
from platform_assets_tests.versions.retention_support import (
    captured,
    make_platform,
    processed,
    published,
    rows,
    set_version,
    statuses,
)

RETENTION = {"keep_last": 2, "unpublished_days": 30, "deleted_days": 7}


def five_versions(platform: Platform) -> None:
    """v1 published then superseded by v4; v2 excluded; v3 deleted 8 days ago; v4 published; v5 captured; all
    created 40 days ago."""
    services, product = platform.services, platform.product("customers")
    published(platform, {"a.csv": rows(0)})
    processed(platform, {"a.csv": rows(0), "b.csv": rows(10)})
    platform.exclude("customers", 2, "wrong extract")
    processed(platform, {"a.csv": rows(0), "c.csv": rows(20)})
    delete_version(services, product, 3, "duplicate delivery")
    published(platform, {"a.csv": rows(0), "d.csv": rows(30)})
    captured(platform, {"a.csv": rows(0), "e.csv": rows(40)})
    for number in range(1, 6):
        set_version(platform, number, created_at=datetime.now(UTC) - timedelta(days=40))
    set_version(platform, 3, deleted_at=datetime.now(UTC) - timedelta(days=8))


def cli_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict]:
    code = main([*argv, "--json"])
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def version_rows(platform: Platform, number: int) -> int:
    table = platform.services.iceberg.load("alpha.customers")
    return table.scan(row_filter=EqualTo(term="_version", value=number)).to_arrow().num_rows


def raw_keys(platform: Platform) -> set[str]:
    return {info.key for info in platform.services.raw_zone.iter_objects("customers/**")}


def merge_rows(tmp_path: Path) -> int:
    engine = create_engine(f"sqlite:///{tmp_path}/merge.db")
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT COUNT(*) FROM customers_merge")).scalar_one())
    finally:
        engine.dispose()


def check_purged(platform: Platform, tmp_path: Path, merged_rows: int) -> None:
    """v2 and v3 purged, the rest untouched (see five_versions)."""
    assert statuses(platform) == {1: "SUPERSEDED", 2: "PURGED", 3: "PURGED", 4: "PUBLISHED", 5: "CAPTURED"}
    keys = raw_keys(platform)
    assert {key.split("/")[1] for key in keys} == {"v1", "v4", "v5"}
    assert [version_rows(platform, number) for number in range(1, 6)] == [2, 0, 0, 4, 0]
    assert merge_rows(tmp_path) == merged_rows, "the merge table keeps its history"
    for number in (2, 3):
        record = platform.catalog.version("customers", number)
        assert record.purged_by == "keeper" and record.purged_at is not None
        actions = [event.action for event in platform.catalog.audit_events("version", f"customers/{number}")]
        assert actions[-2:] == ["purge_started", "purged"]
    with transaction(platform.catalog.engine) as session:
        files = session.execute(select(RawFile.version, RawFile.status).where(RawFile.version.in_([2, 3]))).all()
    assert {status for _, status in files} == {"DELETED"} and len(files) == 4
    with pytest.raises(RetentionStateError, match="cannot be restored"):
        restore_version(platform.services, platform.product("customers"), 3)


def test_dry_run_then_apply_on_an_s3_raw_zone(
    tmp_path: Path, db_url: str, moto_server: str, s3_bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    platform = make_platform(tmp_path, db_url, s3=(moto_server, s3_bucket), actor="keeper", retention=RETENTION)
    five_versions(platform)
    config = str(platform.config.source_path)
    merged_rows = merge_rows(tmp_path)
    before = raw_keys(platform)

    code, dry = cli_json(capsys, "retention", "customers", "--config", config)
    assert code == 0 and not dry["applied"]
    chosen = [(item["version"], item["rule"]) for item in dry["candidates"]]
    assert chosen == [(2, "unpublished_days"), (3, "deleted_days")]
    assert {item["version"]: item["reason"] for item in dry["kept"]} == {
        1: "was published before: kept until someone deletes it",
        4: "published: never purged",
        5: "one of the newest 2 versions (keep_last)",
    }
    assert raw_keys(platform) == before, "a dry run changes nothing"

    os.environ["PLATFORM_ACTOR"] = "keeper"
    try:
        code, applied = cli_json(capsys, "retention", "customers", "--apply", "--config", config)
    finally:
        del os.environ["PLATFORM_ACTOR"]
    assert code == 0 and applied["applied"]
    assert [item["version"] for item in applied["purged"]] == [item["version"] for item in dry["candidates"]]
    assert [(item["raw_copies_deleted"], item["rows_deleted"]) for item in applied["purged"]] == [(2, 4), (2, 4)]
    check_purged(platform, tmp_path, merged_rows)
    again = run_retention(platform.services, platform.product("customers"), apply=True)
    assert again.plan.candidates == [] and again.purged == [] and again.plan.purged_before == [2, 3]


def test_a_purge_killed_after_its_raw_deletes_is_finished_by_the_next_run(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url, actor="keeper", retention=RETENTION)
    five_versions(platform)
    merged_rows = merge_rows(tmp_path)
    command = [sys.executable, "-m", "platform_assets.cli", "retention", "customers", "--apply"]
    env = {**os.environ, "PLATFORM_FAILPOINTS": "retention.after_raw_delete", "PLATFORM_ACTOR": "keeper"}
    crashed = subprocess.run(
        [*command, "--config", str(platform.config.source_path)], env=env, capture_output=True, text=True, timeout=120
    )
    assert crashed.returncode == 86, crashed.stderr
    assert statuses(platform)[2] == "PROCESSED", "not PURGED yet"
    assert platform.catalog.version("customers", 2).purge_started_at is not None
    assert platform.catalog.version("customers", 3).purge_started_at is not None
    assert not any(key.startswith("customers/v2/") for key in raw_keys(platform)), "v2's copies went before the kill"
    assert version_rows(platform, 2) == 4, "its Iceberg rows not yet"
    with pytest.raises(VersionNotReady, match="PURGED by retention .*its data is gone; it is not processed"):
        platform.process("customers", 2, reprocess=True)

    dry = run_retention(platform.services, platform.product("customers"), apply=False)
    assert dry.plan.rules == {2: "unfinished_purge", 3: "unfinished_purge"}
    report = run_retention(platform.services, platform.product("customers"), apply=True)
    assert [(item.version, item.raw_copies_deleted, item.rows_deleted) for item in report.purged] == [
        (2, 2, 4),  # its copies count as deleted: they are gone, by the killed run
        (3, 2, 4),
    ]
    check_purged(platform, tmp_path, merged_rows)


def test_copies_a_child_version_carries_survive_the_purge_of_its_parent(tmp_path: Path, db_url: str) -> None:
    review = {"required": True, "approver_role": "data_owner"}
    retention = {"keep_last": 1, "unpublished_days": 0}
    platform = make_platform(tmp_path, db_url, roles={"data_owner": ["carol"]}, review=review, retention=retention)
    services, product = platform.services.acting_as("carol"), platform.product("customers")
    parent = processed(platform, {"a.csv": rows(0), "b.csv": rows(10)})
    options = ReviewOptions(("carol",), "b is wrong")
    reject_file(services, product, parent, "b.csv", options)
    child = approve(services, product, parent, ReviewOptions(("carol",), None)).child
    assert child is not None
    platform.process("customers", child)
    platform.merge("customers", child)
    assert statuses(platform) == {parent: "SUPERSEDED", child: "PUBLISHED"}

    report = run_retention(platform.services, product, apply=True)
    assert [(item.version, item.raw_copies_deleted, item.raw_copies_shared) for item in report.purged] == [(1, 1, 1)]
    assert raw_keys(platform) == {"customers/v1/a.csv"}, "the child reads its parent's copy of a.csv"
    assert [item.version for item in run_retention(platform.services, product, apply=True).purged] == []


def parquet_files(tmp_path: Path, number: int) -> list[Path]:
    return sorted((tmp_path / "warehouse").rglob(f"_version={number}/*.parquet"))


def test_purged_parquet_files_go_once_no_retained_snapshot_references_them(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url, retention={"keep_last": 1, "unpublished_days": 30})
    published(platform, {"a.csv": rows(0)})  # the tag `published` holds v1's snapshot only
    processed(platform, {"a.csv": rows(1)})
    platform.exclude("customers", 2, "bad")
    processed(platform, {"a.csv": rows(2)})
    set_version(platform, 2, created_at=datetime.now(UTC) - timedelta(days=40))
    assert parquet_files(tmp_path, 2)

    first = run_retention(platform.services, platform.product("customers"), apply=True)
    assert [item.version for item in first.purged] == [2]
    assert version_rows(platform, 2) == 0
    assert first.data_files_deleted == 0 and parquet_files(tmp_path, 2), "snapshots within retention still read them"

    tomorrow = datetime.now(UTC) + timedelta(days=1)  # past processing.snapshot_retention_seconds
    later = run_retention(platform.services, platform.product("customers"), apply=True, now=tomorrow)
    assert later.purged == [] and later.snapshots_expired >= 1
    assert later.data_files_deleted == 1 and parquet_files(tmp_path, 2) == []
    assert parquet_files(tmp_path, 1) and parquet_files(tmp_path, 3), "files of versions kept stay"
    assert [version_rows(platform, number) for number in (1, 2, 3)] == [2, 0, 2]
    table = platform.services.iceberg.load("alpha.customers")
    published_rows = table.scan(snapshot_id=table.metadata.refs["published"].snapshot_id).to_arrow()
    assert published_rows.num_rows == 2, "the tagged snapshot still reads"


def test_a_product_without_versions_has_nothing_to_purge(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url)
    report = run_retention(platform.services, platform.product("customers"), apply=True)
    assert (report.plan.candidates, report.plan.kept, report.purged) == ([], [], [])
