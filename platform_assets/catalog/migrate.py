"""Alembic migrations of the state catalog, run from code.

Contract: :func:`upgrade` brings the catalog at ``engine`` to the newest
revision and is safe to call from many processes at once (PostgreSQL: an
advisory lock; SQLite: the IMMEDIATE transaction serializes them).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from platform_assets.storage.sql import is_postgres

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
ADVISORY_LOCK_ID = 7_314_159_265


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply pending migrations; return the revision the catalog is at afterwards."""
    if revision == "head" and current_revision(engine) == head_revision():
        return head_revision()
    config = alembic_config()
    with engine.begin() as connection:
        if is_postgres(engine):
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": ADVISORY_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    return current_revision(engine)
