"""Giving up on one file of a version (``platform-assets skip``), audited."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine

from platform_assets.catalog import audit
from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import FileStatus, RawFile, utc_now
from platform_assets.catalog.products import get_product
from platform_assets.catalog.versions import get_version


class CannotSkip(LookupError):
    """The file is not in the version, or is already processed."""


def skip_file(engine: Engine, product_name: str, version: int, key: str, reason: str, actor: str) -> str:
    """Mark the file SKIPPED with ``reason``; return its previous status."""
    if not reason.strip():
        raise CannotSkip("a reason is required: --reason TEXT says why the file is given up")
    with transaction(engine) as session:
        product = get_product(session, product_name)
        get_version(session, product, version)
        row = session.scalars(
            select(RawFile)
            .where(RawFile.product_id == product.id, RawFile.version == version, RawFile.key == key)
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise CannotSkip(
                f"version {version} of {product_name} has no file {key!r}; `platform-assets versions {product_name}` "
                "lists the versions"
            )
        if row.status in (FileStatus.PROCESSED, FileStatus.SKIPPED):
            raise CannotSkip(f"{key!r} of {product_name} v{version} is already {row.status}; nothing to skip")
        if row.status == FileStatus.PROCESSING and row.lease_expires_at and row.lease_expires_at > utc_now():
            raise CannotSkip(
                f"{key!r} of {product_name} v{version} is being processed by {row.lease_owner}; wait for it to finish"
            )
        previous = row.status
        row.status = FileStatus.SKIPPED
        row.lease_owner = None
        row.lease_expires_at = None
        audit.record(
            session,
            "raw_file",
            audit.file_entity_id(product_name, version, key),
            "skipped",
            actor,
            {"from": previous, "reason": reason},
        )
        return previous
