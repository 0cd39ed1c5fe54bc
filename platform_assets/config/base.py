"""What every part of the config shares: the strict model base and the checks of names and URLs.

The check functions raise ValueError, which pydantic turns into a located config error
(``config/messages.py`` words it).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from platform_assets.urls import DB_SCHEMES, db_backend, db_url_is_ambiguous, mask_url, url_scheme

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
COLUMN_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OWNER_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,7}")  # Dagster's own test of an email
RESERVED_COLUMNS = frozenset(
    {
        "_version",
        "_source_file",
        "_source_sha256",
        "_source_line",
        "_ingested_at",
        "_batch_in",
        "_batch_out",
        "_batch_id",
    }
)
MAX_NAME_LENGTH = 48


class Strict(BaseModel):
    """A config section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_name(value: str, what: str) -> str:
    if not NAME_PATTERN.match(value) or len(value) > MAX_NAME_LENGTH:
        raise ValueError(
            f"{what} {value!r} must match [a-z][a-z0-9_]* (lowercase letter first, at most {MAX_NAME_LENGTH} "
            "characters)"
        )
    return value


def check_store_url(value: str) -> str:
    if url_scheme(value) not in ("file", "s3"):
        raise ValueError(f"{mask_url(value)!r} must be a file:// or s3:// URL")
    return value


def check_db_url(value: str) -> str:
    """A database URL that SQLAlchemy reads as written: a numeric port, one unambiguous user-info."""
    shown = repr(mask_url(value))
    if db_backend(value) not in DB_SCHEMES:
        raise ValueError(f"{shown} must be a sqlite:/// or postgresql:// URL")
    try:
        make_url(value)
    except (ArgumentError, ValueError):
        raise ValueError(
            f"{shown} is not a database URL SQLAlchemy can read; check that the port is a number and that the user "
            "name and password are percent-encoded"
        ) from None
    if db_url_is_ambiguous(value):
        raise ValueError(
            f"{shown} can be read in more than one way, so the password would not reach the database as written: "
            "percent-encode the user name and password (%40 for '@', %2F for '/', %23 for '#', %3F for '?'), or take "
            "the password from a ${VAR} placeholder, which is filled in percent-encoded"
        )
    return value
