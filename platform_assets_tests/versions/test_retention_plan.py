"""Retention's plan, pure: each rule on hand-built version records at a chosen ``now`` (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from platform_assets.catalog.records import VersionRecord
from platform_assets.catalog.states import CaptureMode, VersionOrigin, VersionStatus
from platform_assets.config import ConfigError, RetentionSettings, parse_config
from platform_assets.versions.retention import DELETED, UNFINISHED, UNPUBLISHED, plan_retention

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
S = VersionStatus


def record(number: int, status: VersionStatus, age_days: float = 100, **fields: Any) -> VersionRecord:
    values: dict[str, Any] = dict.fromkeys(
        (
            "parent",
            "captured_at",
            "processed_at",
            "status_reason",
            "awaiting_since",
            "decision",
            "decided_by",
            "decided_at",
            "decision_notes",
            "published_at",
            "deleted_at",
            "deleted_by",
            "delete_reason",
            "status_before_delete",
            "purge_started_at",
            "purge_rule",
            "purged_at",
            "purged_by",
        )
    )
    values.update(files=1, bytes=1, new=1, changed=0, removed=0, excluded=False, origin=VersionOrigin.SOURCE)
    values.update(fields)
    return VersionRecord(
        number=number, mode=CaptureMode.SNAPSHOT, status=status, created_at=NOW - timedelta(days=age_days), **values
    )


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def test_each_rule_selects_its_versions_and_says_why_the_others_stay() -> None:
    records = [
        record(1, S.REJECTED, excluded=True),
        record(2, S.SUPERSEDED, excluded=True),  # superseded before it was ever published
        record(3, S.SUPERSEDED, published_at=days_ago(90)),  # published once: kept
        record(4, S.FAILED),
        record(5, S.CAPTURE_FAILED, age_days=10),  # too young
        record(6, S.PROCESSED, excluded=True),  # a user excluded it
        record(7, S.DELETED, deleted_at=days_ago(8), status_before_delete=S.PROCESSED),
        record(8, S.DELETED, deleted_at=days_ago(2), status_before_delete=S.PROCESSED),
        record(9, S.PUBLISHED, published_at=days_ago(50)),
        record(10, S.APPROVED),
        record(11, S.PURGED),
        record(12, S.REJECTED, excluded=True),  # newest two: keep_last
        record(13, S.DELETED, deleted_at=days_ago(30)),
    ]
    plan = plan_retention("customers", records, RetentionSettings(keep_last=2), NOW)
    assert plan.rules == {1: UNPUBLISHED, 2: UNPUBLISHED, 4: UNPUBLISHED, 6: UNPUBLISHED, 7: DELETED}
    kept = {item.version: item.reason for item in plan.kept}
    assert set(kept) == {3, 5, 8, 9, 10, 12, 13}
    assert kept[3] == "was published before: kept until someone deletes it"
    assert kept[9] == "published: never purged"
    assert kept[12] == kept[13] == "one of the newest 2 versions (keep_last)"
    assert "purged after 30 days (unpublished_days)" in kept[5]
    assert "purged after 7 days (deleted_days)" in kept[8]
    assert kept[10] == "APPROVED: it may still be published"
    assert plan.purged_before == [11]
    assert next(item for item in plan.kept if item.version == 8).purge_after == days_ago(2) + timedelta(days=7)
    assert "excluded" in next(c for c in plan.candidates if c.version == 6).reason


def test_the_iceberg_tag_protects_its_version_and_an_unfinished_purge_is_always_finished() -> None:
    records = [
        record(1, S.SUPERSEDED, excluded=True),
        record(2, S.FAILED, age_days=1, purge_started_at=days_ago(0.1), purge_rule=UNPUBLISHED),
        record(3, S.PROCESSED),
        record(4, S.PROCESSED),
    ]
    plan = plan_retention("customers", records, RetentionSettings(keep_last=1), NOW, published_in_iceberg=1)
    assert plan.rules == {2: UNFINISHED}
    assert [item.version for item in plan.kept] == [1, 3, 4]


def test_time_decides_at_the_boundary() -> None:
    settings = RetentionSettings(keep_last=1, unpublished_days=30)
    records = [record(1, S.REJECTED, age_days=30), record(2, S.REJECTED, age_days=30.01), record(3, S.PROCESSED)]
    assert plan_retention("customers", records, settings, NOW).rules == {2: UNPUBLISHED}
    assert plan_retention("customers", records, settings, NOW + timedelta(minutes=1)).rules == {
        1: UNPUBLISHED,
        2: UNPUBLISHED,
    }


def test_zero_days_purges_at_once_and_the_plan_is_json() -> None:
    settings = RetentionSettings(keep_last=1, unpublished_days=0, deleted_days=0)
    records = [
        record(1, S.DELETED, deleted_at=days_ago(0.001)),
        record(2, S.FAILED, age_days=0.001),
        record(3, S.FAILED),
    ]
    plan = plan_retention("customers", records, settings, NOW)
    assert plan.rules == {1: DELETED, 2: UNPUBLISHED}
    data = plan.as_json()
    assert data["settings"] == {"keep_last": 1, "unpublished_days": 0, "deleted_days": 0, "apply": False}
    assert [item["version"] for item in data["candidates"]] == [1, 2]


def _config(retention: object) -> dict[str, Any]:
    return {
        "platform": {
            "name": "alpha",
            "state_db": "sqlite:///s.db",
            "raw_zone": "file:///r",
            "warehouse": "file:///w",
            "merge_store": "sqlite:///m.db",
        },
        "products": [
            {"name": "c", "source": {"url": "file:///l", "glob": "*.csv", "format": "csv"}, "retention": retention}
        ],
    }


def test_config_defaults_and_clear_errors() -> None:
    assert parse_config(_config({})).products[0].retention == RetentionSettings(
        keep_last=10, unpublished_days=30, deleted_days=7, apply=False
    )
    with pytest.raises(ConfigError) as error:
        parse_config(_config({"keep_last": 0, "deleted_days": -1, "apply": "maybe", "days": 3}))
    message = str(error.value)
    assert "retention.keep_last: Input should be greater than or equal to 1 (got 0)" in message
    assert "retention.deleted_days: Input should be greater than or equal to 0 (got -1)" in message
    assert "retention.apply: Input should be a valid boolean" in message
    assert "retention.days: unknown key; allowed here: keep_last, unpublished_days, deleted_days, apply" in message
