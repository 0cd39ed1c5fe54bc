"""Processing into Iceberg: exactly once per file, across workers and crashes; bad files and rows isolated."""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import time
import traceback
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from pyiceberg.expressions import EqualTo
from sqlalchemy import select, update

from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import AuditEvent, RawFile, utc_now
from platform_assets.catalog.records import ClaimPolicy
from platform_assets.config import load_config
from platform_assets.errors import SchemaMismatch
from platform_assets.platform import Platform
from platform_assets_tests.conftest import process_in_crashing_process, write_platform_config

HEADER = "id,name,amount,updated\n"
FAST_RETRIES = {
    "processing": {
        "lease_seconds": 5,
        "retry_backoff_seconds": 0,
        "max_retries": 2,
        "claim_batch_size": 16,
        "claim_batch_bytes": 0,  # batches of 16 however small the files: the tests share work among workers
        "snapshot_retention_seconds": 5,
    }
}


def make_platform(
    tmp_path: Path, db_url: str, products: list[dict] | None = None, **platform_settings: object
) -> Platform:
    landing = tmp_path / "landing"
    landing.mkdir(exist_ok=True)
    extra = {**FAST_RETRIES, **platform_settings}
    path = write_platform_config(
        tmp_path, db_url, f"file://{landing}", f"file://{tmp_path}/raw", products=products, extra_platform=extra
    )
    return Platform(load_config(path), actor="test")


def landing_of(platform: Platform, product: str = "customers") -> Path:
    return Path(platform.product(product).source.url.removeprefix("file://"))


def capture(platform: Platform, files: dict[str, str], product: str = "customers") -> int:
    """Write ``files`` into the landing folder, sync and capture; return the version."""
    landing = landing_of(platform, product)
    for name, text in files.items():
        path = landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    registered = platform.sync(product)
    assert registered is not None
    assert platform.capture(product, registered.number).status == "CAPTURED"
    return registered.number


def customer_rows(start: int, count: int) -> str:
    return HEADER + "".join(f"c{i:05d},name {i},{i}.25,2026-01-{1 + i % 28:02d}\n" for i in range(start, start + count))


def table_rows(platform: Platform, version: int | None = None, product: str = "customers") -> pa.Table:
    table = platform.services.iceberg.iceberg_catalog.load_table(f"alpha.{product}")
    scan = table.scan(row_filter=EqualTo(term="_version", value=version)) if version is not None else table.scan()
    return scan.to_arrow()


def rejects(platform: Platform, product: str = "customers") -> pa.Table:
    return platform.services.iceberg.iceberg_catalog.load_table(f"alpha.{product}_rejects").scan().to_arrow()


def file_states(platform: Platform, version: int) -> dict[str, tuple[str, str | None]]:
    with transaction(platform.catalog.engine) as session:
        rows = session.execute(
            select(RawFile.key, RawFile.status, RawFile.error_type).where(RawFile.version == version)
        ).all()
    return {key: (status, error) for key, status, error in rows}


def test_version_lands_in_iceberg_with_lineage_and_reads_back_with_duckdb(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url)
    version = capture(platform, {"a.csv": customer_rows(0, 3), "b/b.csv": customer_rows(3, 2), "empty.csv": ""})
    report = platform.process("customers", version)
    assert (report.version_status, report.rows_written, report.files_processed) == ("PROCESSED", 5, 3)
    rows = table_rows(platform, version)
    assert rows.num_rows == 5
    assert rows.column_names == [
        "id",
        "name",
        "amount",
        "updated",
        "_version",
        "_source_file",
        "_source_sha256",
        "_ingested_at",
        "_source_line",
    ]
    first = rows.sort_by("id").to_pylist()[0]
    assert (first["id"], first["amount"], first["_version"], first["_source_file"]) == (
        "c00000",
        Decimal("0.25"),
        1,
        "a.csv",
    )
    with transaction(platform.catalog.engine) as session:
        sha = session.scalar(select(RawFile.sha256).where(RawFile.key == "a.csv"))
    assert first["_source_sha256"] == sha
    assert first["_source_line"] == 2, "the header is line 1"
    table = platform.services.iceberg.iceberg_catalog.load_table("alpha.customers")
    assert [field.name for field in table.spec().fields] == ["_version"]
    data_files = [task.file.file_path.removeprefix("file://") for task in table.scan().plan_files()]
    second_reader = duckdb.sql(f"SELECT id, amount FROM read_parquet({data_files!r}) ORDER BY id").fetchall()
    assert second_reader == [(row["id"], row["amount"]) for row in rows.sort_by("id").to_pylist()]


def _worker(config_path: str, version: int, queue: multiprocessing.Queue[tuple[str, int, int]]) -> None:
    try:
        report = Platform.from_path(config_path).process("customers", version)
    except BaseException:
        queue.put((traceback.format_exc(), 0, 0))
        raise
    queue.put(("", report.files_processed, report.rows_written))


def _worker_results(workers: list, queue) -> list[tuple[int, int]]:
    """Each worker's (files processed, rows written); a worker's traceback, or its death, fails the test at once."""
    results: list[tuple[int, int]] = []
    deadline = time.monotonic() + 300
    while len(results) < len(workers):
        assert time.monotonic() < deadline, f"workers still running after 300 s; {len(results)} reported"
        try:
            error, processed, written = queue.get(timeout=1)
        except queue_module.Empty:
            silent = [worker.exitcode for worker in workers if worker.exitcode not in (None, 0)]
            assert len(results) + len(silent) < len(workers), f"a worker died without reporting: exit codes {silent}"
            continue
        assert not error, f"a worker failed:\n{error}"
        results.append((processed, written))
    return results


def test_four_worker_processes_write_each_file_exactly_once(tmp_path: Path, db_url: str) -> None:
    files = 400
    platform = make_platform(tmp_path, db_url)
    version = capture(platform, {f"f{index:03d}.csv": customer_rows(index * 2, 2) for index in range(files)})
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_worker, args=(platform.config.source_path, version, queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    results = _worker_results(workers, queue)
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sum(processed for processed, _ in results) == files, "every file processed by exactly one worker"
    assert sum(1 for processed, _ in results if processed) >= 2, "the work was shared"
    rows = table_rows(platform, version)
    assert rows.num_rows == files * 2
    per_file = Counter(rows["_source_file"].to_pylist())
    assert set(per_file.values()) == {2} and len(per_file) == files
    assert len(set(rows["id"].to_pylist())) == files * 2


def test_crash_after_iceberg_commit_then_rerun_leaves_no_duplicate_and_no_gap(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url)
    version = capture(platform, {f"f{index:02d}.csv": customer_rows(index * 3, 3) for index in range(40)})
    crashed = process_in_crashing_process(platform.config.source_path, version, "process.after_iceberg_commit=2")
    assert crashed.returncode == 86, crashed.stderr
    assert table_rows(platform, version).num_rows == 32 * 3, "two claim batches of 16 committed before the crash"
    states = Counter(status for status, _ in file_states(platform, version).values())
    assert states == {"PROCESSED": 16, "PROCESSING": 16, "CAPTURED": 8}
    time.sleep(5.5)  # the dead worker's lease runs out
    report = platform.process("customers", version)
    assert report.version_status == "PROCESSED" and report.files_recovered == 16
    rows = table_rows(platform, version)
    assert rows.num_rows == 120
    assert Counter(Counter(rows["_source_file"].to_pylist()).values()) == {3: 40}
    with transaction(platform.catalog.engine) as session:
        recovered = session.scalars(select(RawFile.rows_written).where(RawFile.status == "PROCESSED")).all()
    assert set(recovered) == {3}, "recovered files carry their committed row counts"


def test_expired_lease_is_reclaimed(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url)
    version = capture(platform, {"a.csv": customer_rows(0, 2), "b.csv": customer_rows(2, 2)})
    engine = platform.catalog.engine
    held = platform.catalog.claim_files("customers", version, "dead-worker", ClaimPolicy(10, 5, 3, 0))
    assert len(held) == 2
    assert platform.catalog.claim_files("customers", version, "other", ClaimPolicy(10, 5, 3, 0)) == [], (
        "a live lease is not taken"
    )
    with transaction(engine) as session:
        session.execute(
            update(RawFile).values(lease_expires_at=utc_now() - timedelta(seconds=1))
        )  # the lease window passed
    report = platform.process("customers", version, worker="rescuer")
    assert report.version_status == "PROCESSED" and report.rows_written == 4
    with transaction(engine) as session:
        claims = [
            e.change
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action == "files_claimed").order_by(AuditEvent.id)
            )
        ]
    assert claims[-1]["worker"] == "rescuer" and sorted(claims[-1]["reclaimed_from_expired_leases"]) == [
        "a.csv",
        "b.csv",
    ]


def test_checksum_mismatch_and_missing_raw_copy_fail_only_those_files(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url)
    version = capture(
        platform, {"good.csv": customer_rows(0, 2), "altered.csv": customer_rows(2, 2), "lost.csv": customer_rows(4, 2)}
    )
    raw = tmp_path / "raw" / "customers" / f"v{version}"
    (raw / "altered.csv").write_text(customer_rows(2, 2).replace("name", "NAME") + "c99999,bad,oops,2026-01-01\n")
    (raw / "lost.csv").unlink()
    report = platform.process("customers", version)
    assert report.version_status == "FAILED"
    states = file_states(platform, version)
    assert states == {
        "good.csv": ("PROCESSED", None),
        "altered.csv": ("FAILED", "checksum_mismatch"),
        "lost.csv": ("FAILED", "missing"),
    }
    assert "catalog sha256" in report.failures["altered.csv"] and "raw copy sha256" in report.failures["altered.csv"]
    assert "missing" in report.failures["lost.csv"] and "lost.csv" in report.failures["lost.csv"]
    assert set(table_rows(platform, version)["_source_file"].to_pylist()) == {"good.csv"}
    assert rejects(platform).num_rows == 0, "the altered copy is never parsed: none of its rows or rejects are written"


def test_poison_file_is_isolated_retried_then_skipped(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url)
    files = {f"ok{index}.csv": customer_rows(index * 2, 2) for index in range(3)}
    files["poison.csv"] = "id,id\nx,y\n"  # a column twice in the header: schema drift
    version = capture(platform, files)
    first = platform.process("customers", version)
    assert first.version_status == "FAILED" and first.files_processed == 3 and list(first.failures) == ["poison.csv"]
    second = platform.process("customers", version)
    assert second.files_failed == 1, "retried on the next run (backoff 0)"
    third = platform.process("customers", version)
    assert third.files_failed == 0, "max_retries (2) reached: it stays FAILED and is not claimed again"
    with transaction(platform.catalog.engine) as session:
        assert session.scalar(select(RawFile.retry_count).where(RawFile.key == "poison.csv")) == 2
    platform.skip("customers", version, "poison.csv", "sender re-delivers tomorrow")
    assert file_states(platform, version)["poison.csv"] == ("SKIPPED", "schema_drift")
    assert platform.catalog.versions("customers")[0].status == "PROCESSED"
    assert table_rows(platform, version).num_rows == 6


def test_bad_rows_go_to_rejects_with_line_numbers(tmp_path: Path, db_url: str) -> None:
    products = [
        {
            "name": "customers",
            "source": {"url": f"file://{tmp_path}/landing", "glob": "**/*.csv", "format": "csv"},
            "schema": {
                "columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"},
                "primary_key": ["id"],
            },
            "max_bad_row_fraction": 0.6,
        }
    ]
    platform = make_platform(tmp_path, db_url, products=products)
    text = HEADER + (
        "a,Ann,1.50,2026-01-01\nb,Bob,abc,2026-01-02\nc,Cy,2.00,2026-13-45\nd,Di,3.00,2026-01-04,extra\n"
        "e,Ed,4.00,2026-01-05\n"
    )
    version = capture(
        platform, {"mixed.csv": text, "worse.csv": HEADER + "x,X,bad,bad\ny,Y,1.00,2026-01-01\nz,Z,bad,2026-01-01\n"}
    )
    report = platform.process("customers", version)
    assert file_states(platform, version) == {
        "mixed.csv": ("PROCESSED", None),
        "worse.csv": ("FAILED", "too_many_bad_rows"),
    }
    assert sorted(table_rows(platform, version)["id"].to_pylist()) == ["a", "e"]
    found = sorted((row["_source_file"], row["_line_number"]) for row in rejects(platform).to_pylist())
    assert found == [("mixed.csv", 3), ("mixed.csv", 4), ("mixed.csv", 5), ("worse.csv", 2), ("worse.csv", 4)]
    reasons = {
        row["_line_number"]: row["_reason"]
        for row in rejects(platform).to_pylist()
        if row["_source_file"] == "mixed.csv"
    }
    assert "amount" in reasons[3] and "updated" in reasons[4]
    assert report.rows_rejected == 5


def test_inferred_schema_is_held_and_drift_is_listed(tmp_path: Path, db_url: str) -> None:
    products = [
        {
            "name": "events",
            "source": {"url": f"file://{tmp_path}/landing", "glob": "*.csv", "format": "csv"},
            "mode": "incremental",
        }
    ]
    platform = make_platform(tmp_path, db_url, products=products)
    first = capture(platform, {"a.csv": "id,count,label\n1,10,x\n2,20,y\n"}, product="events")
    assert platform.process("events", first).version_status == "PROCESSED"
    second = capture(platform, {"b.csv": "id,label,extra\n3,z,q\n"}, product="events")
    with pytest.raises(SchemaMismatch):
        platform.process("events", second)
    version = platform.catalog.version("events", second)
    assert version.status == "FAILED"
    message = version.status_reason or ""
    assert "b.csv" in message and "count" in message and "extra" in message and "schema.evolution" in message


def test_processing_again_on_purpose_replaces_the_version(tmp_path: Path, db_url: str) -> None:
    platform = make_platform(tmp_path, db_url)
    version = capture(platform, {"a.csv": customer_rows(0, 4)})
    platform.process("customers", version)
    again = platform.process("customers", version, reprocess=True)
    assert again.version_status == "PROCESSED" and again.generation == 2
    assert table_rows(platform, version).num_rows == 4, "replaced, not doubled"


def test_s3_raw_zone_is_staged_and_processed(tmp_path: Path, db_url: str, moto_server: str, s3_bucket: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    for index in range(5):  # the raw copies are downloaded and checked on parallel threads
        s3.put_object(Bucket=s3_bucket, Key=f"in/f{index}.csv", Body=customer_rows(index * 3, 3).encode())
    path = write_platform_config(
        tmp_path,
        db_url,
        f"s3://{s3_bucket}/in",
        f"s3://{s3_bucket}/raw",
        s3_endpoint=moto_server,
        extra_platform=FAST_RETRIES,
    )
    platform = Platform(load_config(path))
    registered = platform.sync("customers")
    assert registered is not None
    platform.capture("customers", registered.number)
    s3.put_object(Bucket=s3_bucket, Key=f"raw/customers/v{registered.number}/f4.csv", Body=b"altered")
    report = platform.process("customers", registered.number)
    assert report.rows_written == 12 and report.files_failed == 1
    assert file_states(platform, registered.number)["f4.csv"] == ("FAILED", "checksum_mismatch")
    assert sorted(table_rows(platform, registered.number)["id"].to_pylist()) == [f"c{i:05d}" for i in range(12)]


@pytest.mark.spark
def test_spark_parser_writes_the_same_table_as_arrow(tmp_path: Path, spark_session) -> None:
    from platform_assets.ingest.parsing import SparkParser

    products: list[dict[str, Any]] = [
        {
            "name": "customers",
            "source": {"url": f"file://{tmp_path}/landing", "glob": "**/*.csv", "format": "csv"},
            "schema": {
                "columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"},
                "primary_key": ["id"],
            },
            "max_bad_row_fraction": 0.5,
        }
    ]
    files = {
        "a.csv": customer_rows(0, 5),
        "b.csv": HEADER + 'x,X,1.00,2026-01-01\ny,Y,oops,2026-01-01\nz,"Z, Jr",2.50,2026-02-03\n',
    }
    outputs = {}
    for engine in ("arrow", "spark"):
        folder = tmp_path / engine
        folder.mkdir()
        products[0]["source"]["url"] = f"file://{folder}/landing"
        platform = make_platform(folder, f"sqlite:///{folder}/state.db", products=products, engine=engine)
        version = capture(platform, files)
        parser = SparkParser(spark_session) if engine == "spark" else None
        report = platform.process("customers", version, parser=parser)
        assert report.version_status == "PROCESSED"
        rows = (
            table_rows(platform, version)
            .drop_columns(["_ingested_at", "_source_sha256"])
            .sort_by([("_source_file", "ascending"), ("id", "ascending")])
        )
        rejected = rejects(platform).select(["_source_file", "_line_number", "_raw", "_reason"]).sort_by("_line_number")
        outputs[engine] = (rows.to_pylist(), rejected.to_pylist())
    assert outputs["spark"] == outputs["arrow"]
    assert len(outputs["arrow"][0]) == 7 and len(outputs["arrow"][1]) == 1


def test_s3_warehouse_holds_the_iceberg_tables(tmp_path: Path, db_url: str, moto_server: str, s3_bucket: str) -> None:
    """The production layout (README, "Switching to PostgreSQL and S3"): the Iceberg warehouse on S3 (data
    files and table metadata written through pyiceberg's FileIO over HTTP), read back by a second catalog;
    reprocessing replaces a version there too."""
    import boto3

    landing = tmp_path / "landing"
    landing.mkdir()
    warehouse = {"warehouse": f"s3://{s3_bucket}/warehouse", **FAST_RETRIES}
    path = write_platform_config(
        tmp_path,
        db_url,
        f"file://{landing}",
        f"file://{tmp_path}/raw",
        s3_endpoint=moto_server,
        extra_platform=warehouse,
    )
    platform = Platform(load_config(path), actor="test")
    first = capture(
        platform, {"a.csv": customer_rows(0, 3), "b.csv": customer_rows(3, 2) + "c99999,bad,oops,2026-01-01\n"}
    )
    assert platform.process("customers", first).files_failed == 1  # b.csv: one bad row of three, over the default 0
    (landing / "b.csv").unlink()
    second = capture(platform, {"c.csv": customer_rows(10, 4)})  # a snapshot: a.csv and c.csv
    assert platform.process("customers", second).version_status == "PROCESSED"
    assert platform.process("customers", second, reprocess=True).generation == 2

    reader = Platform(load_config(path), actor="reader")
    table = reader.services.iceberg.iceberg_catalog.load_table("alpha.customers")
    assert table.metadata.location.startswith(f"s3://{s3_bucket}/warehouse/")
    rows = table.scan().to_arrow()
    expected = [(first, f"c{i:05d}") for i in range(3)] + [(second, f"c{i:05d}") for i in (*range(3), *range(10, 14))]
    assert sorted(zip(rows["_version"].to_pylist(), rows["id"].to_pylist())) == expected
    assert rejects(reader)["_source_file"].to_pylist() == ["b.csv"]
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket, Prefix="warehouse/")
        for item in page.get("Contents", [])
    ]
    assert any(key.endswith(".parquet") and "/data/" in key for key in keys) and any(
        key.endswith(".metadata.json") for key in keys
    )
    assert not (tmp_path / "warehouse").exists(), "nothing went to a local warehouse"


def test_max_line_bytes_bounds_the_csv_reader_and_raising_it_lets_the_file_through(tmp_path: Path, db_url: str) -> None:
    """``platform.processing.max_line_bytes`` reaches the Arrow parser: a record over it fails its file with a message
    naming the line and the key; with the key raised, processing the failed files again takes the record."""
    processing = {**FAST_RETRIES["processing"], "max_line_bytes": 16 << 20}
    platform = make_platform(tmp_path, db_url, processing=processing)
    value = "n" * (40 << 20)  # more than two blocks of 16 MiB: it fits no block the reader may use
    version = capture(platform, {"long.csv": HEADER + f"a,{value},1.00,2026-01-01\n", "ok.csv": customer_rows(0, 2)})
    report = platform.process("customers", version)
    assert report.version_status == "FAILED" and list(report.failures) == ["long.csv"]
    assert f"long.csv: line 2 starts a record of {len(value) + 18} bytes" in report.failures["long.csv"]
    assert "(platform.processing.max_line_bytes: 16777216 bytes)" in report.failures["long.csv"]
    raised = make_platform(tmp_path, db_url, processing={**processing, "max_line_bytes": 64 << 20})
    assert raised.process("customers", version, retry_failed=True).version_status == "PROCESSED"
    assert sorted(table_rows(raised, version)["id"].to_pylist()) == ["a", "c00000", "c00001"]
