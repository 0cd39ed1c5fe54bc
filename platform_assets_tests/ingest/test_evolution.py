"""File-driven schema evolution (README, "Schema evolution"): add_columns, rescue, strict, missing columns, widening,
narrowing; the evolved Iceberg schema lands with the version's data. Both state backends."""

from __future__ import annotations

import json
import multiprocessing
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from platform_assets.config import load_config
from platform_assets.errors import SchemaMismatch
from platform_assets.platform import Platform
from platform_assets_tests.conftest import process_in_crashing_process, write_platform_config
from platform_assets_tests.ingest.test_processing import FAST_RETRIES, _worker, _worker_results, capture, table_rows
from platform_assets_tests.storage.test_iceberg_schema import duckdb_with_iceberg

COLUMNS = {"id": "string", "name": "string", "amount": "decimal(12,2)"}
LINEAGE = ["_version", "_source_file", "_source_sha256", "_ingested_at", "_source_line"]


def product(
    tmp_path: Path,
    name: str = "customers",
    fmt: str = "csv",
    columns: dict[str, str] | None = None,
    bad_rows: float = 0,
    **schema: Any,
) -> dict[str, Any]:
    """Product ``name`` (incremental, key id) reading ``*.<fmt>``; ``schema`` holds evolution, widen_types."""
    return {
        "name": name,
        "source": {"url": f"file://{tmp_path}/landing/{name}", "glob": f"*.{fmt}", "format": fmt},
        "schema": {"columns": columns or COLUMNS, "primary_key": ["id"], **schema},
        "mode": "incremental",
        "max_bad_row_fraction": bad_rows,
    }


def platform_of(tmp_path: Path, db_url: str, *products: dict[str, Any], **settings: Any) -> Platform:
    for item in products:
        Path(item["source"]["url"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    path = write_platform_config(
        tmp_path,
        db_url,
        f"file://{tmp_path}/landing",
        f"file://{tmp_path}/raw",
        products=list(products),
        extra_platform={**FAST_RETRIES, **settings},
    )
    return Platform(load_config(path), actor="test")


def column_names(platform: Platform, name: str = "customers") -> list[str]:
    table = platform.services.iceberg.iceberg_catalog.load_table(f"alpha.{name}")
    return [field.name for field in table.schema().fields if field.name not in LINEAGE]


def rows_by_id(platform: Platform, name: str = "customers") -> dict[str, dict[str, Any]]:
    rows = table_rows(platform, product=name).drop_columns(LINEAGE).to_pylist()
    return {row["id"]: row for row in rows}


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def capture_bytes(platform: Platform, files: dict[str, bytes], name: str = "customers") -> int:
    landing = Path(platform.product(name).source.url.removeprefix("file://"))
    for key, data in files.items():
        (landing / key).write_bytes(data)
    registered = platform.sync(name)
    assert registered is not None
    platform.capture(name, registered.number)
    return registered.number


def test_add_columns_adds_the_new_column_at_the_end_and_earlier_rows_read_null(tmp_path: Path, db_url: str) -> None:
    platform = platform_of(tmp_path, db_url, product(tmp_path, evolution="add_columns"))
    first = capture(platform, {"a.csv": "id,name,amount\n1,Ann,1.50\n"})
    assert platform.process("customers", first).succeeded
    second = capture(platform, {"b.csv": "id,name,amount,email,score\n2,Bo,2.50,bo@x.org,7\n"})
    report = platform.process("customers", second)

    assert report.succeeded and report.version_rows == 1
    assert column_names(platform) == ["id", "name", "amount", "email", "score"]
    table = platform.services.iceberg.iceberg_catalog.load_table("alpha.customers")
    assert not table.schema().find_field("email").required
    assert str(table.schema().find_field("score").field_type) == "string", "CSV columns are added as strings"
    assert rows_by_id(platform) == {
        "1": {"id": "1", "name": "Ann", "amount": Decimal("1.50"), "email": None, "score": None},
        "2": {"id": "2", "name": "Bo", "amount": Decimal("2.50"), "email": "bo@x.org", "score": "7"},
    }
    assert platform.catalog.version_drift("customers", second) == {"added": {"email": ["b.csv"], "score": ["b.csv"]}}
    assert len(table.metadata.snapshots) == 2, "the new columns came with v2's append, in its one commit"


def test_rescue_keeps_unknown_columns_in_one_json_column(tmp_path: Path, db_url: str) -> None:
    platform = platform_of(tmp_path, db_url, product(tmp_path, evolution="rescue"))
    first = capture(platform, {"a.csv": "id,name,amount\n1,Ann,1.50\n"})
    assert platform.process("customers", first).succeeded
    assert column_names(platform) == ["id", "name", "amount", "_rescued"], "from the first version under rescue"
    second = capture(platform, {"b.csv": 'id,email,name,amount,note\n2,bo@x.org,Bo,2.50,\n3,,Cy,3.00,"a, b"\n'})
    assert platform.process("customers", second).succeeded

    assert column_names(platform) == ["id", "name", "amount", "_rescued"], "nothing is added"
    rows = rows_by_id(platform)
    assert rows["1"]["_rescued"] is None, "NULL when the row had no unknown column"
    assert json.loads(rows["2"]["_rescued"]) == {"email": "bo@x.org", "note": None}
    assert json.loads(rows["3"]["_rescued"]) == {"email": None, "note": "a, b"}
    assert (rows["3"]["name"], rows["3"]["amount"]) == ("Cy", Decimal("3.00"))
    assert platform.catalog.version_drift("customers", second) == {"rescued": {"email": ["b.csv"], "note": ["b.csv"]}}


def test_strict_fails_the_version_naming_the_columns_and_the_config_change(tmp_path: Path, db_url: str) -> None:
    platform = platform_of(tmp_path, db_url, product(tmp_path))  # strict: the default
    first = capture(platform, {"a.csv": "id,name,amount\n1,Ann,1.50\n"})
    assert platform.process("customers", first).succeeded
    second = capture(platform, {"b.csv": "id,amount,email\n2,2.50,bo@x.org\n"})

    with pytest.raises(SchemaMismatch) as raised:
        platform.process("customers", second)

    version = platform.catalog.version("customers", second)
    assert version.status == "FAILED", "not left PROCESSING"
    message = str(raised.value)
    assert version.status_reason == message
    assert message.startswith("b.csv: ")
    assert "new column(s) email (string)" in message and "missing column(s) name" in message
    assert "set schema.evolution: add_columns" in message.lower() and "email: string" in message
    assert column_names(platform) == ["id", "name", "amount"], "nothing was committed"
    assert table_rows(platform, second).num_rows == 0


def test_a_missing_column_reads_null_and_is_listed_in_the_drift(tmp_path: Path, db_url: str) -> None:
    platform = platform_of(tmp_path, db_url, product(tmp_path))  # under every mode; strict here
    first = capture(platform, {"a.csv": "id,name,amount\n1,Ann,1.50\n"})
    assert platform.process("customers", first).succeeded
    second = capture(platform, {"b.csv": "amount,id\n2.50,2\n", "c.csv": "id,name,amount\n3,Cy,3.00\n"})
    assert platform.process("customers", second).succeeded

    assert column_names(platform) == ["id", "name", "amount"], "the column stays"
    assert rows_by_id(platform)["2"] == {"id": "2", "name": None, "amount": Decimal("2.50")}
    assert rows_by_id(platform)["3"]["name"] == "Cy"
    assert platform.catalog.version_drift("customers", second) == {"missing": {"name": ["b.csv"]}}
    third = capture(platform, {"d.csv": "id,amount\n4,4.00\n"})
    assert platform.process("customers", third).succeeded, "a file without the key column would be refused"
    keyless = capture(platform, {"e.csv": "name,amount\nEd,5.00\n"})
    with pytest.raises(SchemaMismatch, match="primary key column id is missing"):
        platform.process("customers", keyless)


def test_parquet_widening_needs_widen_types_and_then_widens_the_table(tmp_path: Path, db_url: str) -> None:
    columns = {"id": "string", "n": "int", "amount": "decimal(10,2)"}
    narrow = pa.table(
        {"id": ["a"], "n": pa.array([7], pa.int32()), "amount": pa.array([Decimal("1.25")], pa.decimal128(10, 2))}
    )
    wide = pa.table(
        {
            "id": ["b"],
            "n": pa.array([2**40], pa.int64()),
            "amount": pa.array([Decimal("123456789.25")], pa.decimal128(12, 2)),
        }
    )
    strict = platform_of(tmp_path, db_url, product(tmp_path, fmt="parquet", columns=columns))
    first = capture_bytes(strict, {"a.parquet": parquet_bytes(narrow)})
    assert strict.process("customers", first).succeeded
    second = capture_bytes(strict, {"b.parquet": parquet_bytes(wide)})
    with pytest.raises(SchemaMismatch) as raised:
        strict.process("customers", second)
    message = str(raised.value)
    assert "column 'n' widens from int to bigint, but schema.widen_types is false" in message
    assert (
        "set schema.widen_types: true" in message and "'amount' widens from decimal(10,2) to decimal(12,2)" in message
    )

    widening = platform_of(tmp_path, db_url, product(tmp_path, fmt="parquet", columns=columns, widen_types=True))
    assert widening.process("customers", second).succeeded
    table = widening.services.iceberg.iceberg_catalog.load_table("alpha.customers")
    assert (str(table.schema().find_field("n").field_type), str(table.schema().find_field("amount").field_type)) == (
        "long",
        "decimal(12, 2)",
    )
    assert rows_by_id(widening) == {
        "a": {"id": "a", "n": 7, "amount": Decimal("1.25")},
        "b": {"id": "b", "n": 2**40, "amount": Decimal("123456789.25")},
    }
    assert widening.catalog.version_drift("customers", second) == {
        "widened": {"amount: decimal(10,2) -> decimal(12,2)": ["b.parquet"], "n: int -> bigint": ["b.parquet"]}
    }
    third = capture_bytes(widening, {"c.parquet": parquet_bytes(narrow.set_column(0, "id", pa.array(["c"])))})
    assert widening.process("customers", third).succeeded, "a narrower file reads into the wider column"
    assert rows_by_id(widening)["c"]["n"] == 7


@pytest.mark.parametrize("mode", ["add_columns", "rescue", "strict"])
def test_narrowing_and_retyping_are_refused_under_every_mode(tmp_path: Path, db_url: str, mode: str) -> None:
    columns = {"id": "string", "n": "bigint"}
    platform = platform_of(
        tmp_path, db_url, product(tmp_path, fmt="parquet", columns=columns, evolution=mode, widen_types=True)
    )
    first = capture_bytes(platform, {"a.parquet": parquet_bytes(pa.table({"id": ["a"], "n": [1]}))})
    assert platform.process("customers", first).succeeded
    retyped = capture_bytes(platform, {"b.parquet": parquet_bytes(pa.table({"id": ["b"], "n": ["one"]}))})
    with pytest.raises(SchemaMismatch, match="'n' changes from bigint to string, which is not a widening"):
        platform.process("customers", retyped)
    assert platform.catalog.version("customers", retyped).status == "FAILED"

    narrowed = platform_of(
        tmp_path,
        db_url,
        product(tmp_path, fmt="parquet", columns={"id": "string", "n": "int"}, evolution=mode, widen_types=True),
    )
    third = capture_bytes(narrowed, {"c.parquet": parquet_bytes(pa.table({"id": ["c"], "n": [3]}))})
    with pytest.raises(SchemaMismatch, match="'n' narrows from bigint to int: stored values may not fit"):
        narrowed.process("customers", third)
    assert narrowed.catalog.version("customers", third).status == "FAILED"
    assert column_names(narrowed) == ["id", "n"] + (["_rescued"] if mode == "rescue" else [])


def test_json_add_columns_types_new_keys_by_their_values_and_lines_lacking_a_key_read_null(
    tmp_path: Path, db_url: str
) -> None:
    platform = platform_of(tmp_path, db_url, product(tmp_path, fmt="json", evolution="add_columns"))
    first = capture(platform, {"a.json": '{"id": "1", "name": "Ann", "amount": 1.5}\n'})
    assert platform.process("customers", first).succeeded
    lines = [
        '{"id": "2", "name": "Bo", "amount": 2.5, "visits": 3, "vip": true}',
        '{"id": "3", "name": "Cy", "amount": "3.00", "visits": 12345678901}',
        '{"id": "4", "amount": 4, "vip": false, "ratio": 0.5}',
    ]
    second = capture(platform, {"b.json": "\n".join(lines) + "\n"})
    assert platform.process("customers", second).succeeded

    table = platform.services.iceberg.iceberg_catalog.load_table("alpha.customers")
    types = {field.name: str(field.field_type) for field in table.schema().fields}
    assert (types["visits"], types["vip"], types["ratio"]) == ("long", "boolean", "double")
    rows = rows_by_id(platform)
    assert rows["1"] == {
        "id": "1",
        "name": "Ann",
        "amount": Decimal("1.50"),
        "visits": None,
        "vip": None,
        "ratio": None,
    }
    assert rows["3"]["visits"] == 12345678901 and rows["3"]["vip"] is None
    assert rows["4"] == {"id": "4", "name": None, "amount": Decimal("4.00"), "visits": None, "vip": False, "ratio": 0.5}


def test_duckdb_and_pyiceberg_read_the_added_column(tmp_path: Path) -> None:
    platform = platform_of(tmp_path, f"sqlite:///{tmp_path}/state.db", product(tmp_path, evolution="add_columns"))
    first = capture(platform, {"a.csv": "id,name,amount\n1,Ann,1.50\n"})
    platform.process("customers", first)
    second = capture(platform, {"b.csv": "id,name,amount,email\n2,Bo,2.50,bo@x.org\n"})
    platform.process("customers", second)
    table = platform.services.iceberg.iceberg_catalog.load_table("alpha.customers")

    scanned = table.scan(selected_fields=("id", "email")).to_arrow().sort_by("id").to_pylist()
    assert scanned == [{"id": "1", "email": None}, {"id": "2", "email": "bo@x.org"}]
    location = table.metadata_location.removeprefix("file://")
    connection = duckdb_with_iceberg()
    read = connection.execute(f"SELECT id, email, _version FROM iceberg_scan('{location}') ORDER BY id").fetchall()
    assert read == [("1", None, 1), ("2", "bo@x.org", 2)]


def test_two_workers_adding_the_same_columns_add_each_once_and_write_each_file_once(
    tmp_path: Path, db_url: str
) -> None:
    platform = platform_of(
        tmp_path, db_url, product(tmp_path, evolution="add_columns"), processing={**FAST_RETRIES["processing"]}
    )
    first = capture(platform, {"a.csv": "id,name,amount\n0,Ann,1.00\n"})
    assert platform.process("customers", first).succeeded
    files = {
        f"f{index:02d}.csv": (
            "id,name,amount,email" + (",phone" if index % 2 else "") + "\n"
            f"{index + 1},n{index},{index}.00,e{index}@x.org" + (f",{index}" if index % 2 else "") + "\n"
        )
        for index in range(24)
    }
    version = capture(platform, files)
    small_batches = platform_of(
        tmp_path,
        db_url,
        product(tmp_path, evolution="add_columns"),
        processing={**FAST_RETRIES["processing"], "claim_batch_size": 2},
    )
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    config = small_batches.config.source_path
    workers = [context.Process(target=_worker, args=(config, version, queue)) for _ in range(2)]
    for worker in workers:
        worker.start()
    results = _worker_results(workers, queue)
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(processed for processed, _ in results) == 24 and all(processed for processed, _ in results)

    assert column_names(platform) == ["id", "name", "amount", "email", "phone"], "each column added once"
    rows = rows_by_id(platform)
    assert len(rows) == 25 and len(table_rows(platform, version)) == 24, "each file's row once"
    assert rows["4"] == {"id": "4", "name": "n3", "amount": Decimal("3.00"), "email": "e3@x.org", "phone": "3"}
    assert rows["5"]["phone"] is None and rows["0"]["email"] is None
    drift = platform.catalog.version_drift("customers", version)
    assert set(drift["added"]) <= {"email", "phone"} and set(drift.get("missing", {})) <= {"phone"}


def test_a_crash_after_the_evolving_commit_then_a_rerun_is_exact(tmp_path: Path, db_url: str) -> None:
    settings = {**FAST_RETRIES["processing"], "claim_batch_size": 2}
    platform = platform_of(tmp_path, db_url, product(tmp_path, evolution="add_columns"), processing=settings)
    first = capture(platform, {"a.csv": "id,name,amount\n0,Ann,1.00\n"})
    assert platform.process("customers", first).succeeded
    files = {f"f{index}.csv": f"id,name,amount,email\n{index + 1},n,1.00,e{index}\n" for index in range(4)}
    version = capture(platform, files)
    crashed = process_in_crashing_process(platform.config.source_path, version, "process.after_iceberg_commit")
    assert crashed.returncode == 86, crashed.stderr
    assert column_names(platform) == ["id", "name", "amount", "email"], "the column came with the first batch"
    assert len(table_rows(platform, version)) == 2
    time.sleep(5.5)  # the dead worker's lease runs out
    report = platform.process("customers", version)

    assert report.succeeded and report.files_recovered == 2 and report.version_rows == 4
    assert column_names(platform) == ["id", "name", "amount", "email"]
    rows = table_rows(platform, version).sort_by("id").to_pylist()
    assert [(row["id"], row["email"]) for row in rows] == [("1", "e0"), ("2", "e1"), ("3", "e2"), ("4", "e3")]
    drift = platform.catalog.version_drift("customers", version)
    assert drift == {"added": {"email": ["f0.csv"]}}, "the recovered file keeps its drift, from the marker"


def test_a_file_over_the_memory_budget_adds_its_column_in_its_one_streamed_commit(tmp_path: Path, db_url: str) -> None:
    tiny = {**FAST_RETRIES["processing"], "memory_budget_mb": 0.004}  # files over 1 KiB stream in 512-byte pieces
    platform = platform_of(tmp_path, db_url, product(tmp_path, evolution="add_columns"), processing=tiny)
    first = capture(platform, {"a.csv": "id,name,amount\n0,Ann,1.00\n"})
    assert platform.process("customers", first).succeeded
    big = "amount,id,email\n" + "".join(f"{index}.50,{index + 1},e{index}@x.org\n" for index in range(200))
    second = capture(platform, {"big.csv": big})
    report = platform.process("customers", second)

    assert report.succeeded and report.version_rows == 200
    assert column_names(platform) == ["id", "name", "amount", "email"]
    rows = rows_by_id(platform)
    assert rows["0"]["email"] is None
    assert rows["200"] == {"id": "200", "name": None, "amount": Decimal("199.50"), "email": "e199@x.org"}
    assert platform.catalog.version_drift("customers", second) == {
        "added": {"email": ["big.csv"]},
        "missing": {"name": ["big.csv"]},
    }
    table = platform.services.iceberg.iceberg_catalog.load_table("alpha.customers")
    assert len(table.metadata.snapshots) == 2, "the schema change came with the streamed file's one commit"


@pytest.mark.parametrize("mode", ["add_columns", "rescue", "strict"])
def test_a_declared_rename_is_refused_and_a_file_rename_is_never_inferred(
    tmp_path: Path, db_url: str, mode: str
) -> None:
    platform = platform_of(tmp_path, db_url, product(tmp_path, evolution=mode))
    first = capture(platform, {"a.csv": "id,name,amount\n1,Ann,1.50\n"})
    assert platform.process("customers", first).succeeded
    renamed = platform_of(
        tmp_path,
        db_url,
        product(tmp_path, columns={"id": "string", "amount": "decimal(12,2)", "full_name": "string"}, evolution=mode),
    )
    second = capture(renamed, {"b.csv": "id,full_name,amount\n2,Bo,2.50\n"})
    with pytest.raises(SchemaMismatch) as raised:
        renamed.process("customers", second)
    message = str(raised.value)
    assert "column 'name' (string) is missing: columns are never dropped" in message
    assert "that is a drop plus an add, never taken for a rename" in message
    assert renamed.catalog.version("customers", second).status == "FAILED"

    restored = platform_of(tmp_path, db_url, product(tmp_path, evolution=mode))
    if mode == "strict":
        with pytest.raises(SchemaMismatch, match="new column\\(s\\) full_name"):
            restored.process("customers", second)
        return
    assert restored.process("customers", second).succeeded
    row = rows_by_id(restored)["2"]
    assert row["name"] is None, "the file's full_name is not taken for name"
    drift = restored.catalog.version_drift("customers", second)
    assert drift["missing"] == {"name": ["b.csv"]}
    assert drift.get("added", drift.get("rescued")) == {"full_name": ["b.csv"]}


def test_rescue_packs_parquet_values_and_a_latin1_json_file_is_normalized_as_text(tmp_path: Path) -> None:
    """Paths the backends do not change (one backend): Parquet values into _rescued; a non-UTF-8 JSON file
    rewritten for add_columns keeps its text."""
    events = product(tmp_path, name="events", fmt="json", evolution="add_columns")
    events["source"]["encoding"] = "latin-1"
    platform = platform_of(
        tmp_path,
        f"sqlite:///{tmp_path}/state.db",
        product(tmp_path, fmt="parquet", columns={"id": "string", "n": "bigint"}, evolution="rescue"),
        events,
    )
    first = capture_bytes(platform, {"a.parquet": parquet_bytes(pa.table({"id": ["a"], "n": [1]}))})
    assert platform.process("customers", first).succeeded
    extra = pa.table({"id": ["b"], "n": [2], "day": pa.array([date(2026, 1, 2)]), "price": [Decimal("1.50")]})
    second = capture_bytes(platform, {"b.parquet": parquet_bytes(extra)})
    assert platform.process("customers", second).succeeded
    assert json.loads(rows_by_id(platform)["b"]["_rescued"]) == {"day": "2026-01-02", "price": "1.50"}

    lines = ['{"id": "1", "name": "Zoë", "amount": 1}', '{"id": "2", "amount": 2, "city": "Köln"}']
    version = capture_bytes(platform, {"a.json": ("\n".join(lines) + "\n").encode("latin-1")}, name="events")
    assert platform.process("events", version).succeeded
    rows = rows_by_id(platform, "events")
    assert (rows["1"]["name"], rows["1"]["city"], rows["2"]["name"], rows["2"]["city"]) == ("Zoë", None, None, "Köln")
