"""Which version to process when nobody says, and a clear error when the asked-for one is missing.

Contract (design.md, "Version resolution"):
- Without a version: the newest captured version that has no successful
  processing yet (a failed processing counts as not yet successful).
- An explicit version that does not exist: :class:`VersionNotFound` naming
  the newest captured version as the suggestion.
- Nothing to process: :class:`NothingToProcess`, saying why.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_assets.catalog.models import Version
from platform_assets.catalog.products import get_product
from platform_assets.catalog.states import CAPTURED_STATES, UNPROCESSED_STATES
from platform_assets.catalog.versions import VersionNotFound


class NothingToProcess(LookupError):
    """Every captured version is processed (or there is none)."""


def newest_captured(session: Session, product_id: int) -> int | None:
    query = select(Version.number).where(Version.product_id == product_id, Version.status.in_(CAPTURED_STATES))
    return session.scalar(query.order_by(Version.number.desc()).limit(1))


def resolve_version(session: Session, product_name: str, requested: int | None) -> int:
    """The version to process: ``requested`` if it exists, else the newest captured, unprocessed one."""
    product = get_product(session, product_name)
    newest = newest_captured(session, product.id)
    if requested is not None:
        exists = session.scalar(
            select(Version.number).where(Version.product_id == product.id, Version.number == requested)
        )
        if exists is None:
            suggestion = (
                f"the newest captured version is {newest}: use --version {newest}"
                if newest
                else "no version is captured yet: run `platform-assets sync` first"
            )
            raise VersionNotFound(f"{product_name} has no version {requested}; {suggestion}")
        return requested
    candidate = session.scalar(
        select(Version.number)
        .where(Version.product_id == product.id, Version.status.in_(UNPROCESSED_STATES), Version.excluded.is_(False))
        .order_by(Version.number.desc())
        .limit(1)
    )
    if candidate is None:
        if newest is None:
            raise NothingToProcess(
                f"{product_name} has no captured version yet: run `platform-assets sync {product_name}` first"
            )
        raise NothingToProcess(
            f"nothing to process for {product_name}: every captured version is processed (newest: {newest}); "
            f"sync to capture a new one, or pass --version {newest} to process it again"
        )
    return candidate
