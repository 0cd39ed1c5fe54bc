"""Page in the machine's free memory before a timed step.

This machine is a virtual machine whose host backs guest memory on first
touch and takes freed memory back (virtio balloon / free page reporting):
touching 12 GiB of never-touched memory took 28.5 s here, touching it again
right after 0.85 s. Whichever timed step first grows the page cache, a
PostgreSQL server's shared buffers or a process's heap pays about 2.4 s per
GiB on top of its own work, and the steps that write the most new memory (a
seed: heap, index, sort memory) pay the most. Touching, then freeing, some
memory just before each timed step (floor and measured code alike) hands the
step pages the host has already backed, as on a machine without a balloon.

``python benchmarks/memory.py [--gib 4]`` shows the effect: it touches
``--gib`` GiB of fresh memory twice in a row and prints both times (12 GiB:
28.5 s, then 0.85 s, on this machine; the first figure depends on how much
memory the host took back since it was last touched).

``python benchmarks/memory.py --rss 1,3 [--repeat 3] [--repeat-large 1]`` measures files larger
than memory: it generates a CSV of each size in GiB (4 columns, about 45 bytes a
row), captures it, and processes it with ``Platform.process`` (what ``<product>/staged`` runs) in
a child process per run, reading the child's peak RSS (``VmHWM`` of ``/proc/self/status``, read by
the child at its end; ``ru_maxrss`` would carry this parent's peak over ``exec``):
with the default budget (``processing.memory_budget_mb: 1024``, streamed) and, on files up to
``--whole-max-gib``, with a budget so large that the file is read whole (the in-memory path)
in the same run. It prints each run, the medians, peak RSS / budget and the streamed /
in-memory throughput ratio, then deletes the generated files. Each run is preceded by a
``prefault`` of 4 GiB in the parent (untimed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT_GIB = 1.5


def prefault(gib: float = DEFAULT_GIB) -> None:
    """Touch ``gib`` GiB of fresh memory and free it again (a no-op for 0)."""
    if gib <= 0:
        return
    pages = np.ones(int(gib * (1 << 30)) // 8, dtype=np.float64)
    del pages


def main() -> None:
    parser = argparse.ArgumentParser(description="Touch fresh memory twice in a row and time both passes.")
    parser.add_argument("--gib", type=float, default=4.0)
    parser.add_argument("--rss", help="measure processing of generated CSVs of these sizes in GiB, e.g. 1,3")
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode on files under 2 GiB")
    parser.add_argument("--repeat-large", type=int, default=1, help="runs on files of 2 GiB and more")
    parser.add_argument("--budget-mb", type=float, default=1024.0)
    parser.add_argument("--whole-max-gib", type=float, default=1.0, help="largest file also read whole")
    parser.add_argument("--work", default=None, help="folder for the generated files (default: a temp dir)")
    args = parser.parse_args()
    if args.rss:
        sizes = [float(size) for size in args.rss.split(",")]
        measure_rss(sizes, args.repeat, args.repeat_large, args.budget_mb, args.whole_max_gib, args.work)
        return
    for label in ("first touch", "second touch"):
        started = time.perf_counter()
        prefault(args.gib)
        seconds = time.perf_counter() - started
        print(f"{label}: {args.gib:g} GiB in {seconds:.2f} s ({seconds / args.gib:.2f} s/GiB)")


# ------------------------------------------------------------- files larger than memory

COLUMNS = {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"}
WHOLE_BUDGET_MB = float(1 << 20)
"""A budget under which every file is read whole: the in-memory path."""
_CHILD = """
import json, sys, time
from platform_assets.platform import Platform

def high_water_kib():  # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's peak over exec)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

platform = Platform.from_path(sys.argv[1], actor="bench")
before = high_water_kib()
started = time.perf_counter()
report = platform.process("bench", int(sys.argv[2]), reprocess=sys.argv[3] == "1")
seconds = time.perf_counter() - started
assert report.version_status == "PROCESSED", report.failures
peak = high_water_kib()
print(json.dumps({"seconds": seconds, "rows": report.rows_written, "rss_before_kib": before, "peak_kib": peak}))
"""


def write_csv(path: Path, gib: float) -> int:
    """A CSV of about ``gib`` GiB (id, name, amount, updated); its row count."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    target, rows, chunk = int(gib * (1 << 30)), 0, 1_000_000
    with open(path, "wb") as handle:
        handle.write(b"id,name,amount,updated\n")
        options = pacsv.WriteOptions(include_header=False, quoting_style="none")
        while handle.tell() < target:
            numbers = pa.array(np.arange(rows, rows + chunk, dtype=np.int64))
            text = pc.cast(numbers, pa.string())
            table = pa.table(
                {
                    "id": pc.binary_join_element_wise("k", pc.utf8_lpad(text, 10, "0"), ""),
                    "name": pc.binary_join_element_wise("name ", text, ""),
                    "amount": pc.cast(
                        pc.divide(pc.cast(pc.remainder(numbers, 10_000_000), pa.float64()), 100), pa.string()
                    ),
                    "updated": pc.cast(
                        pc.add(pc.cast(pc.remainder(numbers, 3000), pa.int32()), pa.scalar(19000, pa.int32())).cast(
                            pa.date32()
                        ),
                        pa.string(),
                    ),
                }
            )
            pacsv.write_csv(table, handle, options)
            rows += chunk
    return rows


def _config(folder: Path, landing: Path, state_db: str, budget_mb: float) -> str:
    import yaml

    platform = {
        "name": "alpha",
        "state_db": state_db,
        "raw_zone": f"file://{folder}/raw",
        "warehouse": f"file://{folder}/warehouse",
        "merge_store": f"sqlite:///{folder}/merge.db",
        "engine": "arrow",
        "processing": {"lease_seconds": 600, "snapshot_retention_seconds": 600, "memory_budget_mb": budget_mb},
    }
    product = {
        "name": "bench",
        "source": {"url": f"file://{landing}", "glob": "*.csv", "format": "csv"},
        "schema": {"columns": COLUMNS, "primary_key": ["id"]},
        "mode": "snapshot",
    }
    path = folder / f"platform-{budget_mb:g}.yaml"
    path.write_text(yaml.safe_dump({"platform": platform, "products": [product]}))
    return str(path)


def _child_run(config: str, version: int, reprocess: bool) -> dict[str, float]:
    """One processing in a child process: its seconds, rows and peak RSS (MiB, the child's VmHWM)."""
    prefault(4.0)
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, config, str(version), "1" if reprocess else "0"],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    assert child.stdout is not None
    output = child.stdout.read()
    if child.wait() != 0:
        raise RuntimeError(f"processing failed ({child.returncode})")
    result = json.loads(output.decode().strip().splitlines()[-1])
    return {
        "seconds": result["seconds"],
        "rows": result["rows"],
        "peak_mib": result["peak_kib"] / 1024,
        "start_mib": result["rss_before_kib"] / 1024,
    }


def measure_rss(
    sizes: list[float], repeat: int, repeat_large: int, budget_mb: float, whole_max_gib: float, work: str | None
) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from platform_assets.platform import Platform

    root = Path(tempfile.mkdtemp(prefix="bench-rss-", dir=work))
    try:
        for gib in sizes:
            folder = root / f"{gib:g}gib"
            landing = folder / "landing"
            landing.mkdir(parents=True)
            started = time.perf_counter()
            rows = write_csv(landing / "big.csv", gib)
            size = (landing / "big.csv").stat().st_size
            print(
                f"{gib:g} GiB: {size / (1 << 20):.0f} MiB, {rows:,} rows, "
                f"generated in {time.perf_counter() - started:.0f} s"
            )
            state_db = f"sqlite:///{folder}/state.db"
            streamed = _config(folder, landing, state_db, budget_mb)
            whole = _config(folder, landing, state_db, WHOLE_BUDGET_MB)
            platform = Platform.from_path(streamed, actor="bench")
            registered = platform.sync("bench")
            assert registered is not None
            platform.capture("bench", registered.number)
            (landing / "big.csv").unlink()  # the raw copy is what processing reads
            runs = repeat if gib < 2 else repeat_large
            modes = [("streamed", streamed)] + ([("whole", whole)] if gib <= whole_max_gib else [])
            results: dict[str, list[dict[str, float]]] = {name: [] for name, _ in modes}
            first = True
            for _ in range(runs):
                for name, config in modes:  # interleaved, so load changes hit both modes alike
                    result = _child_run(config, registered.number, reprocess=not first)
                    first = False
                    results[name].append(result)
                    print(
                        f"  {name}: {result['seconds']:.2f} s, "
                        f"{result['rows'] / result['seconds'] / 1e6:.2f} M rows/s, "
                        f"peak RSS {result['peak_mib']:.0f} MiB (after start-up {result['start_mib']:.0f} MiB)"
                    )
            _summary(gib, budget_mb, results)
            shutil.rmtree(folder)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _summary(gib: float, budget_mb: float, results: dict[str, list[dict[str, float]]]) -> None:
    medians = {
        name: {key: statistics.median(run[key] for run in runs) for key in ("seconds", "peak_mib", "rows")}
        for name, runs in results.items()
    }
    streamed = medians["streamed"]
    line = (
        f"{gib:g} GiB, median of {len(results['streamed'])}: streamed {streamed['seconds']:.2f} s, "
        f"peak {streamed['peak_mib']:.0f} MiB = {streamed['peak_mib'] / budget_mb:.2f}x the budget ({budget_mb:g} MiB)"
    )
    if "whole" in medians:
        whole = medians["whole"]
        line += (
            f"; whole {whole['seconds']:.2f} s, peak {whole['peak_mib']:.0f} MiB; "
            f"throughput streamed / whole = {whole['seconds'] / streamed['seconds']:.2f}x"
        )
    print(line)


if __name__ == "__main__":
    main()
