"""Discovery: versions from source changes (snapshot and incremental), atomic under concurrency."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

import boto3
from sqlalchemy import select

from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import RawFile, SourceObject, Version
from platform_assets.catalog.queries.sources import diff_listing
from platform_assets.config import load_config
from platform_assets.ingest.discovery import register_version, scan_source
from platform_assets.platform import Platform
from platform_assets.storage.object_store import ObjectInfo
from platform_assets_tests.conftest import synced, write_csv, write_platform_config


def _touch_changed(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def _version_keys(platform: Platform, number: int) -> dict[str, str]:
    with transaction(platform.catalog.engine) as session:
        rows = session.execute(select(RawFile.key, RawFile.change).where(RawFile.version == number)).all()
    return dict(rows)


def test_diff_tells_new_changed_unchanged_removed() -> None:
    listing = [ObjectInfo("a", 1, "e1", None), ObjectInfo("b", 2, "e2-new", None), ObjectInfo("c", 3, "e3", None)]
    diff = diff_listing(listing, {"a": ("e1", 1), "b": ("e2", 2), "gone": ("x", 9)})
    assert [o.key for o in diff.new] == ["c"]
    assert [o.key for o in diff.changed] == ["b"]
    assert [o.key for o in diff.unchanged] == ["a"]
    assert diff.removed == ["gone"]
    same_etag_other_size = diff_listing([ObjectInfo("a", 5, "e1", None)], {"a": ("e1", 1)})
    assert [o.key for o in same_etag_other_size.changed] == ["a"]


def test_snapshot_versions_hold_every_file(local_platform: Platform) -> None:
    landing = Path(load_config(local_platform.config.source_path).products[0].source.url.removeprefix("file://"))
    for name in ("a", "b", "c"):
        write_csv(landing / "part" / f"{name}.csv", [(name, "x", "1.00", "2026-01-01")])
    (landing / "notes.txt").write_text("not matched by the glob")

    first = local_platform.sync("customers")
    assert first is not None and (first.number, first.files, first.new) == (1, 3, 3)
    assert local_platform.sync("customers") is None, "no change, no version"

    _touch_changed(landing / "part" / "b.csv", "id,name,amount,updated\nb,y,2.00,2026-01-02\n")
    second = local_platform.sync("customers")
    assert second is not None and (second.number, second.files, second.changed, second.new) == (2, 3, 1, 0)
    assert _version_keys(local_platform, 2) == {
        "part/a.csv": "unchanged",
        "part/b.csv": "changed",
        "part/c.csv": "unchanged",
    }

    (landing / "part" / "c.csv").unlink()
    third = local_platform.sync("customers")
    assert third is not None and (third.number, third.files, third.removed) == (3, 2, 1)
    summaries = local_platform.catalog.version_summaries("customers")
    assert [(v.number, v.parent, v.files) for v in summaries] == [(1, None, 3), (2, 1, 3), (3, 2, 2)]
    with transaction(local_platform.catalog.engine) as session:
        assert sorted(session.scalars(select(SourceObject.key))) == ["part/a.csv", "part/b.csv"]


def test_incremental_versions_hold_new_and_changed_files(tmp_path: Path, db_url: str) -> None:
    landing = tmp_path / "landing"
    products = [
        {
            "name": "events",
            "source": {"url": f"file://{landing}", "glob": "*.csv", "format": "csv"},
            "schema": {"columns": {"id": "string"}, "primary_key": ["id"]},
            "mode": "incremental",
        }
    ]
    platform = Platform(
        load_config(
            write_platform_config(tmp_path, db_url, f"file://{landing}", f"file://{tmp_path}/raw", products=products)
        )
    )
    write_csv(landing / "a.csv", [("1",)], header="id")
    write_csv(landing / "b.csv", [("2",)], header="id")
    assert synced(platform, "events").files == 2
    _touch_changed(landing / "a.csv", "id\n1\n11\n")
    write_csv(landing / "c.csv", [("3",)], header="id")
    second = platform.sync("events")
    assert second is not None and (second.files, second.new, second.changed) == (2, 1, 1)
    assert _version_keys(platform, 2) == {"a.csv": "changed", "c.csv": "new"}
    (landing / "b.csv").unlink()
    assert platform.sync("events") is None, "a removal alone makes no incremental version"
    write_csv(landing / "b.csv", [("2",)], header="id")
    assert synced(platform, "events").new == 1


def test_s3_etag_change_makes_an_incremental_version(
    tmp_path: Path, db_url: str, moto_server: str, s3_bucket: str
) -> None:
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    for index in range(5):
        s3.put_object(Bucket=s3_bucket, Key=f"in/{index}.csv", Body=b"id\n%d\n" % index)
    products = [
        {
            "name": "events",
            "source": {"url": f"s3://{s3_bucket}/in", "glob": "**/*.csv", "format": "csv"},
            "schema": {"columns": {"id": "string"}, "primary_key": ["id"]},
            "mode": "incremental",
        }
    ]
    path = write_platform_config(
        tmp_path, db_url, f"s3://{s3_bucket}/in", f"s3://{s3_bucket}/raw", products=products, s3_endpoint=moto_server
    )
    platform = Platform(load_config(path))
    assert synced(platform, "events").files == 5
    assert platform.sync("events") is None
    s3.put_object(Bucket=s3_bucket, Key="in/3.csv", Body=b"id\n33\n")  # same size, new etag
    second = platform.sync("events")
    assert second is not None and (second.number, second.files, second.changed) == (2, 1, 1)
    assert _version_keys(platform, 2) == {"3.csv": "changed"}


def test_listing_spread_over_ticks_resumes_from_its_cursor(local_platform: Platform) -> None:
    product = local_platform.product("customers")
    landing = Path(product.source.url.removeprefix("file://"))
    for index in range(30):
        write_csv(landing / f"f{index:03d}.csv", [(str(index), "n", "1.00", "2026-01-01")])
    store = local_platform.services.sources.of(product)
    catalog = local_platform.catalog
    progress = scan_source(catalog, product, store, None, None, budget_seconds=0, page_size=7)
    steps = 1
    while not progress.complete:
        progress = scan_source(
            catalog, product, store, progress.scan_id, progress.start_after, budget_seconds=0, page_size=7
        )
        steps += 1
    assert steps == 5
    assert [o.key for o in progress.objects] == [f"f{index:03d}.csv" for index in range(30)]
    registered = register_version(catalog, product, progress, "test", store)
    assert registered is not None and registered.files == 30


def _sync_in_process(config_path: str, queue: multiprocessing.Queue[int | None]) -> None:
    registered = Platform.from_path(config_path).sync("customers")
    queue.put(registered.number if registered else None)


def test_two_concurrent_syncs_register_one_version(tmp_path: Path, db_url: str) -> None:
    landing = tmp_path / "landing"
    for index in range(200):
        write_csv(landing / f"{index}.csv", [(str(index), "n", "1.00", "2026-01-01")])
    path = write_platform_config(tmp_path, db_url, f"file://{landing}", f"file://{tmp_path}/raw")
    Platform.from_path(path).catalog.engine  # noqa: B018 - migrate once up front
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_sync_in_process, args=(path, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    results = sorted([queue.get(timeout=120) for _ in workers], key=lambda value: (value is None, value))
    for worker in workers:
        worker.join(timeout=60)
    assert results == [1, None], "one sync registers version 1, the other finds nothing new"
    with transaction(Platform.from_path(path).catalog.engine) as session:
        assert list(session.scalars(select(Version.number))) == [1]
        assert len(session.scalars(select(RawFile.id)).all()) == 200


def test_no_change_tick_stays_fast_on_a_larger_source(local_platform: Platform) -> None:
    product = local_platform.product("customers")
    landing = Path(product.source.url.removeprefix("file://"))
    for index in range(2000):
        (landing / f"{index:05d}.csv").write_text("id,name,amount,updated\n")
    assert synced(local_platform, "customers").files == 2000
    started = time.perf_counter()
    assert local_platform.sync("customers") is None
    assert time.perf_counter() - started < 5, "one bulk read and an in-memory diff, not a query per file"
