"""copy_object between every pair of store kinds: sha256, etag, vanished sources, atomicity."""

from __future__ import annotations

import hashlib
import os
import pickle

import pytest

from platform_assets.config import S3Settings
from platform_assets.storage import local_store as local_module
from platform_assets.storage import s3_store as s3_module
from platform_assets.storage.local_store import LocalStore
from platform_assets.storage.object_store import (
    CopyResult,
    ObjectNotFound,
    ObjectStore,
    ObjectVanished,
    copy_object,
)
from platform_assets.storage.s3_store import S3Store

PAIRS = [("local", "local"), ("local", "s3"), ("s3", "local"), ("s3", "s3")]
DATA = b"id,amount\n" + b"".join(b"%d,%d.50\n" % (index, index) for index in range(2000))


def leftovers(store: ObjectStore) -> list[str]:
    """Every file under a local store's root, temp files included."""
    assert isinstance(store, LocalStore)
    return sorted(
        os.path.relpath(os.path.join(top, name), store.root) for top, _, names in os.walk(store.root) for name in names
    )


@pytest.mark.parametrize(("source_kind", "dest_kind"), PAIRS)
def test_copy_returns_sha256_and_the_destination_etag(make_store, source_kind: str, dest_kind: str) -> None:
    source, dest = make_store(source_kind, "src"), make_store(dest_kind, "dst")
    info = source.put_bytes("in/file.csv", DATA)
    result = copy_object(source, "in/file.csv", dest, "v1/file.csv", expected_etag=info.etag)
    assert isinstance(result, CopyResult)
    assert result.key == "v1/file.csv" and result.size == len(DATA)
    assert result.sha256 == hashlib.sha256(DATA).hexdigest()
    assert dest.read_bytes("v1/file.csv") == DATA
    stat = dest.stat("v1/file.csv")
    assert stat is not None and result.etag == stat.etag
    assert source.read_bytes("in/file.csv") == DATA
    again = copy_object(source, "in/file.csv", dest, "v2/file.csv")  # no expected etag
    assert again.sha256 == result.sha256


@pytest.mark.parametrize(("source_kind", "dest_kind"), PAIRS)
def test_copy_of_a_zero_byte_object(make_store, source_kind: str, dest_kind: str) -> None:
    source, dest = make_store(source_kind, "src"), make_store(dest_kind, "dst")
    info = source.put_bytes("empty.csv", b"")
    result = copy_object(source, "empty.csv", dest, "out/empty.csv", info.etag)
    assert (result.size, result.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert dest.read_bytes("out/empty.csv") == b""


@pytest.mark.parametrize(("source_kind", "dest_kind"), PAIRS)
def test_copy_of_a_vanished_object(make_store, source_kind: str, dest_kind: str) -> None:
    source, dest = make_store(source_kind, "src"), make_store(dest_kind, "dst")
    info = source.put_bytes("gone.csv", b"x")
    source.delete("gone.csv")
    with pytest.raises(ObjectNotFound, match="gone.csv") as caught:
        copy_object(source, "gone.csv", dest, "out/gone.csv", info.etag)
    assert isinstance(caught.value, ObjectVanished) and caught.value.key == "gone.csv"
    assert not dest.exists("out/gone.csv")
    if isinstance(dest, LocalStore):
        assert leftovers(dest) == []


@pytest.mark.parametrize(("source_kind", "dest_kind"), PAIRS)
def test_copy_with_a_stale_etag(make_store, source_kind: str, dest_kind: str) -> None:
    source, dest = make_store(source_kind, "src"), make_store(dest_kind, "dst")
    old = source.put_bytes("f.csv", b"version one")
    source.put_bytes("f.csv", b"version two, longer")
    with pytest.raises(ObjectVanished, match="f.csv.*changed"):
        copy_object(source, "f.csv", dest, "out/f.csv", expected_etag=old.etag)
    assert not dest.exists("out/f.csv")
    if isinstance(dest, LocalStore):
        assert leftovers(dest) == []


def test_copy_refuses_unsafe_keys(make_store) -> None:
    source, dest = make_store("local", "src"), make_store("local", "dst")
    source.put_bytes("ok.csv", b"1")
    from platform_assets.storage.keys import UnsafeKey

    with pytest.raises(UnsafeKey, match=r"'\.\./escape\.csv'"):
        copy_object(source, "ok.csv", dest, "../escape.csv")
    with pytest.raises(UnsafeKey):
        copy_object(source, "a//b", dest, "ok.csv")
    assert leftovers(dest) == []


def test_local_copy_failing_midway_leaves_no_file(make_store, monkeypatch) -> None:
    source, dest = make_store("local", "src"), make_store("local", "dst")
    source.put_bytes("big.csv", DATA * 20)  # several chunks
    dest.put_bytes("out/keep.csv", b"old")
    real_read = local_module._PinnedFile.read
    calls = []

    def failing_read(self, size=-1):
        calls.append(size)
        if len(calls) == 2:
            raise OSError("disk went away")
        return real_read(self, size)

    monkeypatch.setattr(local_module, "CHUNK_SIZE", 4096)
    monkeypatch.setattr(local_module._PinnedFile, "read", failing_read)
    with pytest.raises(OSError, match="disk went away"):
        copy_object(source, "big.csv", dest, "out/big.csv")
    assert leftovers(dest) == ["out/keep.csv"]  # no destination, no temp file


def test_local_copy_failing_at_fsync_leaves_no_file(make_store, monkeypatch) -> None:
    source, dest = make_store("local", "src"), make_store("local", "dst")
    source.put_bytes("f.csv", DATA)

    def broken_fsync(fd: int) -> None:
        raise OSError("fsync failed")

    monkeypatch.setattr(local_module.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="fsync failed"):
        copy_object(source, "f.csv", dest, "out/f.csv")
    monkeypatch.undo()
    assert leftovers(dest) == []
    assert list(dest.iter_objects("**")) == []


def test_local_source_changing_during_the_copy(make_store, monkeypatch) -> None:
    source, dest = make_store("local", "src"), make_store("local", "dst")
    info = source.put_bytes("f.csv", DATA)
    path = source.local_path("f.csv")
    real_read = local_module._PinnedFile.read
    appended: list[bool] = []

    def read_then_append(self, size=-1):
        data = real_read(self, size)
        if not appended:
            appended.append(True)
            with open(path, "ab") as handle:  # a writer appends while we copy
                handle.write(b"9,9.50\n")
        return data

    monkeypatch.setattr(local_module._PinnedFile, "read", read_then_append)
    with pytest.raises(ObjectVanished, match="f.csv"):
        copy_object(source, "f.csv", dest, "out/f.csv", expected_etag=info.etag)
    assert leftovers(dest) == []


def test_local_temp_files_are_invisible_to_listings(make_store) -> None:
    store = make_store("local")
    store.put_bytes("d/a.csv", b"1")
    temp = local_module.temp_path(str(store.local_path("d/b.csv")))
    with open(temp, "wb") as handle:
        handle.write(b"partial")
    assert os.path.basename(temp).startswith(".b.csv.tmp-") and local_module.is_temp_name(os.path.basename(temp))
    assert [item.key for item in store.iter_objects("**")] == ["d/a.csv"]
    assert [item.key for item in store.iter_objects("d/.*")] == []


def test_s3_same_service_copy_is_server_side_with_s3_checksum(make_store, monkeypatch) -> None:
    source, dest = make_store("s3", "src"), make_store("s3", "dst")
    assert isinstance(source, S3Store) and isinstance(dest, S3Store) and dest.same_service(source)
    info = source.put_bytes("f.csv", DATA)

    def no_streaming(*args, **kwargs):
        raise AssertionError("the bytes should not pass through this process")

    monkeypatch.setattr(S3Store, "open_pinned", no_streaming)
    monkeypatch.setattr(S3Store, "sha256", no_streaming)  # moto returns ChecksumSHA256 on CopyObject
    result = copy_object(source, "f.csv", dest, "out/f.csv", info.etag)
    assert result.sha256 == hashlib.sha256(DATA).hexdigest()
    assert result.etag == info.etag  # a single-part copy keeps the MD5 ETag


def test_s3_copy_between_services_streams(make_store, moto_server) -> None:
    source = make_store("s3", "src")
    assert isinstance(source, S3Store)
    other = S3Store(
        source.bucket, "elsewhere", S3Settings(endpoint_url=moto_server, access_key_id="other", secret_access_key="x")
    )
    assert not other.same_service(source)
    info = source.put_bytes("f.csv", DATA)
    result = copy_object(source, "f.csv", other, "out/f.csv", info.etag)
    assert result.sha256 == hashlib.sha256(DATA).hexdigest()
    assert other.read_bytes("out/f.csv") == DATA


def test_s3_multipart_copy(make_store, monkeypatch) -> None:
    source, dest = make_store("s3", "src"), make_store("s3", "dst")
    data = os.urandom(11 * 1024 * 1024)
    info = source.put_bytes("big.bin", data)
    monkeypatch.setattr(s3_module, "COPY_OBJECT_LIMIT", 5 * 1024 * 1024)
    monkeypatch.setattr(s3_module, "COPY_PART_SIZE", 5 * 1024 * 1024)
    result = copy_object(source, "big.bin", dest, "big.bin", info.etag)
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.size == len(data)
    assert result.etag and result.etag.endswith("-3")
    assert dest.read_bytes("big.bin") == data


def test_s3_multipart_upload_and_abort(make_store, monkeypatch) -> None:
    local, dest = make_store("local", "src"), make_store("s3", "dst")
    assert isinstance(dest, S3Store)
    data = os.urandom(11 * 1024 * 1024)
    info = local.put_bytes("big.bin", data)
    monkeypatch.setattr(s3_module, "UPLOAD_PART_SIZE", 5 * 1024 * 1024)
    result = copy_object(local, "big.bin", dest, "big.bin", info.etag)
    assert result.sha256 == hashlib.sha256(data).hexdigest() and result.size == len(data)
    assert result.etag and result.etag.endswith("-3")
    assert dest.read_bytes("big.bin") == data

    def refuse() -> None:
        raise ObjectVanished("source changed", "big.bin")

    with pytest.raises(ObjectVanished):
        dest.put_stream("other.bin", open(local.local_path("big.bin"), "rb"), before_commit=refuse)
    assert not dest.exists("other.bin")
    uploads = dest.client.list_multipart_uploads(Bucket=dest.bucket)
    assert not uploads.get("Uploads")


def test_s3_small_put_stream_checks_before_commit(make_store) -> None:
    dest = make_store("s3", "dst")

    def refuse() -> None:
        raise ObjectVanished("source changed", "small.bin")

    import io

    with pytest.raises(ObjectVanished):
        dest.put_stream("small.bin", io.BytesIO(b"abc"), before_commit=refuse)
    assert not dest.exists("small.bin")


def test_object_vanished_pickles() -> None:
    error = pickle.loads(pickle.dumps(ObjectNotFound("s3://b/k: no such object", "k")))
    assert isinstance(error, ObjectNotFound) and error.key == "k" and "no such object" in str(error)
