"""The milestones of one primary key in a product's merge table (``platform-assets trace`` reads them).

Contract: :func:`key_rows` returns every row of the key in ``<product>_merge``,
oldest first (forensic: by ``_batch_in``; live-only: the one row, with
``_batch_id``), as {column: value}; the store's own helper columns (other
``_`` names) are left out. Key values are bound parameters; identifiers are
quoted. No merge table yet: no rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import inspect, text

from platform_assets.merge.names import merge_table, quote_ident
from platform_assets.merge.store import MergeStore

BATCH_COLUMNS = ("_batch_in", "_batch_out", "_batch_id")


def key_rows(store: MergeStore, product: str, key: Mapping[str, Any], forensic: bool) -> list[dict[str, Any]]:
    """The rows of ``key`` (column -> value, in the key's order) in the product's merge table, oldest first."""
    table = merge_table(product)
    names = list(key)
    where = " AND ".join(f"{quote_ident(name)} = :k{index}" for index, name in enumerate(names))
    order = quote_ident("_batch_in" if forensic else "_batch_id")
    statement = text(f"SELECT * FROM {quote_ident(table)} WHERE {where} ORDER BY {order}")
    with store.engine.connect() as connection:
        if not inspect(connection).has_table(table):
            return []
        result = connection.execute(statement, {f"k{index}": key[name] for index, name in enumerate(names)})
        return [
            {name: value for name, value in row._mapping.items() if not name.startswith("_") or name in BATCH_COLUMNS}
            for row in result
        ]
