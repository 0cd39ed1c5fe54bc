"""Per-product version partitions: one dynamic partition per captured version, keyed ``v<number>``."""

from __future__ import annotations

import re
from collections.abc import Sequence

import dagster as dg

from platform_assets.catalog import Catalog
from platform_assets.config import ProductConfig
from platform_assets.errors import UserError

PARTITION_KEY = re.compile(r"^v([1-9][0-9]*)$")


class UnknownPartitionKey(UserError):
    """A partition key that does not name a version (``v<number>``)."""


class UnregisteredVersion(UserError):
    """A run on a partition that names no registered version."""


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


def registered_versions(
    context: dg.OpExecutionContext | dg.AssetExecutionContext, catalog: Catalog, product: ProductConfig
) -> list[int]:
    """The versions the run's partition keys name, ascending, each registered in the catalog.

    Otherwise, before any work: the keys that name no registered version (typed
    into the Materialize dialog, say) are deleted from the product's partitions
    and UnregisteredVersion says so.
    """
    keys = list(context.partition_keys)
    registered = {record.number for record in catalog.versions(product.name)}
    unknown = [key for key in keys if _named_version(key) not in registered]
    if unknown:
        for key in unknown:
            context.instance.delete_dynamic_partition(versions_partitions_name(product.name), key)
        newest = f"v{max(registered)}" if registered else "none yet"
        raise UnregisteredVersion(
            f"{product.name} has no version {', '.join(unknown)} (newest: {newest}): a partition is added when a "
            f"version is registered ({product.name}_discovery sensor, or `platform-assets sync {product.name}`); "
            f"nothing was done, and the partition {', '.join(unknown)} was removed"
        )
    return versions_of(keys)


def stray_partitions(catalog: Catalog, product: ProductConfig, keys: Sequence[str]) -> list[str]:
    """The partition ``keys`` that name no version registered in the catalog."""
    registered = {record.number for record in catalog.versions(product.name)}
    return [key for key in keys if _named_version(key) not in registered]


def _named_version(key: str) -> int | None:
    found = PARTITION_KEY.match(key)
    return int(found.group(1)) if found else None


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
