"""A change seen only in a file's etag is confirmed by its content: an unchanged file never makes a new version."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import SourceObject
from platform_assets.platform import Platform
from platform_assets_tests.conftest import write_csv

ROWS: list[tuple[str, ...]] = [("1", "Ann", "1.00", "2026-01-01"), ("2", "Bob", "2.00", "2026-01-02")]


def _landing(platform: Platform) -> Path:
    return Path(platform.product("customers").source.url.removeprefix("file://"))


def _captured_version(platform: Platform) -> int:
    registered = platform.sync("customers")
    assert registered is not None
    assert platform.capture("customers", registered.number).status == "CAPTURED"
    return registered.number


def _rewrite_same_bytes(path: Path) -> None:
    """Same bytes in a new file renamed over the old one, its mtime put back (what a careful copy does)."""
    before = path.stat()
    data = path.read_bytes()
    fresh = path.with_name(path.name + ".tmp")
    fresh.write_bytes(data)
    os.utime(fresh, ns=(before.st_atime_ns, before.st_mtime_ns))
    fresh.replace(path)


def _picture_etag(platform: Platform, key: str) -> str | None:
    with transaction(platform.catalog.engine) as session:
        return session.scalar(select(SourceObject.etag).where(SourceObject.key == key))


def test_touched_or_rewritten_files_with_the_same_bytes_make_no_version(local_platform: Platform) -> None:
    landing = _landing(local_platform)
    write_csv(landing / "a.csv", ROWS)
    write_csv(landing / "b.csv", ROWS[:1])
    assert _captured_version(local_platform) == 1
    os.utime(landing / "a.csv")  # touch: a new mtime, the same bytes
    _rewrite_same_bytes(landing / "b.csv")  # a new inode and ctime, the same bytes and mtime
    listed = local_platform.services.sources.of(local_platform.product("customers")).stat("a.csv")
    assert listed is not None and listed.etag != _picture_etag(local_platform, "a.csv"), "the etag did move"

    assert local_platform.sync("customers") is None, "the content is what was captured: no new version"
    assert _picture_etag(local_platform, "a.csv") == listed.etag, "the picture keeps the new etag: no new read"
    assert local_platform.sync("customers") is None

    text = (landing / "a.csv").read_text()
    before = (landing / "a.csv").stat()
    (landing / "a.csv").write_text(text.replace("Ann", "Amy"))  # same size, other bytes, mtime put back
    os.utime(landing / "a.csv", ns=(before.st_atime_ns, before.st_mtime_ns))
    changed = local_platform.sync("customers")
    assert changed is not None and (changed.number, changed.changed, changed.new) == (2, 1, 0)


def test_a_touched_file_next_to_a_real_change_stays_unchanged_in_the_new_version(local_platform: Platform) -> None:
    landing = _landing(local_platform)
    write_csv(landing / "a.csv", ROWS)
    write_csv(landing / "b.csv", ROWS[:1])
    _captured_version(local_platform)
    os.utime(landing / "a.csv")
    write_csv(landing / "b.csv", ROWS)

    second = local_platform.sync("customers")

    assert second is not None and (second.files, second.changed, second.new) == (2, 1, 0)
    with transaction(local_platform.catalog.engine) as session:
        etag = session.scalar(select(SourceObject.etag).where(SourceObject.key == "a.csv"))
    stat = local_platform.services.sources.of(local_platform.product("customers")).stat("a.csv")
    assert stat is not None and etag == stat.etag
    assert local_platform.capture("customers", second.number).status == "CAPTURED", "a.csv is captured by its etag"


def test_a_file_not_captured_yet_is_not_confirmed_against_anything(local_platform: Platform) -> None:
    landing = _landing(local_platform)
    write_csv(landing / "a.csv", ROWS)
    assert local_platform.sync("customers") is not None  # registered, never captured: no sha256 to compare with
    os.utime(landing / "a.csv")
    second = local_platform.sync("customers")
    assert second is not None and second.changed == 1
