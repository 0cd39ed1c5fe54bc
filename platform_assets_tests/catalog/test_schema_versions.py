"""Schema versions in the catalog: numbered from 1, idempotent, audited, safe under concurrent recorders."""

from __future__ import annotations

import multiprocessing

import pytest

from platform_assets.catalog import Catalog
from platform_assets.catalog.errors import UnknownProduct, VersionNotFound
from platform_assets.catalog.states import CaptureMode
from platform_assets.storage.object_store import ObjectInfo

V1 = {"id": "string", "n": "int"}
V2 = {"id": "string", "n": "int", "city": "string"}
V3 = {"id": "string", "n": "bigint", "city": "string"}


def _catalog_with_versions(url: str, count: int) -> Catalog:
    catalog = Catalog(url)
    for number in range(count):
        listing = [ObjectInfo(f"part-{number}.csv", 10, f"etag-{number}", None)]
        catalog.register_version("customers", CaptureMode.INCREMENTAL, listing, "test")
    return catalog


def test_schema_versions_are_numbered_recorded_once_and_audited(db_url: str) -> None:
    catalog = _catalog_with_versions(db_url, 4)
    assert catalog.current_schema("customers") is None
    first = catalog.record_schema_version("customers", V1, ["id"], 1, None, "carol")
    assert (first.number, first.columns, first.primary_key, first.introduced_by) == (
        1,
        (("id", "string"), ("n", "int")),
        ("id",),
        1,
    )
    assert first.change == "first schema: id string, n int"
    assert catalog.record_schema_version("customers", V1, ["id"], 2, None, "dave") == first  # idempotent
    second = catalog.record_schema_version("customers", V2, ["id"], 3, "city from part-2.csv", "carol")
    assert (second.number, second.introduced_by, second.change) == (2, 3, "city from part-2.csv")
    third = catalog.record_schema_version("customers", V3, ["id"], 4, None, "carol")
    assert third.change == "column 'n' widens from int to bigint"
    assert [item.number for item in catalog.schema_versions("customers")] == [1, 2, 3]
    assert catalog.current_schema("customers") == third
    recorded = catalog.audit_events("schema", "customers/2")
    assert [(event.action, event.actor, event.change["version"]) for event in recorded] == [("recorded", "carol", 3)]
    assert recorded[0].change["columns"] == [["id", "string"], ["n", "int"], ["city", "string"]]
    marks = [event.change for event in catalog.audit_events("version", "customers/2") if event.action != "registered"]
    assert marks == [{"from": None, "to": 1}]


def test_each_version_knows_the_schema_it_was_processed_under(db_url: str) -> None:
    catalog = _catalog_with_versions(db_url, 4)
    catalog.record_schema_version("customers", V1, ["id"], 1, None, "t")
    catalog.record_schema_version("customers", V1, ["id"], 2, None, "t")
    catalog.record_schema_version("customers", V2, ["id"], 4, None, "t")  # v4 processed before v3
    catalog.record_schema_version("customers", V1, ["id"], 3, None, "t")  # a stale caller: gets the newest
    numbers = [catalog.schema_of_version("customers", version) for version in (1, 2, 3, 4)]
    assert [found.number if found else None for found in numbers] == [1, 1, 2, 2]
    up_to = [catalog.schema_up_to("customers", version) for version in (1, 2, 3, 4)]
    assert [found.number if found else None for found in up_to] == [1, 1, 2, 2]
    assert len(catalog.schema_versions("customers")) == 2
    assert catalog.record_schema_version("customers", V2, ["id", "n"], 4, None, "t").number == 3  # a new key


def test_unknown_products_and_versions_are_refused(db_url: str) -> None:
    catalog = _catalog_with_versions(db_url, 1)
    with pytest.raises(UnknownProduct):
        Catalog(db_url).schema_versions("orders")
    with pytest.raises(VersionNotFound):
        catalog.record_schema_version("customers", V1, ["id"], 9, None, "t")
    assert catalog.schema_of_version("customers", 1) is None
    assert catalog.schema_versions("customers") == []


def _record(url: str, columns: dict[str, str], version: int, queue: multiprocessing.Queue[int]) -> None:
    numbers = [Catalog(url).record_schema_version("customers", columns, ["id"], version, None, "t").number]
    queue.put(numbers[0])


def test_concurrent_recorders_make_one_schema_version_each(db_url: str) -> None:
    catalog = _catalog_with_versions(db_url, 2)
    catalog.record_schema_version("customers", V1, ["id"], 1, None, "t")
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_record, args=(db_url, V2, 2, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert results == [2, 2, 2, 2]
    assert [item.number for item in catalog.schema_versions("customers")] == [1, 2]
    assert [event.action for event in catalog.audit_events("schema", "customers/2")] == ["recorded"]
