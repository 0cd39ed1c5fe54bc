"""Timezone-aware UTC timestamps in the merge store's own tables (batch log).

How a backend stores them is its dialect's business (:meth:`platform_assets.merge.dialect.MergeDialect.to_db`);
:func:`from_db` reads what either returns back as an aware UTC datetime.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """``value`` (aware) in UTC; ValueError if it is naive."""
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return value.astimezone(UTC)


def from_db(value: datetime | str | None) -> datetime | None:
    """An aware UTC datetime from what either backend returns (or None)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
