"""A product lives through five schema changes, from its files to a replica, under each ``schema.evolution`` mode.

v1 declares id, name, n (int); v2's file brings a new column city; v3 declares n
as bigint (widen_types: true) and a file holds 2**40; v4's file lacks name; v5
declares n as int again (a narrowing). Each step is checked in the catalog's
schema versions, the Iceberg table, the merge table and its live view, and a
replica on another platform:

- add_columns: v2 adds city (schema version 2) to Iceberg, the merge table, the
  view and the replica; v1's rows read NULL in it; key 1, NULL in city, opens
  no milestone, key 2 (a city now) is a change like any other.
- rescue: v2's city goes into ``_rescued`` (Iceberg only); nothing is added,
  key 2 opens no milestone.
- strict: v2 FAILS naming city and the config change; it is excluded, the
  product goes on.
- every mode: v3 widens n everywhere in place; v4's rows read NULL in name (in
  the version's drift); v5 FAILS with the narrowing named, nothing changes.

Matrix (kept small: 3 to 8 s per case, Spark's session start aside): each mode
on SQLite and PostgreSQL state (and merge stores) with the Arrow parser, and
on SQLite with Spark. Two more tests: a Parquet file widens n and adds a
column with the config unchanged; a kill right after the evolved Iceberg
commit leaves no schema version until the rerun records it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from platform_assets.catalog.records import SchemaVersionRecord
from platform_assets.config import PlatformConfig, load_config
from platform_assets.errors import SchemaMismatch
from platform_assets.merge import MergeStore
from platform_assets.merge.spec import LIVE_BATCH_OUT
from platform_assets.platform import Platform
from platform_assets.replication import replicate
from platform_assets_tests.conftest import process_in_crashing_process, write_platform_config

V1_COLUMNS = {"id": "string", "name": "string", "n": "int"}
V3_COLUMNS = {"id": "string", "name": "string", "n": "bigint"}
BIG = 2**40
LINEAGE = ["_version", "_source_file", "_source_sha256", "_ingested_at", "_source_line"]
SPARK = pytest.mark.spark
CASES = [
    pytest.param(
        mode, backend, engine, id=f"{mode}-{backend}-{engine}", marks=[pytest.mark.spark] * (engine == "spark")
    )
    for mode in ("add_columns", "rescue", "strict")
    for backend, engine in (("sqlite", "arrow"), ("postgres", "arrow"), ("sqlite", "spark"))
]


class Lifecycle:
    """One primary platform (alpha) and its replica platform (beta) around the product ``customers``."""

    def __init__(
        self, folder: Path, state_db: str, merge_store: str, replica_store: str, mode: str, fmt: str = "csv"
    ) -> None:
        self.folder, self.state_db, self.merge_store, self.mode, self.fmt = folder, state_db, merge_store, mode, fmt
        self.landing = folder / "landing"
        self.landing.mkdir(parents=True)
        self.parser: Any = None
        self.config_path = ""
        self.platform = self.declare(V1_COLUMNS)
        if replica_store:
            self.replica_config = self.replica(replica_store)

    def replica(self, replica_store: str) -> PlatformConfig:
        """The replica platform beta: customers, primary on alpha, read from alpha's merge store."""
        replica_product = {**self.product(V1_COLUMNS), "primary_platforms": ["alpha"]}
        replica_folder = self.folder / "beta"
        replica_folder.mkdir()
        return load_config(
            write_platform_config(
                replica_folder,
                f"sqlite:///{replica_folder / 'state.db'}",
                f"file://{self.landing}",
                f"file://{replica_folder / 'raw'}",
                products=[replica_product],
                merge_store=replica_store,
                extra_platform={"name": "beta"},
                platforms={"alpha": {"merge_store": self.merge_store}},
            )
        )

    def product(self, columns: dict[str, str]) -> dict[str, Any]:
        return {
            "name": "customers",
            "source": {"url": f"file://{self.landing}", "glob": f"*.{self.fmt}", "format": self.fmt},
            "schema": {"columns": columns, "primary_key": ["id"], "evolution": self.mode, "widen_types": True},
            "mode": "incremental",
            "milestone": "forensic",
            "primary_platforms": ["alpha"],
        }

    def declare(self, columns: dict[str, str]) -> Platform:
        """The primary platform with ``columns`` declared (same stores: a config change)."""
        path = write_platform_config(
            self.folder,
            self.state_db,
            f"file://{self.landing}",
            f"file://{self.folder / 'raw'}",
            products=[self.product(columns)],
            merge_store=self.merge_store,
            extra_platform={"processing": {"retry_backoff_seconds": 0, "max_retries": 0, "lease_seconds": 5}},
        )
        self.config_path = path
        self.platform = Platform(load_config(path), actor="test")
        return self.platform

    def land(self, name: str, content: str | bytes) -> int:
        """Write one file into the landing folder, sync and capture it: the new version."""
        path = self.landing / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
        registered = self.platform.sync("customers")
        assert registered is not None
        assert self.platform.capture("customers", registered.number).status == "CAPTURED"
        return registered.number

    def process(self, version: int) -> None:
        assert self.platform.process("customers", version, parser=self.parser).succeeded

    def refused(self, version: int) -> str:
        """Processing fails the version; its message (also the version's status_reason)."""
        with pytest.raises(SchemaMismatch) as raised:
            self.platform.process("customers", version, parser=self.parser)
        record = self.platform.catalog.version("customers", version)
        assert (record.status, record.status_reason) == ("FAILED", str(raised.value))
        return str(raised.value)

    def merge_and_replicate(self, version: int) -> None:
        self.platform.merge("customers", version)
        replicate(self.replica_config, self.replica_config.products[0])

    def iceberg_columns(self) -> list[str]:
        table = self.platform.services.iceberg.iceberg_catalog.load_table("alpha.customers")
        return [field.name for field in table.schema().fields if field.name not in LINEAGE]

    def iceberg_rows(self) -> dict[str, dict[str, Any]]:
        table = self.platform.services.iceberg.iceberg_catalog.load_table("alpha.customers")
        rows = table.scan().to_arrow()
        product_rows = rows.drop_columns([name for name in LINEAGE if name in rows.column_names])
        return {row["id"]: row for row in product_rows.to_pylist()}

    def schema_of(self, version: int) -> SchemaVersionRecord:
        found = self.platform.catalog.schema_of_version("customers", version)
        assert found is not None, f"v{version} has no schema version"
        return found

    def schema_numbers(self) -> list[tuple[int, int]]:
        """(schema version, the version that introduced it) of every schema version."""
        return [(item.number, item.introduced_by) for item in self.platform.catalog.schema_versions("customers")]


def live_view(url: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The view's columns and rows, n as int, sorted by id."""
    with MergeStore(url).engine.connect() as connection:
        result = connection.execute(text('SELECT * FROM "customers_live"'))
        columns = list(result.keys())
        rows = [
            tuple(int(value) if name == "n" and value is not None else value for name, value in zip(columns, row))
            for row in result
        ]
    return columns, sorted(rows, key=lambda row: row[0])


def milestones(url: str, key: str) -> list[tuple[int, int]]:
    """(_batch_in, _batch_out) of every row of ``key`` in the merge table."""
    with MergeStore(url).engine.connect() as connection:
        rows = connection.execute(
            text('SELECT "_batch_in", "_batch_out" FROM "customers_merge" WHERE id = :key ORDER BY "_batch_in"'),
            {"key": key},
        )
        return [(int(batch_in), int(batch_out)) for batch_in, batch_out in rows]


def stored_type(url: str, column: str) -> str:
    store = MergeStore(url)
    with store.engine.connect() as connection:
        columns = dict(store.dialect.existing_columns(connection, "customers_merge"))
    return columns[column].replace(" ", "").lower()


@pytest.mark.parametrize(("mode", "backend", "engine"), CASES)
def test_a_product_lives_through_added_widened_missing_and_narrowed_columns(
    tmp_path: Path, pg_database: Any, request: pytest.FixtureRequest, mode: str, backend: str, engine: str
) -> None:
    if backend == "sqlite":
        state, merge, replica = (f"sqlite:///{tmp_path / name}.db" for name in ("state", "merge", "replica"))
    else:
        state, merge, replica = (pg_database(name) for name in ("state", "merge", "replica"))
    life = Lifecycle(tmp_path, state, merge, replica, mode)
    if engine == "spark":
        from platform_assets.ingest.parsing import SparkParser

        life.parser = SparkParser(request.getfixturevalue("spark_session"))
    added = mode == "add_columns"

    # v1: the declared columns.
    v1 = life.land("a.csv", "id,name,n\n1,Ann,7\n2,Bob,8\n")
    life.process(v1)
    life.merge_and_replicate(v1)
    assert life.schema_numbers() == [(1, v1)]

    # v2: a file with a new column.
    v2 = life.land("b.csv", "id,name,n,city\n2,Bob,8,Zug\n3,Cy,9,Bern\n")
    if mode == "strict":
        message = life.refused(v2)
        assert "city" in message and "schema.evolution: add_columns" in message
        life.platform.exclude("customers", v2, "a new column under strict")
    else:
        life.process(v2)
        life.merge_and_replicate(v2)
    rows = life.iceberg_rows()
    if added:
        assert life.schema_numbers() == [(1, v1), (2, v2)]
        assert life.iceberg_columns() == ["id", "name", "n", "city"]
        assert rows["1"]["city"] is None and rows["3"]["city"] == "Bern"
        assert life.schema_of(v2).number == 2
    else:
        assert life.schema_numbers() == [(1, v1)]
        assert "city" not in life.iceberg_columns()
    if mode == "rescue":
        assert json.loads(rows["3"]["_rescued"]) == {"city": "Bern"} and rows["1"]["_rescued"] is None

    # v3: n widens to bigint, declared, with a value only bigint holds.
    life.declare(V3_COLUMNS)
    v3 = life.land("c.csv", f"id,name,n\n4,Di,{BIG}\n")
    life.process(v3)
    life.merge_and_replicate(v3)
    expected_schemas = [(1, v1), (2, v2), (3, v3)] if added else [(1, v1), (2, v3)]
    assert life.schema_numbers() == expected_schemas
    assert life.schema_of(v3).column_types["n"] == "bigint"
    for url in (merge, replica):
        assert stored_type(url, "n") == "bigint"

    # v4: a file without the column name: NULL for its rows, listed in the version's drift.
    v4 = life.land("d.csv", "id,n\n5,3\n")
    life.process(v4)
    life.merge_and_replicate(v4)
    missing = {"name": ["d.csv"], "city": ["d.csv"]} if added else {"name": ["d.csv"]}
    assert life.platform.catalog.version_drift("customers", v4) == {"missing": missing}
    assert life.schema_numbers() == expected_schemas

    # v5: n declared as int again: a narrowing, refused under every mode; nothing changes.
    life.declare(V1_COLUMNS)
    v5 = life.land("e.csv", "id,name,n\n6,Ed,1\n")
    assert "narrows" in life.refused(v5)
    assert life.schema_numbers() == expected_schemas

    live: list[tuple[Any, ...]] = [("1", "Ann", 7), ("2", "Bob", 8), ("3", "Cy", 9), ("4", "Di", BIG), ("5", None, 3)]
    if added:
        live = [(*row, city) for row, city in zip(live, [None, "Zug", "Bern", None, None])]
    if mode == "strict":
        live = [row for row in live if row[0] != "3"]
    columns = ["id", "name", "n", "city"] if added else ["id", "name", "n"]
    assert live_view(merge) == (columns, live)
    assert live_view(replica) == (columns, live), "the replica follows the primary"
    assert milestones(merge, "1") == [(1, LIVE_BATCH_OUT)], "a new column NULL for an existing key opens no milestone"
    key_2 = [(1, 1), (2, LIVE_BATCH_OUT)] if added else [(1, LIVE_BATCH_OUT)]
    assert milestones(merge, "2") == key_2, "a value in the new column is a change like any other"


def test_a_crash_after_the_evolved_commit_records_the_schema_on_the_rerun(tmp_path: Path) -> None:
    """Killed right after v2's Iceberg commit added city: v2 stays PROCESSING without a schema version (no merge
    can take it); processing it again records schema version 2, and the merge table takes city."""
    merge = f"sqlite:///{tmp_path / 'merge.db'}"
    life = Lifecycle(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", merge, "", "add_columns")
    v1 = life.land("a.csv", "id,name,n\n1,Ann,7\n")
    life.process(v1)
    life.platform.merge("customers", v1)
    v2 = life.land("b.csv", "id,name,n,city\n2,Bob,8,Zug\n")
    crashed = process_in_crashing_process(life.config_path, v2, "process.after_iceberg_commit")
    assert crashed.returncode == 86, crashed.stderr
    assert "city" in life.iceberg_columns()
    assert life.schema_numbers() == [(1, v1)]
    assert life.platform.catalog.version("customers", v2).status == "PROCESSING"
    time.sleep(5.5)  # the dead worker's lease runs out
    life.process(v2)
    assert life.schema_numbers() == [(1, v1), (2, v2)]
    life.platform.merge("customers", v2)
    assert live_view(merge) == (
        ["id", "name", "n", "city"],
        [("1", "Ann", 7, None), ("2", "Bob", 8, "Zug")],
    )


def parquet(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return bytes(sink.getvalue().to_pybytes())


def test_a_parquet_file_widens_and_adds_in_every_layer_though_the_config_keeps_its_columns(tmp_path: Path) -> None:
    """The config still declares n: int; a Parquet file's int64 n (widen_types) and its new column city reach the
    catalog's schema versions, the merge table, its view and the replica."""
    merge, replica = f"sqlite:///{tmp_path / 'merge.db'}", f"sqlite:///{tmp_path / 'replica.db'}"
    life = Lifecycle(tmp_path, f"sqlite:///{tmp_path / 'state.db'}", merge, replica, "add_columns", fmt="parquet")
    v1 = life.land("a.parquet", parquet(pa.table({"id": ["1"], "name": ["Ann"], "n": pa.array([7], pa.int32())})))
    life.process(v1)
    life.merge_and_replicate(v1)
    wide = pa.table({"id": ["2"], "name": ["Bob"], "n": pa.array([BIG], pa.int64()), "city": ["Zug"]})
    v2 = life.land("b.parquet", parquet(wide))
    life.process(v2)
    life.merge_and_replicate(v2)
    schema = life.schema_of(v2)
    assert (schema.number, schema.column_types) == (
        2,
        {"id": "string", "name": "string", "n": "bigint", "city": "string"},
    )
    assert "widens from int to bigint" in schema.change and schema.change.endswith("(from the version's files)")
    for url in (merge, replica):
        assert stored_type(url, "n") == "bigint"
        assert live_view(url) == (["id", "name", "n", "city"], [("1", "Ann", 7, None), ("2", "Bob", BIG, "Zug")])
