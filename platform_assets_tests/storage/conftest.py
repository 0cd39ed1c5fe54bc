"""Store fixtures: the same tests run on a LocalStore (tmp_path) and an S3Store (moto over HTTP)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from platform_assets.config import S3Settings
from platform_assets.storage.local_store import LocalStore
from platform_assets.storage.object_store import ObjectStore
from platform_assets.storage.s3_store import S3Store
from platform_assets.storage.stores import open_store


@pytest.fixture
def make_store(request: pytest.FixtureRequest, tmp_path) -> Callable[[str, str], ObjectStore]:
    """Factory: ``make_store("local" | "s3", name)`` -> an empty store (S3: a prefix in a fresh bucket)."""
    buckets: dict[str, str] = {}

    def make(kind: str, name: str = "root") -> ObjectStore:
        if kind == "local":
            return open_store((tmp_path / name).as_uri())
        if "bucket" not in buckets:
            buckets["bucket"] = request.getfixturevalue("s3_bucket")
        endpoint = request.getfixturevalue("moto_server")
        return open_store(f"s3://{buckets['bucket']}/{name}/pfx", S3Settings(endpoint_url=endpoint))

    return make


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, make_store) -> ObjectStore:
    """An empty store of each kind: the test runs once per kind."""
    return make_store(request.param)


def put_many(store: ObjectStore, items: dict[str, bytes]) -> None:
    """Write many objects: local files directly (put_bytes fsyncs each), S3 concurrently (clients are thread-safe)."""
    if isinstance(store, LocalStore):
        for key, data in items.items():
            path = store.local_path(key)
            assert path is not None
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return
    assert isinstance(store, S3Store)
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda item: store.put_bytes(*item), items.items()))
