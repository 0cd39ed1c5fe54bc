"""LocalStore specifics: walk order and pruning against brute force, symlinks, temp files, URLs."""

from __future__ import annotations

import os
import random
import time

import pytest

from platform_assets.storage.globs import glob_matches
from platform_assets.storage.keys import UnsafeKey
from platform_assets.storage.local_store import LocalStore
from platform_assets.storage.object_store import ObjectNotFound, StoreUrlError
from platform_assets.storage.stores import open_store

GLOBS = [
    "**",
    "**/*",
    "*",
    "**/*.csv",
    "*.csv",
    "*/*.csv",
    "a/**",
    "a/**/*.csv",
    "**/b/*",
    "*/b/**/*.csv",
    "a/*/[0-9]*",
    "[!a]*/**",
    "?/?.csv",
    "a/b/c/**/*.json",
    "**/a-*",
]


def brute_force(root: str, glob: str) -> list[str]:
    keys = []
    for top, _dirs, names in os.walk(root):
        for name in names:
            key = os.path.relpath(os.path.join(top, name), root).replace(os.sep, "/")
            if glob_matches(glob, key):
                keys.append(key)
    return sorted(keys)


@pytest.fixture(scope="module")
def random_tree(tmp_path_factory) -> LocalStore:
    rng = random.Random(7)
    root = tmp_path_factory.mktemp("tree")
    names = ["a", "b", "c", "a-b", "a.b", "a0", "1", "ab", "a b", "é", "Z", "_x"]
    exts = ["", ".csv", ".json"]
    for _ in range(400):
        depth = rng.randint(0, 3)
        parts = [rng.choice(names) for _ in range(depth)] + [rng.choice(names) + rng.choice(exts)]
        path = root.joinpath(*parts)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.is_dir():
                path.write_bytes(b"x" * rng.randint(0, 3))
        except (FileExistsError, NotADirectoryError, IsADirectoryError):
            continue  # a file where a directory is wanted, or the reverse
    return LocalStore(root)


@pytest.mark.parametrize("glob", GLOBS)
def test_walk_matches_brute_force_in_order(random_tree: LocalStore, glob: str) -> None:
    expected = brute_force(str(random_tree.root), glob)
    assert [item.key for item in random_tree.iter_objects(glob)] == expected
    for start_after in ["", "a", "a-", "a/", "a/b", "a/b/", "a0", "b/c/", "é", "zz"] + expected[
        :: max(1, len(expected) // 7)
    ]:
        page, cursor = random_tree.list_page(glob, start_after, max_keys=10_000)
        assert cursor is None
        assert [item.key for item in page] == [key for key in expected if key > start_after], (glob, start_after)


@pytest.mark.parametrize("glob", ["**", "**/*.csv", "a/**"])
def test_small_pages_cover_everything_once(random_tree: LocalStore, glob: str) -> None:
    collected = []
    cursor = None
    while True:
        page, cursor = random_tree.list_page(glob, cursor, max_keys=7)
        collected += [item.key for item in page]
        if cursor is None:
            break
    assert collected == brute_force(str(random_tree.root), glob)


def test_listing_a_missing_root_is_empty_and_writes_create_it(tmp_path) -> None:
    store = LocalStore(tmp_path / "not" / "yet")
    assert list(store.iter_objects("**")) == []
    assert store.list_page("a/b/*.csv", None) == ([], None)
    store.put_bytes("a/b/c.csv", b"1")
    assert [item.key for item in store.iter_objects("**")] == ["a/b/c.csv"]


def test_local_etag_is_size_mtime_ctime_and_inode(tmp_path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("f", b"12345")
    st = os.stat(tmp_path / "f")
    info = store.stat("f")
    assert info is not None and info.etag == f"{st.st_size:x}-{st.st_mtime_ns:x}-{st.st_ctime_ns:x}-{st.st_ino:x}"
    assert list(store.iter_objects("f")) == [info]


@pytest.mark.parametrize("how", ["in_place", "renamed_over"])
def test_a_rewrite_at_the_same_size_with_the_mtime_put_back_changes_the_etag(tmp_path, how: str) -> None:
    store = LocalStore(tmp_path)
    path = tmp_path / "d" / "f.csv"
    path.parent.mkdir()
    path.write_bytes(b"id\n1\n")
    before_stat = path.stat()
    [before] = store.iter_objects("d/*.csv")
    while time.time_ns() < before_stat.st_ctime_ns + 20_000_000:  # file timestamps may tick as coarsely as 10 ms
        time.sleep(0.005)
    if how == "in_place":
        path.write_bytes(b"id\n2\n")  # same inode, same size
    else:
        (tmp_path / "d" / "new").write_bytes(b"id\n2\n")
        os.replace(tmp_path / "d" / "new", path)  # a new inode, as editors and rsync write
    os.utime(path, ns=(before_stat.st_atime_ns, before_stat.st_mtime_ns))  # what `touch -r` does
    after_stat = path.stat()
    assert (after_stat.st_size, after_stat.st_mtime_ns) == (before_stat.st_size, before_stat.st_mtime_ns)
    [after] = store.iter_objects("d/*.csv")
    assert (after.key, after.size) == (before.key, before.size)
    assert after.etag != before.etag
    assert store.stat("d/f.csv") == after


def test_dotfiles_are_listed_but_temp_files_are_not(tmp_path) -> None:
    store = LocalStore(tmp_path)
    (tmp_path / ".env").write_bytes(b"1")
    (tmp_path / ".x.tmp-notours").write_bytes(b"2")  # not our temp-name pattern: listed
    (tmp_path / f".a.csv.tmp-{'0' * 32}").write_bytes(b"3")
    assert [item.key for item in store.iter_objects("**")] == [".env", ".x.tmp-notours"]


def test_symlinks(tmp_path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_bytes(b"secret")
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "real.csv").write_bytes(b"real")
    os.symlink(outside, root / "linked_dir")
    os.symlink(outside / "secret.csv", root / "escape.csv")
    os.symlink(root / "d" / "real.csv", root / "inside.csv")
    os.symlink(root / "missing", root / "broken.csv")
    os.symlink(root, root / "d" / "loop")
    store = LocalStore(root)
    keys = [item.key for item in store.iter_objects("**")]
    assert keys == ["d/real.csv", "escape.csv", "inside.csv"]  # dir symlinks not followed, broken links skipped
    assert store.read_bytes("inside.csv") == b"real"
    for key in ("escape.csv", "linked_dir/secret.csv"):
        with pytest.raises(UnsafeKey, match="outside the store root"):
            store.read_bytes(key)
        with pytest.raises(UnsafeKey):
            store.put_bytes(key, b"overwrite")
    assert (outside / "secret.csv").read_bytes() == b"secret"
    assert list(store.iter_objects("linked_dir/*")) == []


def test_directories_are_not_objects(tmp_path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("d/f", b"1")
    assert store.stat("d") is None
    with pytest.raises(ObjectNotFound):
        store.read_bytes("d")


@pytest.mark.parametrize(
    ("url", "root"),
    [("file:///data/raw", "/data/raw"), ("file:///data/raw/", "/data/raw"), ("file://localhost/x%20y", "/x y")],
)
def test_file_urls(url: str, root: str) -> None:
    store = open_store(url)
    assert isinstance(store, LocalStore) and str(store.root) == root
    reopened = open_store(store.url)
    assert isinstance(reopened, LocalStore) and reopened.root == store.root


@pytest.mark.parametrize("url", ["file://host/data", "file:relative/dir", "ftp://x/y", "data/raw", "file:///a?b=1"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(StoreUrlError, match="file:///|s3://"):
        open_store(url)
