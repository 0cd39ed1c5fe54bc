"""Per-product version partitions: one dynamic partition per captured version."""

from __future__ import annotations

import dagster as dg

from platform_assets.config import ProductConfig


def versions_partitions_name(product_name: str) -> str:
    return f"{product_name}_versions"


def versions_partitions(product: ProductConfig) -> dg.DynamicPartitionsDefinition:
    """Partition keys are version numbers as text ("1", "2", ...), valid dynamic partition keys."""
    return dg.DynamicPartitionsDefinition(name=versions_partitions_name(product.name))


def asset_key(product: ProductConfig, name: str) -> dg.AssetKey:
    return dg.AssetKey([product.name, name])


def storage_kind(url: str) -> str:
    return "s3" if url.startswith("s3://") else "file"


def db_kind(url: str) -> str:
    return "postgres" if url.startswith("postgres") else "sqlite"
