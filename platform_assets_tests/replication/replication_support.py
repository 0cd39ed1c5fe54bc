"""Helpers for the replication tests: two platforms, a primary's history, and a model of it.

The replica platform is ``alpha`` (this platform in ``write_platform_config``);
primaries are ``beta`` (and ``gamma``). Each primary's merge store gets its
history through the real ``merge_batch``; :class:`History` keeps the same
snapshots in Python and says what a live-only replica or a mirror as of batch
Y must hold, independently of the code under test.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlalchemy import text

from platform_assets.config import PlatformConfig, ProductConfig, load_config
from platform_assets.merge import MergeStore, merge_batch
from platform_assets.merge.dialect import POSTGRESQL
from platform_assets.merge.spec import LIVE_BATCH_OUT, arrow_schema, merge_spec
from platform_assets.replication.lock import REPLICA_LOCK_CLASS
from platform_assets_tests.conftest import write_platform_config

PRODUCT = "customers"
COLUMNS = {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"}
WIDE_COLUMNS = {
    "id": "string",
    "name": "string",
    "amount": "decimal(12,2)",
    "updated": "date",
    "seen": "timestamp",
    "flag": "boolean",
    "score": "double",
    "n": "bigint",
}
REPO = Path(__file__).resolve().parents[2]

Row = tuple[Any, ...]


def product_dict(
    milestone: str = "live_only",
    primaries: tuple[str, ...] = ("beta",),
    columns: dict[str, str] | None = None,
    key: tuple[str, ...] = ("id",),
    **replication: int,
) -> dict[str, Any]:
    """The product as platform.yaml declares it (``replication`` keys: chunk_size, max_batches_per_sync, ...)."""
    document: dict[str, Any] = {
        "name": PRODUCT,
        "source": {"url": "file:///tmp/landing", "glob": "**/*.csv", "format": "csv"},
        "schema": {"columns": dict(columns or COLUMNS), "primary_key": list(key)},
        "mode": "snapshot",
        "milestone": milestone,
        "primary_platforms": list(primaries),
    }
    if replication:
        document["replication"] = replication
    return document


def primary_product(columns: dict[str, str] | None = None, milestone: str = "forensic") -> ProductConfig:
    """The product as a primary declares it (forensic by default)."""
    return ProductConfig.model_validate(product_dict(milestone=milestone, columns=columns))


def write_replica_config(folder: Path, replica_store: str, platforms: dict[str, str], **product: Any) -> str:
    """platform.yaml of the replica platform ``alpha``; ``platforms`` maps names to merge-store URLs.

    ``product`` goes to :func:`product_dict`; ``primaries`` defaults to the names of ``platforms``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    return write_platform_config(
        folder,
        f"sqlite:///{folder / 'state.db'}",
        f"file://{folder / 'landing'}",
        f"file://{folder / 'raw'}",
        products=[product_dict(primaries=tuple(product.pop("primaries", list(platforms))), **product)],
        merge_store=replica_store,
        platforms={name: {"merge_store": url} for name, url in platforms.items()},
    )


def replica_config(folder: Path, replica_store: str, platforms: dict[str, str], **product: Any) -> PlatformConfig:
    return load_config(write_replica_config(folder, replica_store, platforms, **product))


@dataclass
class History:
    """A primary's snapshots by batch, merged into its store and kept as a model."""

    store: MergeStore
    product: ProductConfig = field(default_factory=primary_product)
    snapshots: dict[int, dict[str, Row]] = field(default_factory=dict)

    def merge(self, batch: int, snapshot: dict[str, Row]) -> None:
        """Merge ``snapshot`` (key -> non-key values) as batch ``batch`` on the primary."""
        merge_batch(self.store, self.product, batch, to_table(self.product, snapshot), earlier_batches=range(1, batch))
        self.snapshots[batch] = dict(snapshot)

    def rows_at(self, batch: int) -> list[tuple[str, Row, int, int]]:
        """Every forensic row as of ``batch``: (key, values, _batch_in, _batch_out), rows live at ``batch`` open."""
        rows: list[tuple[str, Row, int, int]] = []
        open_rows: dict[str, tuple[Row, int]] = {}
        for number in sorted(b for b in self.snapshots if b <= batch):
            snapshot = self.snapshots[number]
            for key in list(open_rows):
                values, began = open_rows[key]
                if snapshot.get(key) != values:
                    rows.append((key, values, began, number - 1))
                    del open_rows[key]
            for key, values in snapshot.items():
                if key not in open_rows:
                    open_rows[key] = (values, number)
        rows += [(key, values, began, LIVE_BATCH_OUT) for key, (values, began) in open_rows.items()]
        return sorted(rows, key=lambda record: (record[0], record[2]))

    def live_only_at(self, batch: int) -> dict[str, Row]:
        """What a live-only replica as of ``batch`` holds: key -> values + (_batch_id,)."""
        return {key: values + (began,) for key, values, began, out in self.rows_at(batch) if out == LIVE_BATCH_OUT}

    def mirror_at(self, batch: int) -> list[tuple[Any, ...]]:
        """What a mirror as of ``batch`` holds: sorted (key, *values, _batch_in, _batch_out)."""
        return sorted(((key, *values, began, out) for key, values, began, out in self.rows_at(batch)), key=sort_key)


def to_table(product: ProductConfig, snapshot: dict[str, Row]) -> pa.Table:
    schema = arrow_schema(merge_spec(product))
    keys = sorted(snapshot)
    columns = [keys] + [[snapshot[key][index] for key in keys] for index in range(len(schema) - 1)]
    return pa.Table.from_arrays([pa.array(values, field.type) for values, field in zip(columns, schema)], schema=schema)


def row(name: str | None, amount: str | None = "1.00", day: int = 1) -> Row:
    """Non-key values of the default product."""
    return (name, None if amount is None else Decimal(amount), dt.date(2024, 1, day))


def sort_key(record: tuple[Any, ...]) -> tuple[Any, ...]:
    """Orders rows holding NULLs: NULL after every value of its column."""
    return tuple((value is None, 0 if value is None else value) for value in record)


def replica_live_only(url: str, columns: dict[str, str] | None = None) -> dict[str, Row]:
    """The replica's live-only merge table: key -> values + (_batch_id,), values as Python objects."""
    names = list(columns or COLUMNS)
    table = read_table(url, f'"{PRODUCT}_merge"', names + ["_batch_id"], columns or COLUMNS)
    return {record[0]: tuple(record[1:]) for record in table}


def replica_mirror(url: str, columns: dict[str, str] | None = None) -> list[tuple[Any, ...]]:
    names = list(columns or COLUMNS)
    return sorted(
        read_table(url, f'"{PRODUCT}_merge"', names + ["_batch_in", "_batch_out"], columns or COLUMNS), key=sort_key
    )


def read_table(url: str, table: str, names: list[str], columns: dict[str, str]) -> list[tuple[Any, ...]]:
    """Rows of ``table`` with SQLite's canonical text parsed back to Python values."""
    store = MergeStore(url)
    quoted = ", ".join(f'"{name}"' for name in names)
    with store.engine.connect() as connection:
        rows = [tuple(record) for record in connection.execute(text(f"SELECT {quoted} FROM {table}"))]
    if store.dialect is POSTGRESQL:
        return rows
    return [
        tuple(_from_sqlite(value, columns.get(name, "int")) for value, name in zip(record, names)) for record in rows
    ]


def _from_sqlite(value: Any, column_type: str) -> Any:
    if value is None:
        return None
    if column_type.startswith("decimal"):
        return Decimal(value)
    if column_type == "date":
        return dt.date.fromisoformat(value)
    if column_type == "timestamp":
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if column_type == "boolean":
        return bool(value)
    return value


def live_view_count(url: str) -> int:
    with MergeStore(url).engine.connect() as connection:
        return int(connection.execute(text(f'SELECT count(*) FROM "{PRODUCT}_live"')).scalar_one())


def wipe_store(url: str) -> None:
    """Drop everything a merge store holds (a primary rebuilt from scratch keeps its URL)."""
    store = MergeStore(url)
    with store.engine.begin() as connection:
        connection.exec_driver_sql(f'DROP VIEW IF EXISTS "{PRODUCT}_live"')
        for table in (f"{PRODUCT}_merge", "merge_batches", "merge_store_meta"):
            connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}"')


def run_replicate_subprocess(
    config_path: str, failpoints: str, to_batch: int | None = None
) -> subprocess.CompletedProcess[str]:
    """``replicate`` in a child process with PLATFORM_FAILPOINTS armed."""
    code = (
        "import sys\n"
        "from platform_assets.config import load_config\n"
        "from platform_assets.replication import replicate\n"
        "config = load_config(sys.argv[1])\n"
        "target = None if sys.argv[2] == '-' else int(sys.argv[2])\n"
        "print(replicate(config, config.products[0], to_batch=target, actor='test'))\n"
    )
    environment = {**os.environ, "PLATFORM_FAILPOINTS": failpoints, "PYTHONPATH": str(REPO)}
    argument = "-" if to_batch is None else str(to_batch)
    finished = subprocess.run(
        [sys.executable, "-c", code, config_path, argument],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    _wait_for_replica_lock_release(load_config(config_path).platform.merge_store)
    return finished


def _wait_for_replica_lock_release(replica_url: str, seconds: float = 10.0) -> None:
    """Wait until no session holds a replication lock on ``replica_url``.

    A killed child's PostgreSQL backend ends (and drops its advisory lock) a
    moment after the child itself; a sync started in between would rightly
    be refused as busy.
    """
    store = MergeStore(replica_url)
    if not store.dialect.advisory_locks:
        return
    deadline = time.monotonic() + seconds
    with store.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT")
        while connection.execute(
            text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :lock_class AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"lock_class": REPLICA_LOCK_CLASS},
        ).scalar_one():
            assert time.monotonic() < deadline, (
                f"a replication lock on {replica_url} is still held {seconds} s after the child exited"
            )
            time.sleep(0.05)


def primary_rows_at(url: str, columns: dict[str, str], batch: int, mirror: bool) -> list[tuple[Any, ...]]:
    """The oracle, straight from the primary's merge table: what a replica as of ``batch`` holds.

    Live-only: (columns..., _batch_in) of the rows live at ``batch``. Mirror:
    (columns..., _batch_in, _batch_out) of every row with ``_batch_in <= batch``,
    rows live at ``batch`` shown live.
    """
    rows = read_table(url, f'"{PRODUCT}_merge"', list(columns) + ["_batch_in", "_batch_out"], columns)
    if mirror:
        chosen = [row[:-1] + ((LIVE_BATCH_OUT if row[-1] >= batch else row[-1]),) for row in rows if row[-2] <= batch]
    else:
        chosen = [row[:-1] for row in rows if row[-2] <= batch <= row[-1]]
    return sorted(chosen, key=sort_key)


def replica_rows(url: str, columns: dict[str, str], mirror: bool) -> list[tuple[Any, ...]]:
    batch_columns = ["_batch_in", "_batch_out"] if mirror else ["_batch_id"]
    return sorted(read_table(url, f'"{PRODUCT}_merge"', list(columns) + batch_columns, columns), key=sort_key)
