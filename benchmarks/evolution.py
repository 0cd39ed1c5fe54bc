"""What file-driven schema evolution adds to parsing: the column pre-pass and plan (``ingest.evolution.plan_batch``)
against the Arrow parse of the same files, in the same process.

For each format (CSV, JSON lines, Parquet) the script writes ``--files`` files of ``--rows`` rows each whose
columns match the product's, then times, as medians of ``--repeat`` runs: (a) ``ArrowParser.parse`` of all
the files (the baseline, what processing did before), (b) ``plan_batch`` over the same files (reading each
file's columns and judging them), and (c) ``parse_batch`` (the parse as processing runs it now, with the plan).
The ratio (b + c) / a is the cost of evolution on files that do not change the schema.

    python benchmarks/evolution.py --files 2000 --rows 10 --repeat 5
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from platform_assets.column_types import ColumnType
from platform_assets.config import SourceSettings
from platform_assets.ingest.evolution import Evolution, parse_batch, plan_batch
from platform_assets.ingest.parsing import ArrowParser, InputFile

COLUMNS = {"id": "string", "name": "string", "amount": "decimal(12,2)", "n": "bigint"}


def _write(folder: Path, fmt: str, files: int, rows: int) -> list[InputFile]:
    inputs = []
    for number in range(files):
        path = folder / f"f{number:05d}.{fmt}"
        ids = [f"{number}-{row}" for row in range(rows)]
        if fmt == "csv":
            path.write_text(
                "id,name,amount,n\n" + "".join(f"{key},name {key},1.25,{row}\n" for row, key in enumerate(ids))
            )
        elif fmt == "json":
            lines = [
                f'{{"id": "{key}", "name": "name {key}", "amount": 1.25, "n": {row}}}' for row, key in enumerate(ids)
            ]
            path.write_text("\n".join(lines) + "\n")
        else:
            table = pa.table({"id": ids, "name": ids, "amount": pa.array([1.25] * rows).cast(pa.decimal128(12, 2))})
            pq.write_table(table.append_column("n", pa.array(range(rows), pa.int64())), path)
        inputs.append(InputFile(path.name, str(path), "0" * 64))
    return inputs


def _median(repeat: int, step: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _measure(fmt: str, files: int, rows: int, repeat: int) -> str:
    """One table row: the medians for ``fmt`` and the ratio."""
    columns = {name: ColumnType.parse(kind) for name, kind in COLUMNS.items()}
    arrow = ArrowParser()
    with tempfile.TemporaryDirectory(prefix="bench-evolution-") as scratch:
        folder = Path(scratch)
        inputs = _write(folder, fmt, files, rows)
        source = SourceSettings(url=f"file://{folder}", glob=f"*.{fmt}", format=fmt)
        evolution = Evolution("add_columns")
        plan = plan_batch(columns, inputs, source, evolution, folder)
        parse = _median(repeat, lambda: arrow.parse(inputs, source, columns))
        planning = _median(repeat, lambda: plan_batch(columns, inputs, source, evolution, folder))
        planned = _median(repeat, lambda: parse_batch(arrow, plan, source))
    ratio = (planning + planned) / parse
    return f"| {fmt} | {files} x {rows} | {parse:.3f} s | {planning:.3f} s | {planned:.3f} s | **{ratio:.2f}x** |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    print("| format | files x rows | parse (a) | plan (b) | parse with plan (c) | (b + c) / a |")
    print("|---|---|---|---|---|---|")
    for fmt in ("csv", "json", "parquet"):
        print(_measure(fmt, options.files, options.rows, options.repeat))


if __name__ == "__main__":
    main()
