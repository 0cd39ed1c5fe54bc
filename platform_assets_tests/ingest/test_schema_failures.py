"""A schema error stops a version's processing for good: the version ends FAILED with the reason, not PROCESSING."""

from __future__ import annotations

from pathlib import Path

import pytest

from platform_assets.config import load_config
from platform_assets.errors import SchemaMismatch, UserError
from platform_assets.ingest.parsing.inference import InferenceError
from platform_assets.platform import Platform
from platform_assets_tests.conftest import write_platform_config
from platform_assets_tests.ingest.test_processing import FAST_RETRIES, capture, customer_rows, make_platform

COLUMNS = {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"}


def _customers(columns: dict[str, str]) -> dict:
    return {
        "name": "customers",
        "source": {"url": "", "glob": "**/*.csv", "format": "csv"},
        "schema": {"columns": columns, "primary_key": ["id"]},
        "mode": "snapshot",
        "milestone": "forensic",
    }


def _platform(tmp_path: Path, db_url: str, columns: dict[str, str]) -> Platform:
    product = _customers(columns)
    product["source"]["url"] = f"file://{tmp_path}/landing"
    (tmp_path / "landing").mkdir(exist_ok=True)
    path = write_platform_config(
        tmp_path,
        db_url,
        f"file://{tmp_path}/landing",
        f"file://{tmp_path}/raw",
        products=[product],
        extra_platform=FAST_RETRIES,
    )
    return Platform(load_config(path), actor="test")


def test_a_declared_narrowing_fails_the_version_with_the_reason(tmp_path: Path, db_url: str) -> None:
    platform = _platform(tmp_path, db_url, COLUMNS)
    first = capture(platform, {"a.csv": customer_rows(0, 2)})
    assert platform.process("customers", first).version_status == "PROCESSED"
    narrowed = _platform(tmp_path, db_url, {**COLUMNS, "amount": "decimal(10,2)"})
    second = capture(narrowed, {"b.csv": customer_rows(2, 2)})

    with pytest.raises(SchemaMismatch) as raised:
        narrowed.process("customers", second)

    version = narrowed.catalog.version("customers", second)
    assert version.status == "FAILED", "not left PROCESSING"
    assert version.status_reason == str(raised.value)
    assert "'amount' narrows from decimal(12,2) to decimal(10,2)" in str(raised.value)
    assert "declare amount: decimal(12,2) again" in str(raised.value)
    events = narrowed.catalog.audit_events("version", f"customers/{second}")
    assert events[-1].change == {"from": "PROCESSING", "to": "FAILED", "reason": str(raised.value)}

    restored = _platform(tmp_path, db_url, COLUMNS)
    report = restored.process("customers", second)
    assert report.version_status == "PROCESSED" and report.version_rows == 4  # a snapshot: a.csv and b.csv
    assert restored.catalog.version("customers", second).status_reason is None, "the reason goes with the status"


def test_unusable_inferred_header_names_fail_the_version_with_the_reason(tmp_path: Path, db_url: str) -> None:
    products = [
        {
            "name": "events",
            "source": {"url": f"file://{tmp_path}/landing", "glob": "*.csv", "format": "csv"},
            "mode": "incremental",
        }
    ]
    platform = make_platform(tmp_path, db_url, products=products)
    version = capture(platform, {"a.csv": "id,bad name,_version\n1,x,2\n"}, product="events")

    with pytest.raises(InferenceError) as raised:
        platform.process("events", version)

    assert isinstance(raised.value, UserError)
    record = platform.catalog.version("events", version)
    assert record.status == "FAILED" and record.status_reason == str(raised.value)
    assert "bad name" in str(raised.value) and "_version" in str(raised.value)
    assert platform.catalog.newest_unprocessed("events") == version, "a FAILED version may be processed again"
