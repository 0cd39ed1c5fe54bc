"""The Iceberg layer: the metadata cache, data files written outside pyiceberg's writer, expiry inside the append."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from platform_assets.storage import data_files, iceberg
from platform_assets.storage.iceberg import open_iceberg_catalog

COLUMNS = pa.schema([pa.field("id", pa.string()), pa.field("amount", pa.decimal128(12, 2))])


def open_catalog(tmp_path: Path, db_url: str):
    return open_iceberg_catalog("alpha", db_url, (tmp_path / "warehouse").as_uri())


def product_rows(count: int, version: int, files: list[str]) -> pa.Table:
    """``count`` rows of one version over ``files``, lineage strings dictionary-encoded as processing makes them."""
    names = pa.array(files, pa.string())
    indices = pa.array([index % len(files) for index in range(count)], pa.int32())
    source = pa.DictionaryArray.from_arrays(indices, names)
    shas = pa.DictionaryArray.from_arrays(
        indices, pa.array([f"{index:064d}" for index in range(len(files))], pa.string())
    )
    return pa.table(
        {
            "id": pa.array([f"k{index}" for index in range(count)], pa.string()),
            "amount": pa.array([None] * count, pa.decimal128(12, 2)),
            "_version": pa.repeat(pa.scalar(version, pa.int32()), count),
            "_source_file": source,
            "_source_sha256": shas,
            "_ingested_at": pa.repeat(pa.scalar(datetime(2026, 1, 1, tzinfo=UTC), pa.timestamp("us", tz="UTC")), count),
            "_source_line": pa.array(range(2, count + 2), pa.int64()),
        }
    )


def append(table, rows: pa.Table, version: int, file_id: int, expire: list[int] | None = None):
    files = data_files.write_partition_files(table, rows, version)
    iceberg.commit_files(table, files, iceberg.marker_properties("append", version, 1, [(file_id, "s")]), expire=expire)
    return files


def test_metadata_cache_still_sees_other_writers(tmp_path: Path, db_url: str) -> None:
    mine, theirs = open_catalog(tmp_path, db_url), open_catalog(tmp_path, db_url)
    table = iceberg.ensure_table(mine, "alpha.t", iceberg.product_arrow_schema(COLUMNS))
    first = mine.load_table("alpha.t")
    assert mine.load_table("alpha.t").metadata is first.metadata, "an unchanged table is parsed once"
    append(theirs.load_table("alpha.t"), product_rows(3, 1, ["a.csv"]), 1, 1)
    seen = mine.load_table("alpha.t")
    assert seen.metadata_location != table.metadata_location
    assert [marker.file_ids for marker in iceberg.commit_markers(seen)] == [frozenset({1})]
    assert seen.scan().to_arrow().num_rows == 3


def test_large_writes_split_into_parallel_files_that_read_back_as_plain_strings(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(data_files, "MIN_ROWS_PER_FILE", 10)
    catalog = open_catalog(tmp_path, db_url)
    table = iceberg.ensure_table(catalog, "alpha.t", iceberg.product_arrow_schema(COLUMNS))
    written = append(table, product_rows(45, 7, ["a.csv", "b.csv"]), 7, 1)
    assert len(written) == min(os.cpu_count() or 1, 4)
    assert sum(data_file.record_count for data_file in written) == 45
    assert all(data_file.partition[0] == 7 for data_file in written)
    rows = catalog.load_table("alpha.t").scan().to_arrow().sort_by("id")
    assert all(
        pa.types.is_string(rows[name].type) or pa.types.is_large_string(rows[name].type)
        for name in ("_source_file", "_source_sha256")
    )
    assert pc.value_counts(rows["_source_file"]).to_pylist() == [
        {"values": "a.csv", "counts": 23},
        {"values": "b.csv", "counts": 22},
    ]
    paths = [data_file.file_path.removeprefix("file://") for data_file in written]
    second_reader = duckdb.sql(
        f"SELECT typeof(_source_file), count(*) FROM read_parquet({paths!r}) GROUP BY 1"
    ).fetchall()
    assert second_reader == [("VARCHAR", 45)]
    lower = {data_file.lower_bounds[table.schema().find_field("_source_file").field_id] for data_file in written}
    assert lower == {b"a.csv"}, "column statistics come from the written values"


def test_expiry_rides_on_the_append_commit(tmp_path: Path, db_url: str) -> None:
    catalog = open_catalog(tmp_path, db_url)
    table = iceberg.ensure_table(catalog, "alpha.t", iceberg.product_arrow_schema(COLUMNS))
    for version in (1, 2, 3):
        append(catalog.load_table("alpha.t"), product_rows(2, version, [f"v{version}.csv"]), version, version)
    table = catalog.load_table("alpha.t")
    assert iceberg.expirable_snapshots(table, timedelta(hours=1), lambda marker: False) == []
    old = iceberg.expirable_snapshots(table, timedelta(0), lambda marker: 2 in marker.file_ids)
    assert len(old) == 1, "the current snapshot and the protected marker stay"
    commits_before = len(table.metadata.metadata_log)
    append(table, product_rows(2, 4, ["v4.csv"]), 4, 4, expire=old)
    table = catalog.load_table("alpha.t")
    assert len(table.metadata.metadata_log) == commits_before + 1, "one commit for the append and the expiry"
    assert [sorted(marker.file_ids) for marker in iceberg.commit_markers(table)] == [[2], [3], [4]]
    assert table.scan().to_arrow().num_rows == 8, "expiring snapshots removes no rows"


def test_a_worker_racing_another_to_create_the_namespace_still_opens_the_catalog(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    open_catalog(tmp_path, db_url)  # the other worker created the namespace
    real = iceberg.PlatformIcebergCatalog.namespace_exists
    calls: list[str] = []

    def absent_at_first_check(self, namespace):
        calls.append(namespace)
        return False if len(calls) == 1 else real(self, namespace)

    # pyiceberg checks, then inserts: this worker's check ran just before the other worker's insert.
    monkeypatch.setattr(iceberg.PlatformIcebergCatalog, "namespace_exists", absent_at_first_check)
    catalog = open_catalog(tmp_path, db_url)
    assert len(calls) == 2 and catalog.list_namespaces() == [("alpha",)]


def test_a_new_table_is_partitioned_by_version_from_its_first_metadata(tmp_path: Path, db_url: str) -> None:
    """Created with its spec in one commit: a worker loading it at any moment sees it partitioned (a second commit
    adding the spec once let a racing worker write an unpartitioned file list and fail)."""
    catalog = open_catalog(tmp_path, db_url)
    created = iceberg.ensure_table(catalog, "alpha.t", iceberg.product_arrow_schema(COLUMNS))
    other = open_catalog(tmp_path, db_url).load_table("alpha.t")
    for table in (created, other):
        assert table.metadata.metadata_log == []  # the first metadata file is the current one
        (field,) = table.spec().fields
        assert (field.name, str(field.transform), table.schema().find_column_name(field.source_id)) == (
            "_version",
            "identity",
            "_version",
        )
    rows = product_rows(10, 3, ["a.csv"])
    append(other, rows, 3, 1)
    assert (
        iceberg.ensure_table(catalog, "alpha.t", iceberg.product_arrow_schema(COLUMNS)).scan().to_arrow().num_rows == 10
    )
