"""Fixtures for the replication tests: a primary's and a replica's merge store on either backend.

The two stores are new ones per test: two SQLite files, or two new PostgreSQL databases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def stores(request: pytest.FixtureRequest, tmp_path: Any, pg_database: Callable[[str], str]) -> tuple[str, str]:
    """(primary merge store URL, replica merge store URL): two SQLite files, or two new PostgreSQL databases."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'beta_merge.db'}", f"sqlite:///{tmp_path / 'alpha_merge.db'}"
    return pg_database("beta"), pg_database("alpha")
