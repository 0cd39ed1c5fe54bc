"""PostgreSQL to PostgreSQL copies: COPY binary keys, the text fallback, keyset paging over every key type,
replica layout."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import psycopg2
import pyarrow as pa
import pytest
from sqlalchemy import event, text

from platform_assets.config import ProductConfig
from platform_assets.merge import MergeStore, merge_batch
from platform_assets.merge.spec import arrow_schema, merge_spec
from platform_assets.replication import binary, replicate, transfer
from platform_assets.replication import seed as seed_module
from platform_assets_tests.replication.replication_support import (
    PRODUCT,
    History,
    live_view_count,
    primary_rows_at,
    product_dict,
    replica_config,
    replica_live_only,
    replica_mirror,
    replica_rows,
    row,
)

CASES: dict[str, list[str]] = {
    "text": ["''", "E'tab\\there'", "E'\\\\N'", "'ünï✓'", "'trail '", "NULL"],
    "integer": ["0", "-2147483648", "2147483647"],
    "bigint": ["-9223372036854775808", "9223372036854775807", "1000000000000"],
    "double precision": ["0.1", "-0.0", "'NaN'", "'Infinity'", "'-Infinity'", "1e308", "5e-324", "1/3.0"],
    "boolean": ["true", "false"],
    "date": [
        "'2024-02-29'",
        "'4713-11-24 BC'",
        "'0001-01-01 BC'",
        "'0001-01-01'",
        "'5874897-12-31'",
        "'infinity'",
        "'-infinity'",
        "'1999-12-31'",
        "'2000-01-01'",
        "'1900-03-01'",
    ],
    "timestamp with time zone": [
        "'2024-01-01 12:00:00.123456+00'",
        "'2024-01-01 12:00:00+05:30'",
        "'4713-11-24 00:00:00+00 BC'",
        "'0044-03-15 12:00:00.000001+00 BC'",
        "'294276-12-31 23:59:59.999999+00'",
        "'infinity'",
        "'-infinity'",
        "'1999-12-31 23:59:59.999999+00'",
        "'1969-07-20 20:17:40+00'",
    ],
    "numeric(12,2)": ["0", "-12.30", "99999.99", "0.01", "-0.01", "1234567890.12"],
    "numeric": [
        "0",
        "'NaN'",
        "'Infinity'",
        "'-Infinity'",
        "1e-20",
        "123456789012345678901234567890.000000000000000000001",
        "-0.000",
        "10000",
        "100000000",
        "0.0001",
        "1.10",
    ],
}


def test_binary_keys_cast_back_to_the_same_value(pg_database) -> None:
    connection = psycopg2.connect(pg_database("binary_keys").replace("postgresql+psycopg2://", "postgresql://"))
    try:
        cursor = connection.cursor()
        for column_type, values in CASES.items():
            assert binary.supported(column_type)
            for value in values:
                sink = transfer._Messages()
                cursor.copy_expert(f"COPY (SELECT CAST({value} AS {column_type}), 7) TO STDOUT (FORMAT binary)", sink)
                header, row = (
                    sink.messages[0][: binary.header_size(sink.messages[0])],
                    sink.messages[0][binary.header_size(sink.messages[0]) :],
                )
                assert header.startswith(binary.SIGNATURE) and sink.messages[-1] == binary.TRAILER
                [decoded] = binary.key_texts(row, [column_type])
                cursor.execute(
                    f"SELECT CAST(%s AS {column_type}) IS NOT DISTINCT FROM CAST({value} AS {column_type})", (decoded,)
                )
                assert cursor.fetchone()[0], (column_type, value, decoded)
    finally:
        connection.close()
    assert not binary.supported("interval")


def test_a_truncated_binary_row_is_refused() -> None:
    row = b"\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x04\x00\x00"
    with pytest.raises(binary.BinaryFormatError):
        binary.row_fields(row)
    with pytest.raises(binary.BinaryFormatError):
        binary.row_fields(row + b"\x00\x01extra")


KEYED_COLUMNS = {
    "s": "string",
    "i": "int",
    "b": "bigint",
    "d": "double",
    "f": "boolean",
    "day": "date",
    "ts": "timestamp",
    "amount": "decimal(12,2)",
    "name": "string",
}
KEY = ("f", "s", "i", "b", "d", "day", "ts", "amount")


def keyed_product() -> ProductConfig:
    return ProductConfig.model_validate(product_dict(milestone="forensic", columns=KEYED_COLUMNS, key=KEY))


def keyed_snapshot(version: int) -> pa.Table:
    """48 keys sharing leading key values (so chunk boundaries fall inside equal prefixes); each version edits some."""
    rows: list[dict[str, Any]] = []
    for index in range(48):
        if version >= 2 and index % 11 == 3:
            continue
        rows.append(
            {
                "f": index % 2 == 0,
                "s": ["", "a\tb", "ü"][index % 3],
                "i": (index % 4) - 2,
                "b": -(10**12) + index % 5,
                "d": [-0.5, 1e300, 0.1][index % 3],
                "day": dt.date(1999, 12, 31) + dt.timedelta(days=index % 6),
                "ts": dt.datetime(1969, 7, 20, 20, 17, 40, index, tzinfo=dt.UTC),
                "amount": Decimal("-12.30") + index,
                "name": f"row {index}" + (f" v{version}" if version >= 2 and index % 5 == 0 else ""),
            }
        )
    if version >= 2:
        rows.append({**rows[0], "i": 99, "name": "new"})
    schema = arrow_schema(merge_spec(keyed_product()))
    return pa.Table.from_pylist(rows, schema=schema)


@pytest.mark.parametrize("milestone", ["live_only", "forensic"])
@pytest.mark.parametrize("binary_copy", [True, False], ids=["binary", "text"])
def test_keyset_paging_over_every_key_type(tmp_path, pg_database, monkeypatch, milestone, binary_copy) -> None:
    if not binary_copy:  # as between servers of different encodings
        monkeypatch.setattr(seed_module, "binary_compatible", lambda *_: False)
        monkeypatch.setattr(transfer, "binary_compatible", lambda *_: False)
    primary_url, replica_url = pg_database("beta"), pg_database("alpha")
    store = MergeStore(primary_url)
    for version in (1, 2):
        merge_batch(store, keyed_product(), version, keyed_snapshot(version), earlier_batches=range(1, version))
    config = replica_config(
        tmp_path / "alpha",
        replica_url,
        {"beta": primary_url},
        milestone=milestone,
        columns=KEYED_COLUMNS,
        key=KEY,
        chunk_size=5,
    )
    product, mirror = config.products[0], milestone == "forensic"

    seeded = replicate(config, product, to_batch=1)
    assert seeded.mode == "seed" and seeded.inserted == 48 and seeded.chunks == 10 + mirror
    assert replica_rows(replica_url, KEYED_COLUMNS, mirror) == primary_rows_at(primary_url, KEYED_COLUMNS, 1, mirror)
    synced = replicate(config, product)
    assert (synced.mode, synced.inserted, synced.updated, synced.deleted) == ("incremental", 1, 9, 5)
    assert replica_rows(replica_url, KEYED_COLUMNS, mirror) == primary_rows_at(primary_url, KEYED_COLUMNS, 2, mirror)
    assert live_view_count(replica_url) == 44


@pytest.mark.parametrize("milestone", ["live_only", "forensic"])
def test_replica_keeps_only_the_key_index(tmp_path, pg_database, milestone) -> None:
    primary_url, replica_url = pg_database("beta"), pg_database("alpha")
    merge_batch(MergeStore(primary_url), keyed_product(), 1, keyed_snapshot(1))
    config = replica_config(
        tmp_path / "alpha", replica_url, {"beta": primary_url}, milestone=milestone, columns=KEYED_COLUMNS, key=KEY
    )
    replicate(config, config.products[0])
    with MergeStore(replica_url).engine.connect() as connection:
        indexes = connection.execute(
            text("SELECT indexname, tablename FROM pg_indexes WHERE tablename LIKE :prefix ORDER BY 1"),
            {"prefix": f"{PRODUCT}%"},
        ).all()
        options = connection.execute(
            text("SELECT reloptions FROM pg_class WHERE oid = to_regclass(:name)"), {"name": f'"{PRODUCT}_merge"'}
        ).scalar()
    if milestone == "live_only":
        assert indexes == [(f"{PRODUCT}_merge_pkey", f"{PRODUCT}_merge")]
        assert options == ["fillfactor=90"]
    else:
        assert indexes == [(f"{PRODUCT}_merge$key", f"{PRODUCT}_merge$live")]
        assert options is None
    assert live_view_count(replica_url) == 48


@pytest.mark.parametrize("milestone", ["live_only", "forensic"])
def test_first_incremental_after_a_seed_looks_changed_keys_up_by_index(tmp_path, pg_database, milestone) -> None:
    """Before the replica has statistics (no ANALYZE after the seed), a small delta must not scan the replica."""
    primary_url, replica_url = pg_database("beta"), pg_database("alpha")
    history = History(MergeStore(primary_url))
    first = {f"k{index:04d}": row(f"name {index}") for index in range(2000)}
    history.merge(1, first)
    config = replica_config(tmp_path / "alpha", replica_url, {"beta": primary_url}, milestone=milestone)
    assert replicate(config, config.products[0]).mode == "seed"
    second = {key: (row("changed") if key < "k0005" else values) for key, values in first.items() if key != "k1999"}
    history.merge(2, {**second, "k2000": row("new")})
    plans: list[str] = []

    def explain(connection, cursor, statement, parameters, context, executemany):
        if (
            statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE", "WITH"))
            and f'"{PRODUCT}_merge"' in statement
        ):
            cursor.execute("EXPLAIN " + statement, parameters)
            plans.append("\n".join(line for (line,) in cursor.fetchall()))

    engine = MergeStore(replica_url).engine
    event.listen(engine, "before_cursor_execute", explain)
    try:
        synced = replicate(config, config.products[0])
    finally:
        event.remove(engine, "before_cursor_execute", explain)
    assert (synced.mode, synced.inserted, synced.updated, synced.deleted) == ("incremental", 1, 5, 1)
    assert plans and not [
        plan for plan in plans if f"Seq Scan on {PRODUCT}_merge" in plan or f'Seq Scan on "{PRODUCT}_merge' in plan
    ]
    assert all("Index Scan" in plan for plan in plans if "Join" in plan or "Nested Loop" in plan)
    if milestone == "live_only":
        assert replica_live_only(replica_url) == history.live_only_at(2)
    else:
        assert replica_mirror(replica_url) == history.mirror_at(2)


def test_prefetch_hands_over_items_and_errors_in_order() -> None:
    def produce() -> Any:
        yield 1
        yield 2
        raise RuntimeError("primary went away")

    seen: list[int] = []
    with pytest.raises(RuntimeError, match="primary went away"), transfer.Prefetch(produce, ahead=1) as items:
        seen.extend(items)
    assert seen == [1, 2]


def test_prefetch_stops_its_thread_when_the_consumer_fails() -> None:
    produced, closed = [], []

    def produce() -> Any:
        try:
            for number in range(1000):
                produced.append(number)
                yield number
        finally:
            closed.append(True)

    prefetch = transfer.Prefetch(produce, ahead=1)
    with pytest.raises(ValueError), prefetch:
        for item in prefetch:
            if item == 3:
                raise ValueError("the replica refused the chunk")
    assert closed == [True] and len(produced) <= 6
    assert not prefetch._thread.is_alive()
