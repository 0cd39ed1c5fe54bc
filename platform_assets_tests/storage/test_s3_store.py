"""S3Store specifics: roots, URL parsing, unsafe keys in listings, client settings."""

from __future__ import annotations

from datetime import timedelta

import boto3
import pytest

from platform_assets.config import S3Settings
from platform_assets.storage.keys import UnsafeKey, is_safe_key
from platform_assets.storage.object_store import StoreUrlError
from platform_assets.storage.s3_store import S3Store
from platform_assets.storage.stores import open_store


def raw_client(endpoint: str):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def test_bucket_root_and_prefix_root(moto_server: str, s3_bucket: str) -> None:
    settings = S3Settings(endpoint_url=moto_server)
    raw = raw_client(moto_server)
    for key in ("top.csv", "pre/fix/a.csv", "pre/fix/b/c.csv", "pre/fixed.csv"):
        raw.put_object(Bucket=s3_bucket, Key=key, Body=b"1")
    whole = open_store(f"s3://{s3_bucket}", settings)
    assert [item.key for item in whole.iter_objects("**")] == [
        "pre/fix/a.csv",
        "pre/fix/b/c.csv",
        "pre/fixed.csv",
        "top.csv",
    ]
    rooted = open_store(f"s3://{s3_bucket}/pre/fix/", settings)
    assert rooted.url == f"s3://{s3_bucket}/pre/fix"
    assert [item.key for item in rooted.iter_objects("**")] == ["a.csv", "b/c.csv"]  # not 'pre/fixed.csv'
    assert rooted.uri("b/c.csv") == f"s3://{s3_bucket}/pre/fix/b/c.csv"
    assert rooted.read_bytes("b/c.csv") == b"1"


def test_etags_are_unquoted_and_times_utc(moto_server: str, s3_bucket: str) -> None:
    store = open_store(f"s3://{s3_bucket}/p", S3Settings(endpoint_url=moto_server))
    written = store.put_bytes("a", b"abc")
    assert written.etag == "900150983cd24fb0d6963f7d28e17f72"  # md5("abc")
    listed = list(store.iter_objects("*"))[0]
    assert listed.etag == written.etag
    assert listed.last_modified is not None and listed.last_modified.tzinfo is not None
    assert listed.last_modified is not None and listed.last_modified.utcoffset() == timedelta(0)


def test_listing_surfaces_unsafe_keys_and_key_operations_refuse_them(moto_server: str, s3_bucket: str) -> None:
    raw = raw_client(moto_server)
    unsafe = ["r/../escape.csv", "r/a//b.csv", "r/back\\slash.csv", "r/./dot.csv"]
    for key in unsafe + ["r/ok.csv"]:
        raw.put_object(Bucket=s3_bucket, Key=key, Body=b"1")
    store = open_store(f"s3://{s3_bucket}/r", S3Settings(endpoint_url=moto_server))
    listed = [item.key for item in store.iter_objects("**")]
    assert sorted(listed) == sorted(key[2:] for key in unsafe + ["r/ok.csv"])
    for key in listed:
        if key == "ok.csv":
            assert store.read_bytes(key) == b"1"
            continue
        assert not is_safe_key(key)
        with pytest.raises(UnsafeKey, match="rename the object at the source or skip it"):
            store.read_bytes(key)


def test_list_page_may_return_empty_pages_before_the_end(moto_server: str, s3_bucket: str) -> None:
    raw = raw_client(moto_server)
    for index in range(5):
        raw.put_object(Bucket=s3_bucket, Key=f"a{index}.txt", Body=b"")
    raw.put_object(Bucket=s3_bucket, Key="z.csv", Body=b"")
    store = open_store(f"s3://{s3_bucket}", S3Settings(endpoint_url=moto_server))
    page, cursor = store.list_page("*.csv", None, max_keys=2)
    assert page == [] and cursor == "a1.txt"
    found = []
    while cursor is not None:
        page, cursor = store.list_page("*.csv", cursor, max_keys=2)
        found += [item.key for item in page]
    assert found == ["z.csv"]


@pytest.mark.parametrize("url", ["s3://", "s3:///prefix", "s3://b/prefix", "s3://bucket/a//b", "s3://bucket/../x"])
def test_bad_s3_urls(url: str) -> None:
    with pytest.raises(StoreUrlError):
        S3Store.from_url(url, S3Settings(endpoint_url="http://127.0.0.1:1"))


def test_partial_credentials_are_refused() -> None:
    with pytest.raises(StoreUrlError, match="go together"):
        open_store("s3://bucket/p", S3Settings(access_key_id="only-the-id"))


def test_client_settings() -> None:
    store = open_store(
        "s3://bucket/p",
        S3Settings(endpoint_url="http://127.0.0.1:9000", region="eu-west-1", access_key_id="k", secret_access_key="s"),
    )
    assert isinstance(store, S3Store)
    config = store.client.meta.config
    assert config.retries == {"total_max_attempts": 6, "mode": "standard"}  # botocore's form of max_attempts=5 retries
    assert config.max_pool_connections == 32
    assert config.s3 == {"addressing_style": "path"}
    assert store.client.meta.region_name == "eu-west-1"
    assert store.client.meta.endpoint_url == "http://127.0.0.1:9000"
