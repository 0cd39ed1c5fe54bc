"""Per-product version partitions: one dynamic partition per captured version, keyed ``v<number>``."""

from __future__ import annotations

import re

import dagster as dg

from platform_assets.config import ProductConfig
from platform_assets.errors import UserError

PARTITION_KEY = re.compile(r"^v([1-9][0-9]*)$")


class UnknownPartitionKey(UserError):
    """A partition key that does not name a version (``v<number>``)."""


def partition_key(version: int) -> str:
    """The partition key of ``version``: ``v3`` for version 3 (the one way to spell it)."""
    return f"v{version}"


def version_of(key: str) -> int:
    """The version a partition key names; UnknownPartitionKey for anything but ``v<number>``."""
    found = PARTITION_KEY.match(key)
    if found is None:
        raise UnknownPartitionKey(f"partition {key!r} does not name a version: version keys read v1, v2, ...")
    return int(found.group(1))


def versions_of(keys: list[str] | tuple[str, ...]) -> list[int]:
    """The versions the partition ``keys`` name, ascending."""
    return sorted(version_of(key) for key in keys)


def versions_partitions_name(product_name: str) -> str:
    return f"{product_name}_versions"


def versions_partitions(product: ProductConfig) -> dg.DynamicPartitionsDefinition:
    """Partition keys name versions: ``v1``, ``v2``, ... (see :func:`partition_key`)."""
    return dg.DynamicPartitionsDefinition(name=versions_partitions_name(product.name))


def asset_key(product: ProductConfig, name: str) -> dg.AssetKey:
    return dg.AssetKey([product.name, name])


def storage_kind(url: str) -> str:
    return "s3" if url.startswith("s3://") else "file"


def db_kind(url: str) -> str:
    return "postgres" if url.startswith("postgres") else "sqlite"
