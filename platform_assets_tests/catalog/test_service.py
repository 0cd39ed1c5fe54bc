"""The catalog service: one product lookup per catalog, typed records, state changes with their audit events."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from platform_assets.catalog import Catalog
from platform_assets.catalog.errors import UnknownProduct, VersionNotFound
from platform_assets.catalog.records import CopyFailure
from platform_assets.catalog.states import CaptureMode, FileStatus, VersionStatus
from platform_assets.errors import UserError
from platform_assets.storage.object_store import ObjectInfo


def _listing(*keys: str) -> list[ObjectInfo]:
    return [ObjectInfo(key, 10, f"etag-{key}", None) for key in keys]


def test_the_product_row_is_looked_up_once_per_catalog(db_url: str) -> None:
    catalog = Catalog(db_url)
    catalog.register_version("customers", CaptureMode.SNAPSHOT, _listing("a.csv", "b.csv"), "test")
    statements: list[str] = []
    event.listen(catalog.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    for _ in range(3):
        assert catalog.pending_copies("customers", 1)[0].key == "a.csv"
        assert catalog.file_counts("customers", 1) == {FileStatus.DISCOVERED: 2}
    lookups = [sql for sql in statements if "FROM products" in sql]
    assert len(lookups) == 1, f"the product id is resolved once, not per call: {lookups}"


def test_records_are_typed_and_errors_are_user_errors(db_url: str) -> None:
    catalog = Catalog(db_url)
    with pytest.raises(UnknownProduct, match="run `platform-assets sync customers` first") as unknown:
        catalog.versions("customers")
    assert isinstance(unknown.value, UserError) and unknown.value.exit_code == 1
    registered = catalog.register_version("customers", CaptureMode.SNAPSHOT, _listing("a.csv"), "test")
    assert registered is not None and registered.mode is CaptureMode.SNAPSHOT
    version = catalog.version("customers", 1)
    assert (version.status, version.mode, version.captured) == (VersionStatus.DISCOVERED, CaptureMode.SNAPSHOT, False)
    with pytest.raises(VersionNotFound, match="its newest version is 1"):
        catalog.version("customers", 2)


def test_a_status_change_and_its_audit_event_commit_together(db_url: str) -> None:
    catalog = Catalog(db_url)
    catalog.register_version("customers", CaptureMode.SNAPSHOT, _listing("a.csv"), "test")
    copy = catalog.pending_copies("customers", 1)[0]
    catalog.record_copies("customers", 1, [CopyFailure(copy.id, copy.key, "vanished", "gone")], "carol")
    state = catalog.settle_capture("customers", 1, "carol")
    assert (state.status, state.failed) == (VersionStatus.CAPTURE_FAILED, {"a.csv": "gone"})
    events = catalog.audit_events("version", "customers/1")
    assert [(e.action, e.actor, e.change.get("to")) for e in events] == [
        ("registered", "test", None),
        ("status", "carol", "CAPTURE_FAILED"),
    ]
    assert [e.action for e in catalog.audit_events("raw_file", "customers/1/a.csv")] == ["failed"]
