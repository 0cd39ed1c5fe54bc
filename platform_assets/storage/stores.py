"""Opening an object store from its URL.

Contract: :func:`open_store` gives the store at ``url`` (``file:///abs/dir`` or
``s3://bucket[/prefix]``) and raises StoreUrlError for any other URL. It lives
apart from :mod:`.object_store`, which both stores import.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from platform_assets.storage.object_store import ObjectStore, StoreUrlError

if TYPE_CHECKING:
    from platform_assets.config import S3Settings


S3ClientFactory = Callable[[], Any]
"""Gives the boto3 S3 client a store uses (the Dagster layer's comes from its S3 resource)."""


def open_store(
    url: str, s3_settings: S3Settings | None = None, s3_client: S3ClientFactory | None = None
) -> ObjectStore:
    """The store at ``url``: ``file:///abs/dir`` -> LocalStore, ``s3://bucket[/prefix]`` -> S3Store.

    ``s3_settings`` (endpoint, region, keys) applies to S3 URLs; without it the
    AWS defaults (region us-east-1, the default credential chain) are used.
    ``s3_client``, when given, gives the S3 store its client instead.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "file":
        from platform_assets.storage.local_store import LocalStore

        return LocalStore.from_url(url)
    if scheme == "s3":
        from platform_assets.storage.s3_store import S3Store

        return S3Store.from_url(url, s3_settings, s3_client() if s3_client is not None else None)
    raise StoreUrlError(f"unsupported store URL {url!r}; use file:///absolute/dir or s3://bucket/prefix")
