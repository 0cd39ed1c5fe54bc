"""Reconciliation of the catalog with the raw zone (versions/reconciliation.py, reconcile_repair.py).

Each scenario runs on both state backends and on a local-folder and an S3 (moto) raw zone: a deleted raw copy,
an altered one of the same size (only deep finds it), one of another size, and stray objects are found; repair
recaptures what the source still holds, marks LOST what it does not, quarantines the strays (moved, audited,
nothing deleted); a second reconcile is clean, and processing the version with a LOST file fails saying why.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest

from platform_assets.catalog.errors import RawCopyLost
from platform_assets.catalog.records import RawCopyRow
from platform_assets.catalog.states import FileStatus, VersionStatus
from platform_assets.config import load_config
from platform_assets.platform import Platform
from platform_assets.storage.object_store import ObjectStore
from platform_assets.versions.reconcile_findings import FindingKind, Resolution, parse_copy_key, quarantine_key
from platform_assets.versions.reconciliation import ReconcileOptions, catalog_picture, reconcile
from platform_assets_tests.conftest import customers_product, write_csv, write_platform_config

FILES: dict[str, list[tuple[str, ...]]] = {
    name: [(name[0], "x", "1.00", "2026-01-01")] for name in ("a.csv", "b.csv", "c.csv", "d.csv", "e.csv")
}


class Source:
    """The test product's landing, on a local folder or an S3 prefix."""

    def __init__(self, platform: Platform) -> None:
        self.store: ObjectStore = platform.services.sources.of(platform.product("customers"))

    def put(self, key: str, text: str) -> None:
        self.store.put_bytes(key, text.encode())

    def delete(self, key: str) -> None:
        self.store.delete(key)


def _csv(rows: Sequence[tuple[str, ...]]) -> str:
    return "id,name,amount,updated\n" + "".join(",".join(row) + "\n" for row in rows)


@pytest.fixture(params=["local", "s3"])
def platform(request: pytest.FixtureRequest, tmp_path: Path, db_url: str) -> Platform:
    """customers on each raw zone kind (and each state backend), v1 captured from five one-row files."""
    if request.param == "local":
        landing = tmp_path / "landing"
        for name, rows in FILES.items():
            write_csv(landing / name, rows)
        path = write_platform_config(tmp_path, db_url, f"file://{landing}", f"file://{tmp_path / 'raw'}")
    else:
        endpoint = request.getfixturevalue("moto_server")
        bucket = request.getfixturevalue("s3_bucket")
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        for name, rows in FILES.items():
            s3.put_object(Bucket=bucket, Key=f"in/{name}", Body=_csv(rows).encode())
        path = write_platform_config(tmp_path, db_url, f"s3://{bucket}/in", f"s3://{bucket}/raw", s3_endpoint=endpoint)
    platform = Platform(load_config(path), actor="test")
    registered = platform.sync("customers")
    assert registered is not None
    assert platform.capture("customers", registered.number).status is VersionStatus.CAPTURED
    return platform


def _damage(platform: Platform) -> None:
    """a: copy deleted (source intact); b: same size, other bytes (source intact); c: other size, and the source
    changed; d: copy deleted and gone at the source; two strays; one object already in quarantine."""
    raw, source = platform.services.raw_zone, Source(platform)
    raw.delete("customers/v1/a.csv")
    original = raw.read_bytes("customers/v1/b.csv")
    raw.put_bytes("customers/v1/b.csv", original.replace(b"b,x", b"b,y"))
    raw.put_bytes("customers/v1/c.csv", b"id,name,amount,updated\n")
    source.put("c.csv", _csv([("c", "changed", "2.00", "2026-02-02")]))
    raw.delete("customers/v1/d.csv")
    source.delete("d.csv")
    raw.put_bytes("customers/v1/stray.csv", b"stray")
    raw.put_bytes("customers/old/left-over.txt", b"left over")
    raw.put_bytes("customers/_quarantine/v0/earlier.csv", b"quarantined before")


def _by_kind(report: Any) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for finding in report.findings:
        found.setdefault(str(finding.kind), []).append(finding.raw_key)
    return found


def test_reconcile_finds_repairs_and_is_clean_after(platform: Platform) -> None:
    services = platform.services
    product = platform.product("customers")
    clean = reconcile(services, product, ReconcileOptions(deep=True))
    assert clean.ok and clean.total == 0 and clean.copies_checked == 5
    _damage(platform)

    plain = reconcile(services, product)
    assert plain.counts == {"missing": 2, "size_mismatch": 1, "checksum_mismatch": 0, "orphan": 2}
    assert _by_kind(plain) == {
        "missing": ["customers/v1/a.csv", "customers/v1/d.csv"],
        "size_mismatch": ["customers/v1/c.csv"],
        "orphan": ["customers/old/left-over.txt", "customers/v1/stray.csv"],
    }
    size = next(finding for finding in plain.findings if finding.kind is FindingKind.SIZE_MISMATCH)
    assert (size.version, size.key, size.expected, size.actual) == (1, "c.csv", size.size, 23)
    assert not plain.ok and plain.unresolved == 5

    deep = reconcile(services, product, ReconcileOptions(deep=True))
    assert deep.counts["checksum_mismatch"] == 1
    (checksum,) = [finding for finding in deep.findings if finding.kind is FindingKind.CHECKSUM_MISMATCH]
    assert checksum.raw_key == "customers/v1/b.csv" and checksum.expected != checksum.actual

    repaired = reconcile(services, product, ReconcileOptions(deep=True, repair=True))
    outcome = {finding.raw_key: finding.resolution for finding in repaired.findings}
    assert outcome == {
        "customers/v1/a.csv": Resolution.RESTORED,
        "customers/v1/b.csv": Resolution.RESTORED,
        "customers/v1/c.csv": Resolution.LOST,
        "customers/v1/d.csv": Resolution.LOST,
        "customers/v1/stray.csv": Resolution.QUARANTINED,
        "customers/old/left-over.txt": Resolution.QUARANTINED,
    }
    assert repaired.lost == 2 and repaired.unresolved == 0 and not repaired.ok
    _assert_repairs(platform)

    again = reconcile(services, product, ReconcileOptions(deep=True))
    assert again.ok and again.total == 0, again.findings
    with pytest.raises(RawCopyLost, match=r"c\.csv.*source object changed since capture.*platform-assets skip"):
        platform.process("customers", 1)


def _assert_repairs(platform: Platform) -> None:
    """Copies restored with their catalogued bytes, c and d LOST with reasons, strays moved, all audited."""
    services, catalog, raw = platform.services, platform.catalog, platform.services.raw_zone
    assert raw.read_bytes("customers/v1/a.csv") == _csv(FILES["a.csv"]).encode()
    assert raw.read_bytes("customers/v1/b.csv") == _csv(FILES["b.csv"]).encode()
    assert b"b,y" in raw.read_bytes("customers/_quarantine/v1/b.csv")  # the altered copy is kept
    assert raw.stat("customers/v1/stray.csv") is None and raw.stat("customers/old/left-over.txt") is None
    assert raw.read_bytes(quarantine_key("customers", "customers/v1/stray.csv")) == b"stray"
    assert raw.read_bytes("customers/_quarantine/old/left-over.txt") == b"left over"
    assert raw.read_bytes("customers/_quarantine/v0/earlier.csv") == b"quarantined before"
    assert catalog.file_counts("customers", 1) == {FileStatus.CAPTURED: 3, FileStatus.LOST: 2}
    lost = catalog.lost_files("customers", 1)
    assert "source object changed since capture" in lost["c.csv"]
    assert "source no longer holds it" in lost["d.csv"]
    reason = catalog.version("customers", 1).status_reason or ""
    assert reason.startswith("raw copy of 2 file(s) LOST") and "d.csv" in reason
    assert [event.action for event in catalog.audit_events("raw_file", "customers/1/a.csv")][-1] == "raw_copy_restored"
    assert [event.action for event in catalog.audit_events("raw_file", "customers/1/c.csv")][-1] == "lost"
    moved = catalog.audit_events("raw_object", "customers/v1/stray.csv")
    assert [(event.action, event.change["to"]) for event in moved] == [
        ("quarantined", "customers/_quarantine/v1/stray.csv")
    ]
    assert any(event.action == "raw_copies_lost" for event in catalog.audit_events("version", "customers/1"))
    runs = catalog.audit_events("raw_zone", "customers")
    assert [event.change["counts"]["orphan"] for event in runs] == [0, 2, 2, 2]
    assert services.actor == "test" and {event.actor for event in runs} == {"test"}


def test_repair_leaves_a_stray_a_catalog_row_now_holds(platform: Platform) -> None:
    """An object written under a file's own key (a capture that died after the copy) is no orphan: capture owns it."""
    source = Source(platform)
    source.put("f.csv", _csv([("f", "x", "1.00", "2026-01-01")]))
    registered = platform.sync("customers")
    assert registered is not None and registered.number == 2
    platform.services.raw_zone.put_bytes("customers/v2/f.csv", b"half a capture")
    report = reconcile(platform.services, platform.product("customers"), ReconcileOptions(repair=True))
    assert report.counts["orphan"] == 0 and report.ok


def test_the_catalog_picture_follows_holding_rows_and_carried_copies() -> None:
    rows: list[RawCopyRow] = [
        (1, "a.csv", 3, 1, None, "e1", "s1"),
        (2, "a.csv", 3, 1, "file:///raw/customers/v1/a.csv", "e1", "s1"),  # a child carries v1's copy
        (2, "b c.csv", 4, 1, "file:///raw/customers/v1/b%20c.csv", None, None),
        (3, "p.csv", 5, 0, None, None, None),  # PURGED, SKIPPED, LOST, uncaptured, or recorded after the listing
    ]
    picture = catalog_picture("customers", rows)
    assert picture.sizes == {"customers/v1/a.csv": 3, "customers/v1/b c.csv": 4}
    assert picture.others == {"customers/v3/p.csv"}
    finding = picture.finding(FindingKind.MISSING, "customers/v1/a.csv", 3, None)
    assert (finding.version, finding.key, finding.versions, finding.etag, finding.sha256) == (
        1,
        "a.csv",
        (1, 2),
        "e1",
        "s1",
    )
    assert parse_copy_key("customers", "customers/v12/a/b.csv") == (12, "a/b.csv")
    assert parse_copy_key("customers", "customers/old/x") is None


def test_a_product_never_synced_is_clean_and_its_strays_wait_for_a_sync(local_platform: Platform) -> None:
    product = local_platform.product("customers")
    assert reconcile(local_platform.services, product).ok
    local_platform.services.raw_zone.put_bytes("customers/v1/a.csv", b"early")
    report = reconcile(local_platform.services, product, ReconcileOptions(repair=True))
    assert report.counts["orphan"] == 1 and report.resolutions == {"unresolved": 1}
    assert "sync it first" in (report.findings[0].detail or "")
    assert local_platform.services.raw_zone.stat("customers/v1/a.csv") is not None


def test_purged_copies_are_not_missing_and_a_soft_deleted_version_keeps_its_own(tmp_path: Path, db_url: str) -> None:
    """Retention purges v1 (copies gone on purpose: no finding); v2, soft-deleted and kept, still owes its copies."""
    from platform_assets.versions.deletion import delete_version
    from platform_assets.versions.purge import run_retention

    landing = tmp_path / "landing"
    write_csv(landing / "a.csv", [("a", "x", "1.00", "2026-01-01")])
    retention = {"keep_last": 1, "deleted_days": 0}
    product_config = customers_product(f"file://{landing}", retention=retention)
    path = write_platform_config(
        tmp_path, db_url, f"file://{landing}", f"file://{tmp_path / 'raw'}", products=[product_config]
    )
    platform = Platform(load_config(path), actor="keeper")
    services, product = platform.services, platform.product("customers")
    for number, name in ((1, "x"), (2, "y")):
        write_csv(landing / "a.csv", [("a", name, "1.00", "2026-01-01")])
        assert platform.sync("customers") is not None
        platform.capture("customers", number)
        delete_version(services, product, number, "test")
    report = run_retention(services, product, apply=True)
    assert [item.version for item in report.purged] == [1]
    assert services.raw_zone.stat("customers/v1/a.csv") is None
    assert reconcile(services, product, ReconcileOptions(deep=True)).ok
    services.raw_zone.delete("customers/v2/a.csv")
    found = reconcile(services, product)
    assert found.counts["missing"] == 1 and found.findings[0].raw_key == "customers/v2/a.csv"
