"""Capture: copies into the raw zone, crash and resume, vanished objects, unsafe keys, empty files."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import boto3
from sqlalchemy import select

from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import AuditEvent, RawFile, Version
from platform_assets.config import load_config
from platform_assets.ingest.capture import raw_key
from platform_assets.platform import Platform
from platform_assets_tests.conftest import write_csv, write_platform_config


def _landing(platform: Platform) -> Path:
    return Path(platform.product("customers").source.url.removeprefix("file://"))


def _files(platform: Platform, version: int) -> list[RawFile]:
    with transaction(platform.catalog.engine) as session:
        return list(session.scalars(select(RawFile).where(RawFile.version == version).order_by(RawFile.key)))


def _assert_catalog_matches_raw_zone(platform: Platform, version: int) -> None:
    """Every CAPTURED row has its raw copy with the recorded sha256; the raw zone holds nothing else."""
    files = _files(platform, version)
    raw_keys = {o.key for o in platform.services.raw_zone.iter_objects(f"customers/v{version}/**")}
    captured = [f for f in files if f.status == "CAPTURED"]
    assert raw_keys == {raw_key("customers", version, f.key) for f in captured}
    for row in captured:
        key = raw_key("customers", version, row.key)
        assert row.raw_location == platform.services.raw_zone.uri(key)
        assert row.sha256 == hashlib.sha256(platform.services.raw_zone.read_bytes(key)).hexdigest()


def test_capture_copies_and_catalogues_each_file(local_platform: Platform) -> None:
    landing = _landing(local_platform)
    write_csv(landing / "a.csv", [("1", "x", "1.00", "2026-01-01")])
    write_csv(landing / "sub" / "b.csv", [("2", "y", "2.00", "2026-01-02")])
    (landing / "empty.csv").write_bytes(b"")
    version = local_platform.sync("customers")
    assert version is not None
    result = local_platform.capture("customers", version.number)
    assert result.status == "CAPTURED" and result.copied_now == 3 and result.failed == {}
    assert result.empty_files == ["empty.csv"], "zero-byte files are captured and flagged"
    rows = _files(local_platform, 1)
    assert [(r.key, r.status, r.is_empty) for r in rows] == [
        ("a.csv", "CAPTURED", False),
        ("empty.csv", "CAPTURED", True),
        ("sub/b.csv", "CAPTURED", False),
    ]
    _assert_catalog_matches_raw_zone(local_platform, 1)
    again = local_platform.capture("customers", 1)
    assert again.copied_now == 0 and again.already_captured == 3
    with transaction(local_platform.catalog.engine) as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "raw_file"))]
        assert actions.count("captured") == 3


def test_vanished_object_fails_only_that_file(local_platform: Platform) -> None:
    landing = _landing(local_platform)
    for name in ("a", "b", "c"):
        write_csv(landing / f"{name}.csv", [(name, "n", "1.00", "2026-01-01")])
    local_platform.sync("customers")
    (landing / "b.csv").unlink()
    result = local_platform.capture("customers", 1)
    assert result.status == "CAPTURE_FAILED"
    assert list(result.failed) == ["b.csv"] and "gone or changed at the source" in result.failed["b.csv"]
    statuses = {r.key: (r.status, r.error_type) for r in _files(local_platform, 1)}
    assert statuses == {"a.csv": ("CAPTURED", None), "b.csv": ("FAILED", "vanished"), "c.csv": ("CAPTURED", None)}
    _assert_catalog_matches_raw_zone(local_platform, 1)


def test_object_changed_after_listing_is_not_captured_under_the_old_etag(local_platform: Platform) -> None:
    landing = _landing(local_platform)
    write_csv(landing / "a.csv", [("1", "n", "1.00", "2026-01-01")])
    local_platform.sync("customers")
    write_csv(landing / "a.csv", [("1", "changed-and-longer", "1.00", "2026-01-01")])
    result = local_platform.capture("customers", 1)
    assert list(result.failed) == ["a.csv"]


def _run_capture_subprocess(config_path: str, failpoints: str) -> subprocess.CompletedProcess[str]:
    code = (
        "from platform_assets.platform import Platform\n"
        f"p = Platform.from_path({config_path!r})\n"
        "v = p.sync('customers')\n"
        "from platform_assets.catalog.db import transaction\n"
        "print(p.capture('customers', 1).status)\n"
    )
    env = {**os.environ, "PLATFORM_FAILPOINTS": failpoints}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_capture_crash_then_rerun_resumes_the_same_version(tmp_path: Path, db_url: str) -> None:
    landing = tmp_path / "landing"
    for index in range(150):  # three copy chunks of 64
        write_csv(landing / f"{index:03d}.csv", [(str(index), "n", "1.00", "2026-01-01")])
    path = write_platform_config(tmp_path, db_url, f"file://{landing}", f"file://{tmp_path}/raw")
    crashed = _run_capture_subprocess(path, "capture.after_object_copy=2")
    assert crashed.returncode == 86, crashed.stderr
    platform = Platform(load_config(path))
    rows = _files(platform, 1)
    assert sum(r.status == "CAPTURED" for r in rows) == 64, (
        "the first chunk was recorded, the second copied but not recorded"
    )
    assert platform.sync("customers") is None, "the interrupted version is resumed, not replaced by a new one"
    result = platform.capture("customers", 1)
    assert result.status == "CAPTURED" and result.copied_now == 86 and result.already_captured == 64
    _assert_catalog_matches_raw_zone(platform, 1)
    with transaction(platform.catalog.engine) as session:
        assert list(session.scalars(select(Version.number))) == [1]
        captured_events = session.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == "captured")).all()
        assert len(captured_events) == len(set(captured_events)) == 150, "each file captured once"


def test_s3_capture_refuses_keys_that_would_escape_the_raw_zone(
    tmp_path: Path, db_url: str, moto_server: str, s3_bucket: str
) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    keys = ["in/good.csv", "in/../../escape.csv", "in/ctl\x07.csv", "in/empty.csv"]
    for key in keys:
        s3.put_object(
            Bucket=s3_bucket, Key=key, Body=b"" if "empty" in key else b"id,name,amount,updated\n1,a,1.00,2026-01-01\n"
        )
    path = write_platform_config(
        tmp_path, db_url, f"s3://{s3_bucket}/in", f"s3://{s3_bucket}/raw", s3_endpoint=moto_server
    )
    platform = Platform(load_config(path))
    registered = platform.sync("customers")
    assert registered is not None
    result = platform.capture("customers", registered.number)
    by_key = {r.key: r for r in _files(platform, registered.number)}
    unsafe = [key for key, row in by_key.items() if row.error_type == "unsafe_key"]
    assert sorted(unsafe) == sorted(k.removeprefix("in/") for k in keys[1:3])
    assert all("escape" not in o.key for o in platform.services.raw_zone.iter_objects("**"))
    assert by_key["good.csv"].status == "CAPTURED" and by_key["empty.csv"].is_empty
    assert by_key["good.csv"].raw_location == f"s3://{s3_bucket}/raw/customers/v1/good.csv"
    assert result.status == "CAPTURE_FAILED"
