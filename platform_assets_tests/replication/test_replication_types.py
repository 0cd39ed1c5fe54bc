"""Values, keys and backends: every declared type, composite keys, awkward text, SQLite <-> PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pyarrow as pa
import pytest
from sqlalchemy import text

from platform_assets.config import ProductConfig
from platform_assets.merge import MergeStore, merge_batch
from platform_assets.merge.spec import arrow_schema, merge_spec
from platform_assets.replication import replicate
from platform_assets_tests.replication.replication_support import (
    WIDE_COLUMNS,
    live_view_count,
    primary_rows_at,
    product_dict,
    replica_config,
    replica_rows,
)

KEY = ("id", "n")
AWKWARD = ["plain", "tab\there", "new\nline", "back\\slash", "quote\"'", "comma,semi;", "ünï✓", "", "\\N", "trail "]


def wide_product() -> ProductConfig:
    return ProductConfig.model_validate(product_dict(milestone="forensic", columns=WIDE_COLUMNS, key=KEY))


def snapshot(version: int) -> pa.Table:
    """Awkward keys and values; every version changes some rows, drops one and adds one."""
    rows = []
    for index, text_value in enumerate(AWKWARD):
        if version >= 3 and index == 2:
            continue
        changed = version >= 2 and index % 3 == 0
        rows.append(
            {
                "id": text_value,
                "n": 10**12 + index,
                "name": None if index == 4 else (text_value + (f" v{version}" if changed else "")),
                "amount": Decimal("-12.30") if index % 2 else Decimal("99999.99"),
                "updated": dt.date(2024, 2, 29),
                "seen": dt.datetime(2024, 1, 1, 12, 0, 0, 123456 if changed else 1, tzinfo=dt.UTC),
                "flag": index % 2 == 0,
                "score": 0.1 + index / 3,
            }
        )
    if version >= 2:
        rows.append(
            {
                "id": "late",
                "n": 7,
                "name": "",
                "amount": None,
                "updated": None,
                "seen": None,
                "flag": None,
                "score": None,
            }
        )
    schema = arrow_schema(merge_spec(wide_product()))
    return pa.Table.from_pylist([{name: row.get(name) for name in schema.names} for row in rows], schema=schema)


PAIRS = {
    "sqlite-sqlite": ("sqlite", "sqlite"),
    "postgres-postgres": ("postgres", "postgres"),
    "sqlite-postgres": ("sqlite", "postgres"),
    "postgres-sqlite": ("postgres", "sqlite"),
}


@pytest.fixture(params=list(PAIRS))
def pair(request: pytest.FixtureRequest, tmp_path, pg_database) -> tuple[str, str]:
    """(primary URL, replica URL) on the backends named by the parameter."""
    primary, replica = PAIRS[request.param]
    urls = []
    for role, backend in (("beta", primary), ("alpha", replica)):
        urls.append(f"sqlite:///{tmp_path / f'{role}_merge.db'}" if backend == "sqlite" else pg_database(role))
    return urls[0], urls[1]


@pytest.mark.parametrize("milestone", ["live_only", "forensic"])
def test_every_type_and_awkward_keys_survive_chunks_and_deltas(pair, tmp_path, milestone) -> None:
    primary_url, replica_url = pair
    store = MergeStore(primary_url)
    for version in (1, 2, 3):
        merge_batch(store, wide_product(), version, snapshot(version), earlier_batches=range(1, version))
    config = replica_config(
        tmp_path / "alpha",
        replica_url,
        {"beta": primary_url},
        milestone=milestone,
        columns=WIDE_COLUMNS,
        key=KEY,
        chunk_size=1,
    )
    product = config.products[0]
    mirror = milestone == "forensic"

    seeded = replicate(config, product, to_batch=2)
    assert seeded.mode == "seed" and seeded.chunks >= len(AWKWARD)
    assert replica_rows(replica_url, WIDE_COLUMNS, mirror) == primary_rows_at(primary_url, WIDE_COLUMNS, 2, mirror)
    synced = replicate(config, product)
    assert (synced.mode, synced.to_batch, synced.deleted) == ("incremental", 3, 1)
    assert replica_rows(replica_url, WIDE_COLUMNS, mirror) == primary_rows_at(primary_url, WIDE_COLUMNS, 3, mirror)
    assert live_view_count(replica_url) == len(AWKWARD)


DOUBLES = {"id": "string", "score": "double"}


def doubles(values: dict[str, float | None]) -> pa.Table:
    return pa.table(
        {"id": list(values), "score": list(values.values())}, schema=arrow_schema(merge_spec(doubles_product()))
    )


def doubles_product() -> ProductConfig:
    return ProductConfig.model_validate(product_dict(milestone="forensic", columns=DOUBLES))


def replica_doubles(url: str) -> dict[str, str]:
    """id -> repr of the replica's live score as a float (SQLite keeps NaN as the text 'NaN'; NULL stays None)."""
    with MergeStore(url).engine.connect() as connection:
        rows = connection.execute(text('SELECT "id", "score" FROM "customers_live"')).all()
    return {key: repr(None if value is None else float(value)) for key, value in rows}


def test_nan_and_infinite_doubles_survive_every_pair_of_backends(pair, tmp_path) -> None:
    primary_url, replica_url = pair
    store = MergeStore(primary_url)
    first = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "null": None, "plain": 1.5}
    merge_batch(store, doubles_product(), 1, doubles(first))
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, columns=DOUBLES)
    replicate(config, config.products[0])
    assert replica_doubles(replica_url) == {key: repr(value) for key, value in first.items()}

    second = {**first, "plain": math.nan, "null": math.inf}
    merge_batch(store, doubles_product(), 2, doubles(second), earlier_batches=[1])
    assert replicate(config, config.products[0]).mode == "incremental"
    assert replica_doubles(replica_url) == {key: repr(value) for key, value in second.items()}
