"""The ObjectStore contract, run on both stores (local dir and S3 through moto)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from platform_assets.storage.globs import GlobError, glob_matches
from platform_assets.storage.keys import UnsafeKey
from platform_assets.storage.local_store import LocalStore
from platform_assets.storage.object_store import ObjectInfo, ObjectNotFound, ObjectStore, ObjectVanished
from platform_assets_tests.storage.conftest import put_many

TREE = {
    "a.csv": b"a",
    "b.csv": b"bb",
    "ab.json": b"{}",
    "b.json": b"[]",
    "c.txt": b"c",
    ".hidden.csv": b"h",
    "a-c": b"dash",
    "a/b": b"slash",
    "a0": b"zero",
    "data/1.csv": b"1",
    "data/x.csv": b"x",
    "data/10.csv": b"10",
    "data/sub/2.csv": b"2",
    "x/y/z.csv": b"z",
    "empty.csv": b"",
}


def keys_of(objects: list[ObjectInfo]) -> list[str]:
    return [item.key for item in objects]


def test_put_stat_read_sha256_delete(store: ObjectStore) -> None:
    data = b"id,name\n1,ann\n"
    written = store.put_bytes("dir/f.csv", data)
    assert (written.key, written.size) == ("dir/f.csv", len(data))
    assert written.etag
    info = store.stat("dir/f.csv")
    assert info is not None
    assert (info.key, info.size, info.etag) == ("dir/f.csv", len(data), written.etag)
    assert info.last_modified is not None and info.last_modified.tzinfo is not None
    assert info.last_modified is not None and info.last_modified.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - info.last_modified).total_seconds()) < 120
    assert store.exists("dir/f.csv")
    assert store.read_bytes("dir/f.csv") == data
    with store.open_read("dir/f.csv") as stream:
        assert stream.read(3) == b"id,"
    assert store.sha256("dir/f.csv") == hashlib.sha256(data).hexdigest()
    store.delete("dir/f.csv")
    assert store.stat("dir/f.csv") is None and not store.exists("dir/f.csv")
    store.delete("dir/f.csv")  # deleting a missing key is not an error


def test_put_replaces_and_changes_the_etag(store: ObjectStore) -> None:
    first = store.put_bytes("f", b"one")
    second = store.put_bytes("f", b"three")
    assert store.read_bytes("f") == b"three"
    assert first.etag != second.etag
    stat = store.stat("f")
    assert stat is not None and stat.etag == second.etag and stat.size == 5


def test_zero_byte_objects(store: ObjectStore) -> None:
    info = store.put_bytes("z/empty.csv", b"")
    assert info.size == 0
    assert store.read_bytes("z/empty.csv") == b""
    assert store.sha256("z/empty.csv") == hashlib.sha256(b"").hexdigest()
    listed = list(store.iter_objects("**"))
    assert [(item.key, item.size) for item in listed] == [("z/empty.csv", 0)]
    assert listed[0].etag == info.etag


def test_missing_objects(store: ObjectStore, tmp_path) -> None:
    assert store.stat("nope.csv") is None
    assert not store.exists("no/such/key")
    for read in (store.read_bytes, store.open_read, store.sha256, store.open_pinned):
        with pytest.raises(ObjectNotFound, match="nope.csv"):
            read("nope.csv")
    with pytest.raises(ObjectVanished):
        store.download_to("nope.csv", tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
    assert list(store.iter_objects("**")) == []
    assert store.list_page("**", None) == ([], None)


def test_listing_returns_sorted_keys_with_sizes_and_etags(store: ObjectStore) -> None:
    put_many(store, TREE)
    listed = list(store.iter_objects("**"))
    assert keys_of(listed) == sorted(TREE)
    assert keys_of(listed)[:3] == [".hidden.csv", "a-c", "a.csv"]
    assert keys_of(listed).index("a-c") < keys_of(listed).index("a/b") < keys_of(listed).index("a0")
    for item in listed:
        assert item.size == len(TREE[item.key])
        stat = store.stat(item.key)
        assert stat is not None and stat.etag == item.etag and stat.size == item.size
        assert item.last_modified is not None and item.last_modified.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        (
            "**/*.csv",
            [
                ".hidden.csv",
                "a.csv",
                "b.csv",
                "data/1.csv",
                "data/10.csv",
                "data/sub/2.csv",
                "data/x.csv",
                "empty.csv",
                "x/y/z.csv",
            ],
        ),
        ("*.csv", [".hidden.csv", "a.csv", "b.csv", "empty.csv"]),
        ("data/?.csv", ["data/1.csv", "data/x.csv"]),
        ("data/*.csv", ["data/1.csv", "data/10.csv", "data/x.csv"]),
        ("data/**", ["data/1.csv", "data/10.csv", "data/sub/2.csv", "data/x.csv"]),
        ("[ab]*.json", ["ab.json", "b.json"]),
        ("[!a]*", [".hidden.csv", "b.csv", "b.json", "c.txt", "empty.csv"]),
        ("*/*", ["a/b", "data/1.csv", "data/10.csv", "data/x.csv"]),
        ("**/y/*.csv", ["x/y/z.csv"]),
        ("*/y/*", ["x/y/z.csv"]),
        ("data/[0-9]*.csv", ["data/1.csv", "data/10.csv"]),
        ("nothing/**", []),
    ],
)
def test_globs(store: ObjectStore, glob: str, expected: list[str]) -> None:
    put_many(store, TREE)
    assert keys_of(list(store.iter_objects(glob))) == expected
    assert expected == sorted(key for key in TREE if glob_matches(glob, key))


def test_paging_resumes_after_start_after(store: ObjectStore) -> None:
    put_many(store, TREE)
    everything = keys_of(list(store.iter_objects("**")))
    collected: list[str] = []
    start_after = None
    pages = 0
    while True:
        page, start_after = store.list_page("**", start_after, max_keys=3)
        assert len(page) <= 3
        collected += keys_of(page)
        pages += 1
        if start_after is None:
            break
    assert collected == everything
    assert pages <= len(everything) // 3 + 2
    for cursor in ["a", "a-c", "a/", "a/b", "b.csv", "data/", "data/1.csv", "data/sub/", "data/sub/2.csv", "zzz"]:
        page, _ = store.list_page("**", cursor, max_keys=1000)
        assert keys_of(page) == [key for key in everything if key > cursor], cursor


def test_paging_with_a_glob(store: ObjectStore) -> None:
    put_many(store, TREE)
    collected: list[str] = []
    start_after = None
    while True:
        page, start_after = store.list_page("**/*.csv", start_after, max_keys=2)
        collected += keys_of(page)
        if start_after is None:
            break
    assert collected == sorted(key for key in TREE if glob_matches("**/*.csv", key))


def test_listing_more_than_a_thousand_objects(store: ObjectStore) -> None:
    items = {f"bulk/{index:05d}.csv": b"x" * (index % 5) for index in range(1100)}
    items["other/skip.txt"] = b"no"
    put_many(store, items)
    first, cursor = store.list_page("bulk/*.csv", None)
    assert len(first) == 1000 and cursor == "bulk/00999.csv"
    second, cursor = store.list_page("bulk/*.csv", cursor)
    assert cursor is None and len(second) == 100
    listed = list(store.iter_objects("**/*.csv"))
    assert keys_of(listed) == sorted(key for key in items if key.endswith(".csv"))
    assert [item.size for item in listed] == [index % 5 for index in range(1100)]
    assert len({item.etag for item in listed if item.size == 3}) >= 1


def test_bad_glob_is_refused(store: ObjectStore) -> None:
    with pytest.raises(GlobError):
        store.list_page("/abs/*.csv", None)
    with pytest.raises(GlobError):
        list(store.iter_objects("a**"))


UNSAFE_KEYS = ["", "/abs.csv", "C:/x", "../up.csv", "a/../../b", "./a", "a//b", "a\\b", "a\x00b", "a\x7f"]


def test_every_key_operation_refuses_unsafe_keys(store: ObjectStore, tmp_path) -> None:
    for key in UNSAFE_KEYS:
        refuses_unsafe_key(store, key, tmp_path)
    assert list(store.iter_objects("**")) == []


def refuses_unsafe_key(store: ObjectStore, key: str, tmp_path) -> None:
    operations = [
        lambda: store.stat(key),
        lambda: store.exists(key),
        lambda: store.open_read(key),
        lambda: store.read_bytes(key),
        lambda: store.open_pinned(key),
        lambda: store.put_bytes(key, b"x"),
        lambda: store.delete(key),
        lambda: store.local_path(key),
        lambda: store.download_to(key, tmp_path / "o"),
        lambda: store.sha256(key),
        lambda: store.uri(key),
    ]
    for operation in operations:
        with pytest.raises(UnsafeKey) as caught:
            operation()
        assert repr(key) in str(caught.value)


def test_uri_and_local_path(store: ObjectStore, tmp_path) -> None:
    store.put_bytes("d/a b.csv", b"1")
    if isinstance(store, LocalStore):
        path = store.local_path("d/a b.csv")
        assert path is not None and path == tmp_path / "root" / "d" / "a b.csv" and path.read_bytes() == b"1"
        assert store.uri("d/a b.csv") == (tmp_path / "root" / "d" / "a b.csv").as_uri()
    else:
        assert store.local_path("d/a b.csv") is None
        assert store.uri("d/a b.csv") == f"{store.url}/d/a b.csv"
        assert store.url.startswith("s3://") and store.url.endswith("/root/pfx")


def test_download_to(store: ObjectStore, tmp_path) -> None:
    store.put_bytes("k/data.bin", bytes(range(256)) * 10)
    target = tmp_path / "scratch" / "data.bin"
    store.download_to("k/data.bin", target)
    assert target.read_bytes() == bytes(range(256)) * 10
    assert [path.name for path in target.parent.iterdir()] == ["data.bin"]


def test_open_pinned_checks_the_etag(store: ObjectStore) -> None:
    info = store.put_bytes("p.csv", b"v1")
    pinned = store.open_pinned("p.csv", info.etag)
    try:
        assert pinned.read() == b"v1" and pinned.info.etag == info.etag
        pinned.verify()
    finally:
        pinned.close()
    with pytest.raises(ObjectVanished, match="p.csv") as caught:
        store.open_pinned("p.csv", "not-the-etag")
    assert not isinstance(caught.value, ObjectNotFound)
