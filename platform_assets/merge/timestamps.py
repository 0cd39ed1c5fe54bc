"""Timezone-aware UTC timestamps in the merge store's own tables (batch log).

PostgreSQL stores them as ``timestamp with time zone``; SQLite as ISO 8601 text
with an explicit ``+00:00`` offset. Both read back as aware UTC datetimes.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_db(value: datetime, postgres: bool) -> datetime | str:
    """A bind value for ``value`` (aware) on the given backend."""
    if value.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    value = value.astimezone(UTC)
    return value if postgres else value.isoformat(timespec="microseconds")


def from_db(value: datetime | str | None) -> datetime | None:
    """An aware UTC datetime from what either backend returns (or None)."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
