"""Iceberg schema evolution lands in the commit of the version's data; pyiceberg and DuckDB read the evolved table.

DuckDB cannot download extensions here: the PyPI packages duckdb-ext-iceberg and
duckdb-ext-avro ship them for duckdb 1.4.4, and the test LOADs them by path.
"""

from __future__ import annotations

import importlib.metadata
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from platform_assets.storage import data_files, iceberg
from platform_assets.storage.iceberg import open_iceberg_catalog
from platform_assets.storage.iceberg_schema import (
    IcebergSchemaRefused,
    StaleWriteSchema,
    commit_evolved_files,
    plan_schema_update,
    staged_table,
)

BEFORE = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("n", pa.int32()),
        pa.field("amount", pa.decimal128(10, 2)),
        pa.field("ratio", pa.float32()),
    ]
)
AFTER = pa.schema(
    [
        pa.field("id", pa.string()),
        pa.field("n", pa.int64()),
        pa.field("amount", pa.decimal128(14, 2)),
        pa.field("ratio", pa.float64()),
        pa.field("email", pa.string()),
    ]
)
INGESTED = datetime(2026, 1, 1, tzinfo=UTC)


def open_catalog(tmp_path: Path, db_url: str) -> SqlCatalog:
    return open_iceberg_catalog("alpha", db_url, (tmp_path / "warehouse").as_uri())


def version_rows(table: Table, version: int, rows: list[dict[str, Any]]) -> pa.Table:
    """``rows`` (product columns) with the lineage columns, in the table's Arrow schema."""
    lineage = {"_version": version, "_source_file": f"v{version}.csv", "_source_sha256": "0" * 64}
    records = [{**row, **lineage, "_ingested_at": INGESTED} for row in rows]
    return pa.Table.from_pylist(records, schema=table.schema().as_arrow())


def markers(version: int) -> dict[str, str]:
    return iceberg.marker_properties("append", version, 1, [(version, "sha")])


def duckdb_with_iceberg() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the avro and iceberg extensions LOADed from the files their PyPI packages install."""
    connection = duckdb.connect()
    for package in ("duckdb-ext-avro", "duckdb-ext-iceberg"):
        distribution = importlib.metadata.distribution(package)
        found = [item for item in distribution.files or [] if str(item).endswith(".duckdb_extension")]
        assert len(found) == 1, f"{package} ships one extension file for duckdb {duckdb.__version__}"
        connection.execute(f"LOAD '{distribution.locate_file(found[0])}'")
    return connection


def evolve_with_version_2(catalog: SqlCatalog) -> Table:
    """Version 1 under BEFORE, then version 2 evolving the table to AFTER in its own commit."""
    table = iceberg.ensure_table(catalog, "alpha.t", iceberg.product_arrow_schema(BEFORE))
    first = [
        {"id": "a", "n": 7, "amount": Decimal("12.30"), "ratio": 0.5},
        {"id": "b", "n": -2, "amount": None, "ratio": None},
    ]
    iceberg.commit_files(table, data_files.write_partition_files(table, version_rows(table, 1, first), 1), markers(1))
    table = catalog.load_table("alpha.t")
    staged = staged_table(table, iceberg.product_arrow_schema(AFTER))
    second = [{"id": "c", "n": 2**40, "amount": Decimal("123456789012.34"), "ratio": 0.25, "email": "c@example.com"}]
    files = data_files.write_partition_files(staged, version_rows(staged, 2, second), 2)
    commit_evolved_files(table, iceberg.product_arrow_schema(AFTER), staged.schema(), files, markers(2))
    return catalog.load_table("alpha.t")


def test_the_schema_update_and_the_data_land_in_one_commit(tmp_path: Path, db_url: str) -> None:
    catalog = open_catalog(tmp_path, db_url)
    table = iceberg.ensure_table(catalog, "alpha.t", iceberg.product_arrow_schema(BEFORE))
    before_schema = table.schema().schema_id
    evolved = evolve_with_version_2(catalog)

    snapshots = evolved.metadata.snapshots
    assert [snapshot.schema_id for snapshot in snapshots] == [before_schema, evolved.schema().schema_id]
    assert evolved.schema().schema_id != before_schema
    assert len(evolved.metadata.metadata_log) == 2, "create, append v1, then ONE commit for schema and data"
    assert iceberg.committed_file_ids(evolved, 2, 1) == {2}, "the markers ride on the evolving commit"
    assert [field.name for field in evolved.schema().fields] == [
        "id",
        "n",
        "amount",
        "ratio",
        "email",
        "_version",
        "_source_file",
        "_source_sha256",
        "_ingested_at",
        "_source_line",
    ]
    assert not evolved.schema().find_field("email").required

    rows = evolved.scan(selected_fields=("id", "n", "amount", "ratio", "email")).to_arrow().sort_by("id")
    assert rows.schema.field("n").type == pa.int64()
    assert rows.schema.field("amount").type == pa.decimal128(14, 2)
    assert rows.schema.field("ratio").type == pa.float64()
    assert rows.to_pylist() == [
        {"id": "a", "n": 7, "amount": Decimal("12.30"), "ratio": 0.5, "email": None},
        {"id": "b", "n": -2, "amount": None, "ratio": None, "email": None},
        {"id": "c", "n": 2**40, "amount": Decimal("123456789012.34"), "ratio": 0.25, "email": "c@example.com"},
    ]


def test_duckdb_reads_the_new_column_and_the_widened_types(tmp_path: Path, db_url: str) -> None:
    evolved = evolve_with_version_2(open_catalog(tmp_path, db_url))
    location = evolved.metadata_location.removeprefix("file://")
    connection = duckdb_with_iceberg()
    scan = f"iceberg_scan('{location}')"
    types = dict(connection.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {scan})").fetchall())
    assert (types["n"], types["amount"], types["ratio"], types["email"]) == (
        "BIGINT",
        "DECIMAL(14,2)",
        "DOUBLE",
        "VARCHAR",
    )
    rows = connection.execute(f"SELECT id, n, amount, ratio, email, _version FROM {scan} ORDER BY id").fetchall()
    assert rows == [
        ("a", 7, Decimal("12.30"), 0.5, None, 1),
        ("b", -2, None, None, None, 1),
        ("c", 2**40, Decimal("123456789012.34"), 0.25, "c@example.com", 2),
    ]
    ingested = connection.execute(f"SELECT DISTINCT _ingested_at FROM {scan}").fetchone()
    assert ingested is not None and ingested[0] == INGESTED


def test_a_writer_whose_files_carry_other_field_ids_commits_nothing(tmp_path: Path, db_url: str) -> None:
    catalog = open_catalog(tmp_path, db_url)
    table = iceberg.ensure_table(catalog, "alpha.t", iceberg.product_arrow_schema(BEFORE))
    with_email = iceberg.product_arrow_schema(pa.schema([*BEFORE, pa.field("email", pa.string())]))
    with_phone = iceberg.product_arrow_schema(pa.schema([*BEFORE, pa.field("phone", pa.string())]))
    mine, theirs = staged_table(table, with_email), staged_table(table, with_phone)
    row = {"id": "a", "n": 1, "amount": None, "ratio": None}
    their_files = data_files.write_partition_files(theirs, version_rows(theirs, 1, [{**row, "phone": "1"}]), 1)
    commit_evolved_files(table, with_phone, theirs.schema(), their_files, markers(1))
    my_files = data_files.write_partition_files(mine, version_rows(mine, 2, [{**row, "email": "e"}]), 2)

    fresh = catalog.load_table("alpha.t")
    with pytest.raises(StaleWriteSchema, match="email"):
        commit_evolved_files(fresh, with_email, mine.schema(), my_files, markers(2))
    after = catalog.load_table("alpha.t")
    assert after.metadata_location == fresh.metadata_location, "nothing was committed"
    assert "email" not in [field.name for field in after.schema().fields]

    target = iceberg.product_arrow_schema(
        pa.schema([*BEFORE, pa.field("phone", pa.string()), pa.field("email", pa.string())])
    )
    rewritten = staged_table(after, target)
    files = data_files.write_partition_files(rewritten, version_rows(rewritten, 2, [{**row, "email": "e"}]), 2)
    commit_evolved_files(after, target, rewritten.schema(), files, markers(2))
    rows = catalog.load_table("alpha.t").scan(selected_fields=("id", "phone", "email")).to_arrow()
    assert sorted(rows.to_pylist(), key=repr) == sorted(
        [{"id": "a", "phone": "1", "email": None}, {"id": "a", "phone": None, "email": "e"}], key=repr
    )


def test_two_writers_evolving_alike_give_the_same_field_ids(tmp_path: Path, db_url: str) -> None:
    catalog = open_catalog(tmp_path, db_url)
    table = iceberg.ensure_table(catalog, "alpha.t", iceberg.product_arrow_schema(BEFORE))
    target = iceberg.product_arrow_schema(AFTER)
    first, second = staged_table(table, target), staged_table(table, target)
    row = {"id": "a", "n": 1, "amount": None, "ratio": None, "email": "x"}
    for number, staged in ((1, first), (2, second)):
        files = data_files.write_partition_files(staged, version_rows(staged, number, [row]), number)
        commit_evolved_files(catalog.load_table("alpha.t"), target, staged.schema(), files, markers(number))
    final = catalog.load_table("alpha.t")
    assert len(final.schemas()) == 2, "the second writer found the columns already there"
    assert final.scan(selected_fields=("email",)).to_arrow().column("email").to_pylist() == ["x", "x"]


def test_an_unchanged_schema_is_a_plain_append(tmp_path: Path, db_url: str) -> None:
    catalog = open_catalog(tmp_path, db_url)
    table = iceberg.ensure_table(catalog, "alpha.t", iceberg.product_arrow_schema(BEFORE))
    assert plan_schema_update(table.schema(), iceberg.product_arrow_schema(BEFORE)).is_empty
    assert staged_table(table, iceberg.product_arrow_schema(BEFORE)) is table
    files = data_files.write_partition_files(table, version_rows(table, 1, [{"id": "a", "n": 1}]), 1)
    commit_evolved_files(table, iceberg.product_arrow_schema(BEFORE), table.schema(), files, markers(1))
    assert len(catalog.load_table("alpha.t").schemas()) == 1


@pytest.mark.parametrize(
    ("column", "new_type"),
    [("n", pa.string()), ("n", pa.float64()), ("amount", pa.decimal128(8, 2)), ("amount", pa.decimal128(14, 3))],
)
def test_a_change_iceberg_cannot_widen_is_refused(
    tmp_path: Path, db_url: str, column: str, new_type: pa.DataType
) -> None:
    catalog = open_catalog(tmp_path, db_url)
    table = iceberg.ensure_table(catalog, "alpha.t", iceberg.product_arrow_schema(BEFORE))
    target = iceberg.product_arrow_schema(
        pa.schema([pa.field(field.name, new_type) if field.name == column else field for field in BEFORE])
    )
    with pytest.raises(IcebergSchemaRefused, match=f"column '{column}' of table alpha.t"):
        staged_table(table, target)
