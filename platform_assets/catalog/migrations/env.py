"""Alembic environment: runs on the connection handed over in ``config.attributes``."""

from alembic import context

from platform_assets.catalog.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
context.run_migrations()
