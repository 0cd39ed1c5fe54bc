"""Soft delete and restore, on both state backends: the round trip, the refusals, and a deleted version skipped
by version resolution, the merge order and review."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platform_assets.catalog.errors import RetentionStateError, VersionNotFound, VersionNotReady
from platform_assets.cli import main
from platform_assets.merge.versions import pending_merges
from platform_assets.versions.deletion import delete_version, restore_version
from platform_assets.versions.resolution import NothingToProcess, resolve_version
from platform_assets.versions.review import ReviewOptions, ReviewRefused, approve
from platform_assets.versions.review_report import review_queue
from platform_assets_tests.versions.retention_support import (
    captured,
    make_platform,
    processed,
    published,
    rows,
    statuses,
)


def test_delete_and_restore_round_trip_and_the_refusals(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url)
    services, product = platform.services, platform.product("customers")
    first = published(platform, {"a.csv": rows(0)})
    with pytest.raises(RetentionStateError, match="is PUBLISHED: .* cannot be deleted; publish another version first"):
        delete_version(services, product, first, "old")
    second = processed(platform, {"a.csv": rows(0), "b.csv": rows(10)})

    result = delete_version(services, product, second, "bad extract")
    assert (result.status, result.previous_status, result.actor) == ("DELETED", "PROCESSED", "test")
    record = platform.catalog.version("customers", second)
    assert (record.deleted_by, record.delete_reason, record.status_before_delete) == (
        "test",
        "bad extract",
        "PROCESSED",
    )
    assert record.deleted_at is not None
    with pytest.raises(RetentionStateError, match="deleted already .*restore-version customers 2"):
        delete_version(services, product, second, "again")
    with pytest.raises(RetentionStateError, match="a reason is required"):
        delete_version(services, product, first, " ")
    with pytest.raises(VersionNotFound, match="has no version 9"):
        delete_version(services, product, 9, "nope")

    back = restore_version(services, product, second)
    assert (back.status, back.excluded_reason) == ("PROCESSED", None)
    record = platform.catalog.version("customers", second)
    assert (record.status, record.deleted_at, record.deleted_by, record.status_before_delete) == (
        "PROCESSED",
        None,
        None,
        None,
    )
    with pytest.raises(RetentionStateError, match="is PROCESSED, not DELETED: there is nothing to restore"):
        restore_version(services, product, second)
    events = platform.catalog.audit_events("version", f"customers/{second}")
    deleted, restored = [event for event in events if event.action in ("deleted", "restored")]
    assert deleted.change == {"from": "PROCESSED", "to": "DELETED", "reason": "bad extract"}
    assert restored.change["to"] == "PROCESSED" and restored.actor == "test"


def test_a_deleted_version_is_skipped_by_resolution_and_merge(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url)
    services, product = platform.services, platform.product("customers")
    first = published(platform, {"a.csv": rows(0)})
    second = captured(platform, {"a.csv": rows(0), "b.csv": rows(10)})
    assert resolve_version(platform.catalog, "customers", None) == second
    delete_version(services, product, second, "wrong files")
    with pytest.raises(NothingToProcess):
        resolve_version(platform.catalog, "customers", None)
    with pytest.raises(VersionNotReady, match="is DELETED .*restore-version customers 2.*; it is not processed"):
        platform.process("customers", second)

    third = processed(platform, {"a.csv": rows(0), "c.csv": rows(20)})
    assert pending_merges(services, product) == [third], "the deleted v2 does not hold v3 back"
    platform.merge("customers", third)
    assert statuses(platform) == {first: "SUPERSEDED", second: "DELETED", third: "PUBLISHED"}

    back = restore_version(services, product, second)
    assert back.status == "CAPTURED"
    assert back.excluded_reason == "restored after v3 merged: it can no longer merge in order"
    assert platform.catalog.version("customers", second).excluded
    assert pending_merges(services, product) == []


def test_a_deleted_version_leaves_the_review_queue_and_cannot_be_approved(tmp_path: Path, db_url: str) -> None:
    review = {"required": True, "approver_role": "data_owner"}
    platform = make_platform(tmp_path, db_url, roles={"data_owner": ["carol"]}, review=review)
    services, product = platform.services, platform.product("customers")
    waiting = processed(platform, {"a.csv": rows(0)})
    assert [item.version for item in review_queue(services, product)] == [waiting]
    delete_version(services, product, waiting, "not this one")
    assert review_queue(services, product) == []
    with pytest.raises(ReviewRefused, match="rule state: version 1 of customers is DELETED"):
        approve(services.acting_as("carol"), product, waiting, ReviewOptions(("carol",), None))
    assert restore_version(services, product, waiting).status == "AWAITING_REVIEW"
    assert [item.version for item in review_queue(services, product)] == [waiting]


def test_the_commands_delete_and_restore_with_json(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = make_platform(tmp_path, db_url)
    config = str(platform.config.source_path)
    first = published(platform, {"a.csv": rows(0)})
    second = processed(platform, {"a.csv": rows(1)})
    monkeypatch.setenv("PLATFORM_ACTOR", "erin")

    assert main(["delete-version", "customers", str(first), "--reason", "x", "--config", config, "--json"]) == 1
    refused = json.loads(capsys.readouterr().out)
    assert refused["kind"] == "user" and "PUBLISHED" in refused["error"]

    assert main(["delete-version", "customers", str(second), "--reason", "typo", "--config", config, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload | {"version": second} == payload and payload["status"] == "DELETED" and payload["actor"] == "erin"
    assert main(["versions", "customers", "--config", config]) == 0
    line = capsys.readouterr().out.splitlines()[2]
    assert " DELETED " in line and line.endswith("(deleted by erin: typo)"), line
    assert main(["restore-version", "customers", str(second), "--config", config]) == 0
    assert "restored by erin: PROCESSED again" in capsys.readouterr().out
