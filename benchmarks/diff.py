"""Version diff benchmark: ``versions.diff`` over two 1,000,000-row partitions against scanning them.

Two versions of a product's Iceberg table (partitioned by ``_version``, as
processing writes it): version 2 has 3% of version 1's rows changed (one
column each), 1% removed and 1% added. Timed in one process, medians of
``--repeat`` runs (each after ``benchmarks.memory.prefault``):

- scan: the two partitions read with ``row_filter _version == n`` (what the diff reads);
- diff: the same two scans plus ``row_diff`` (the DuckDB join, counts and samples).

Usage: ``python benchmarks/diff.py [--rows 1000000] [--repeat 3]``. The goal: diff within 3x the scan.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.catalog.sql import SqlCatalog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.memory import prefault
from platform_assets.ingest.parsing import declared_arrow_schema
from platform_assets.storage import iceberg
from platform_assets.versions.diff import row_diff, scan_version

COLUMNS = {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date", "n": "bigint"}
KEY, COMPARED = ["id"], ["name", "amount", "updated", "n"]


def version_rows(ids: np.ndarray, version: int, changed: np.ndarray | None = None) -> pa.Table:
    """Rows of ``ids`` with values derived from the id; ``changed`` ids get another name."""
    count = len(ids)
    names = pc.binary_join_element_wise("name ", pa.array(ids.astype(str)), "")
    if changed is not None:
        names = pc.if_else(pa.array(np.isin(ids, changed)), pc.binary_join_element_wise(names, " (new)", ""), names)
    amounts = pa.array((ids % 100_000).astype(np.int32)).cast(pa.decimal128(10, 0)).cast(pa.decimal128(12, 2))
    days = pa.array(np.datetime64("2026-01-01") + (ids % 365).astype("timedelta64[D]")).cast(pa.date32())
    schema = iceberg.product_arrow_schema(declared_arrow_schema(COLUMNS))
    values = {
        "id": pc.binary_join_element_wise("k", pa.array(ids.astype(str)), ""),
        "name": names,
        "amount": amounts,
        "updated": days,
        "n": pa.array(ids.astype(np.int64)),
        "_version": pa.repeat(pa.scalar(version, pa.int32()), count),
        "_source_file": pa.repeat(pa.scalar("part.csv"), count),
        "_source_sha256": pa.repeat(pa.scalar("0" * 64), count),
        "_ingested_at": pa.repeat(pa.scalar(datetime.now(UTC), pa.timestamp("us", tz="UTC")), count),
        "_source_line": pa.array(np.arange(2, count + 2, dtype=np.int64)),
    }
    return pa.Table.from_arrays([values[field.name] for field in schema], schema=schema)


def build(work: Path, rows: int) -> tuple[SqlCatalog, str]:
    catalog = SqlCatalog("bench", uri=f"sqlite:///{work}/catalog.db", warehouse=f"file://{work}/warehouse")
    catalog.create_namespace("alpha")
    identifier = "alpha.bench"
    table = iceberg.ensure_table(catalog, identifier, iceberg.product_arrow_schema(declared_arrow_schema(COLUMNS)))
    rng = np.random.default_rng(14)
    first = np.arange(rows)
    removed = rng.choice(first, rows // 100, replace=False)
    changed = rng.choice(np.setdiff1d(first, removed), rows * 3 // 100, replace=False)
    second = np.concatenate([np.setdiff1d(first, removed), np.arange(rows, rows + rows // 100)])
    table.append(version_rows(first, 1))
    table = catalog.load_table(identifier)
    table.append(version_rows(second, 2, changed))
    return catalog, identifier


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-diff-"))
    try:
        catalog, identifier = build(work, args.rows)
        table = catalog.load_table(identifier)
        scans, diffs = [], []
        result = None
        for _ in range(args.repeat):
            prefault()
            started = time.perf_counter()
            scan_version(table, 1, [*KEY, *COMPARED])
            scan_version(table, 2, [*KEY, *COMPARED])
            scans.append(time.perf_counter() - started)
            prefault()
            started = time.perf_counter()
            old = scan_version(table, 1, [*KEY, *COMPARED])
            new = scan_version(table, 2, [*KEY, *COMPARED])
            result = row_diff(old, new, KEY, COMPARED)
            diffs.append(time.perf_counter() - started)
        assert result is not None
        scan, diff = statistics.median(scans), statistics.median(diffs)
        print(
            f"{args.rows:,} rows per version: added {result.added:,}, removed {result.removed:,}, "
            f"changed {result.changed:,}, unchanged {result.unchanged:,}"
        )
        print(f"scan of the two partitions: median {scan:.3f}s (runs {[round(value, 3) for value in scans]})")
        print(f"diff (the scans + row_diff): median {diff:.3f}s (runs {[round(value, 3) for value in diffs]})")
        print(f"diff / scan: {diff / scan:.2f}x (goal: at most 3x)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
