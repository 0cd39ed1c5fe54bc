"""Both engines evolve a product's schema the same way: one test per ``schema.evolution`` mode, the same files
through the Arrow and the Spark parser, then the Iceberg rows, schema, rejects and drift compared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from platform_assets.errors import SchemaMismatch
from platform_assets.platform import Platform
from platform_assets_tests.ingest.test_evolution import capture_bytes, parquet_bytes, platform_of, product

pytestmark = pytest.mark.spark


def run_both(
    tmp_path: Path, spark_session: Any, settings: dict[str, Any], versions: list[dict[str, bytes]]
) -> dict[str, Any]:
    """Each engine's outcome of processing ``versions`` in turn: rows, schema, rejects, drift, or the error."""
    from platform_assets.ingest.parsing import SparkParser

    outputs = {}
    for engine in ("arrow", "spark"):
        folder = tmp_path / engine
        folder.mkdir()
        platform = platform_of(folder, f"sqlite:///{folder}/state.db", product(folder, **settings))
        parser = SparkParser(spark_session) if engine == "spark" else None
        outcome: list[Any] = []
        for files in versions:
            version = capture_bytes(platform, files)
            try:
                platform.process("customers", version, parser=parser)
                outcome.append(platform.catalog.version_drift("customers", version))
            except SchemaMismatch as error:
                outcome.append(str(error))
        outputs[engine] = (*_tables(platform), outcome)
    return outputs


def _tables(platform: Platform) -> tuple[list[Any], list[str], list[Any]]:
    catalog = platform.services.iceberg.iceberg_catalog
    table = catalog.load_table("alpha.customers")
    rows = table.scan().to_arrow().drop_columns(["_ingested_at", "_source_sha256"])
    rows = rows.sort_by([("_version", "ascending"), ("_source_file", "ascending"), ("id", "ascending")])
    schema = [f"{field.name}: {field.field_type}" for field in table.schema().fields]
    rejects = catalog.load_table("alpha.customers_rejects").scan().to_arrow()
    rejected = rejects.select(["_version", "_source_file", "_line_number", "_raw", "_reason"]).sort_by(
        [("_source_file", "ascending"), ("_line_number", "ascending")]
    )
    return rows.to_pylist(), schema, rejected.to_pylist()


def test_add_columns_gives_the_same_table_on_both_engines(tmp_path: Path, spark_session: Any) -> None:
    lines = [
        '{"id": "2", "name": "Bo", "amount": 2.5, "visits": 3}',
        '{"id": "3", "amount": "oops", "visits": 4, "vip": true}',
        '{"id": "4", "name": "Di", "amount": 4, "vip": false}',
    ]
    versions = [
        {"a.json": b'{"id": "1", "name": "Ann", "amount": 1.5}\n'},
        {"b.json": ("\n".join(lines) + "\n").encode()},
    ]
    outputs = run_both(tmp_path, spark_session, {"fmt": "json", "evolution": "add_columns", "bad_rows": 0.5}, versions)
    assert outputs["spark"] == outputs["arrow"]
    rows, schema, rejected, drift = outputs["arrow"]
    assert schema[:6] == [
        "id: string",
        "name: string",
        "amount: decimal(12, 2)",
        "visits: long",
        "vip: boolean",
        "_version: int",
    ]
    assert [row["id"] for row in rows] == ["1", "2", "4"] and len(rejected) == 1
    assert drift[1] == {"added": {"visits": ["b.json"], "vip": ["b.json"]}}


def test_rescue_gives_the_same_table_on_both_engines(tmp_path: Path, spark_session: Any) -> None:
    versions = [
        {"a.json": b'{"id": "1", "name": "Ann", "amount": 1.5}\n'},
        {"b.json": b'{"id": "2", "name": "Bo", "amount": 2.5, "tags": [1, 2.50], "n": 7}\n{"id": "3", "amount": 3}\n'},
    ]
    outputs = run_both(tmp_path, spark_session, {"fmt": "json", "evolution": "rescue"}, versions)
    assert outputs["spark"] == outputs["arrow"]
    rows, schema, _, drift = outputs["arrow"]
    assert "_rescued: string" in schema and not any(name.startswith(("tags", "n:")) for name in schema)
    rescued = {row["id"]: row["_rescued"] for row in rows}
    assert rescued == {"1": None, "2": '{"tags":[1,2.50],"n":7}', "3": None}, "raw values, numbers as written"
    assert {row["id"]: row["name"] for row in rows}["3"] is None, "a line without a key reads NULL"
    assert drift[1] == {"rescued": {"n": ["b.json"], "tags": ["b.json"]}}


def test_strict_fails_the_same_way_on_both_engines(tmp_path: Path, spark_session: Any) -> None:
    first = pa.table({"id": ["1"], "name": ["Ann"], "amount": pa.array([1], pa.int32())})
    second = pa.table({"id": ["2"], "amount": pa.array([2], pa.int32()), "email": ["bo@x.org"]})
    versions = [{"a.parquet": parquet_bytes(first)}, {"b.parquet": parquet_bytes(second)}]
    outputs = run_both(tmp_path, spark_session, {"fmt": "parquet"}, versions)
    assert outputs["spark"] == outputs["arrow"]
    rows, _, _, outcome = outputs["arrow"]
    assert len(rows) == 1
    assert outcome[1].startswith("b.parquet: the file's columns are refused: new column(s) email (string)")
