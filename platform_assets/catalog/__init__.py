"""The state catalog: products, versions, raw files, runs and audit events (SQLAlchemy 2.0, Alembic).

Everything outside this package goes through :class:`Catalog` and its typed
records (:mod:`.records`), states (:mod:`.states`) and errors (:mod:`.errors`);
the ORM models and the SQL in :mod:`.queries` are its own.
"""

from platform_assets.catalog.queries.audit import default_actor
from platform_assets.catalog.service import Catalog

__all__ = ["Catalog", "default_actor"]
