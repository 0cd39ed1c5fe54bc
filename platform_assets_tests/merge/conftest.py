"""Fixtures for the merge tests: a merge store per backend, products, readers, an oracle.

The PostgreSQL store is one database per test session (products get unique
names), so the backend matrix stays fast; SQLite gets a fresh file per test.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import text

from platform_assets.config import ProductConfig, SchemaSettings
from platform_assets.merge import MergeStore
from platform_assets.merge.spec import LIVE_BATCH_OUT, arrow_schema, merge_spec

LIVE = LIVE_BATCH_OUT
_names = itertools.count(1)


@pytest.fixture(scope="session")
def merge_pg_url(pg_database: Callable[[str], str]) -> str:
    return pg_database("merge")


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> MergeStore:
    """A merge store on each backend."""
    if request.param == "sqlite":
        return MergeStore(f"sqlite:///{tmp_path / 'merge.db'}")
    return MergeStore(request.getfixturevalue("merge_pg_url"))


def make_product(
    milestone: str = "forensic",
    mode: str = "snapshot",
    columns: dict[str, str] | None = None,
    key: Sequence[str] = ("id",),
    **extra: Any,
) -> ProductConfig:
    """A product with a unique name (default columns: id, a, b strings; key id)."""
    return ProductConfig(
        name=f"p{next(_names)}_{milestone[0]}{mode[0]}",
        source={"url": "file:///unused"},
        schema_={"columns": columns or {"id": "string", "a": "string", "b": "string"}, "primary_key": list(key)},
        mode=mode,
        milestone=milestone,
        **extra,
    )


def rows_table(product: ProductConfig, rows: Iterable[Sequence[Any]]) -> pa.Table:
    """An Arrow table of the product's declared schema from tuples in column order."""
    schema = arrow_schema(merge_spec(product))
    listed = [tuple(row) for row in rows]
    columns = [pa.array([row[index] for row in listed], field.type) for index, field in enumerate(schema)]
    return pa.Table.from_arrays(columns, schema=schema)


def declared(product: ProductConfig) -> SchemaSettings:
    """The product's declared schema (every product here declares one)."""
    assert product.table_schema is not None, product.name
    return product.table_schema


def batch_columns(product: ProductConfig) -> list[str]:
    return ["_batch_in", "_batch_out"] if product.milestone == "forensic" else ["_batch_id"]


def read_merge_table(store: MergeStore, product: ProductConfig) -> list[tuple[Any, ...]]:
    """Every row of the merge table (product columns + batch columns), in a stable order."""
    columns = list(declared(product).columns) + batch_columns(product)
    quoted = ", ".join(f'"{name}"' for name in columns)
    with store.engine.connect() as connection:
        rows = connection.execute(text(f'SELECT {quoted} FROM "{product.name}_merge"')).all()
    return sorted((tuple(row) for row in rows), key=repr)


def read_live_view(store: MergeStore, product: ProductConfig) -> list[tuple[Any, ...]]:
    quoted = ", ".join(f'"{name}"' for name in declared(product).columns)
    with store.engine.connect() as connection:
        rows = connection.execute(text(f'SELECT {quoted} FROM "{product.name}_live"')).all()
    return sorted((tuple(row) for row in rows), key=repr)


class Oracle:
    """A plain-Python model of the milestoned merge (the test's independent reference)."""

    def __init__(self, product: ProductConfig) -> None:
        self.forensic = product.milestone == "forensic"
        self.snapshot = product.mode == "snapshot"
        names = list(declared(product).columns)
        self.key_index = [names.index(name) for name in declared(product).primary_key]
        self.history: list[list[Any]] = []  # forensic: values + [in, out]
        self.live: dict[tuple[Any, ...], list[Any]] = {}

    def _key(self, row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(row[index] for index in self.key_index)

    def merge(self, batch: int, rows: Iterable[Sequence[Any]]) -> tuple[int, int, int]:
        incoming = {self._key(row): tuple(row) for row in rows}
        inserted = updated = deleted = 0
        for key, row in incoming.items():
            current = self.live.get(key)
            if current is None:
                inserted += 1
                self._insert(key, row, batch)
            elif tuple(current[: len(row)]) != row:
                updated += 1
                self._close(key, batch)
                self._insert(key, row, batch)
        if self.snapshot:
            for key in [key for key in self.live if key not in incoming]:
                deleted += 1
                self._close(key, batch)
        return inserted, updated, deleted

    def _insert(self, key: tuple[Any, ...], row: tuple[Any, ...], batch: int) -> None:
        record = list(row) + ([batch, LIVE] if self.forensic else [batch])
        self.live[key] = record
        if self.forensic:
            self.history.append(record)

    def _close(self, key: tuple[Any, ...], batch: int) -> None:
        record = self.live.pop(key)
        if self.forensic:
            record[-1] = batch - 1

    def rows(self) -> list[tuple[Any, ...]]:
        records = self.history if self.forensic else list(self.live.values())
        return sorted((tuple(record) for record in records), key=repr)

    def live_rows(self) -> list[tuple[Any, ...]]:
        width = len(next(iter(self.live.values()))) - (2 if self.forensic else 1) if self.live else 0
        return sorted((tuple(record[:width]) for record in self.live.values()), key=repr)
