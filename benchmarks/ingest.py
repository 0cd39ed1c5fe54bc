"""Ingest benchmark: processing a version into Iceberg against the floor measured in the same run.

Cases:
  (a) 100 CSV files x 10,000 rows; (b) one 1,000,000-row CSV: each through
      ``Platform.process`` (what ``<product>/staged`` runs) with the Arrow
      engine and a warm Spark session, on SQLite and on PostgreSQL state;
  (c) 200 one-file versions in a row (Arrow, SQLite): the first 20 against the
      last 20, to show commit cost does not creep.
Floor: pyarrow reading the same CSVs plus one pyiceberg append.
With Spark, also "bare spark": Spark's own CSV reader with the declared schema, collected as
Arrow, and nothing else (what any Spark-based parser pays before its own work).
Usage: ``python benchmarks/ingest.py [--repeat 3] [--skip-spark | --only-spark] [--skip-postgres]``;
``--source-line-cost``: only (a) and (b), Arrow and SQLite, with vs without the ``_source_line`` column.
(warm Spark: one untimed run per case and state before the timed ones). Every timed step, the
floor's included, starts right after ``benchmarks.memory.prefault`` (untimed; see that module).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
from pyiceberg.catalog.sql import SqlCatalog
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.memory import prefault
from platform_assets.config import load_config
from platform_assets.ingest.parsing import declared_arrow_schema
from platform_assets.platform import Platform
from platform_assets.storage import iceberg
from platform_assets.storage.sql import dispose_engines
from platform_assets_tests.conftest import write_platform_config

COLUMNS = {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"}
PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"


def write_csvs(folder: Path, files: int, rows: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(files):
        start = index * rows
        lines = ["id,name,amount,updated\n"]
        lines += [
            f"k{n:09d},name {n},{n % 100000}.{n % 100:02d},2026-{1 + n % 12:02d}-{1 + n % 28:02d}\n"
            for n in range(start, start + rows)
        ]
        (folder / f"part-{index:04d}.csv").write_text("".join(lines))


def floor_seconds(folder: Path, work: Path) -> tuple[float, float]:
    """(wall, CPU seconds of this process): pyarrow reads the CSVs with the declared types, one pyiceberg append."""
    schema = declared_arrow_schema(COLUMNS)
    catalog = SqlCatalog(
        "floor", uri=f"sqlite:///{work}/floor-{uuid.uuid4().hex}.db", warehouse=f"file://{work}/floor-warehouse"
    )
    catalog.create_namespace("floor")
    table = catalog.create_table("floor.t", schema=schema)
    prefault()
    started, cpu = time.perf_counter(), time.process_time()
    options = pacsv.ConvertOptions(column_types=dict(zip(schema.names, schema.types)))
    parts = [pacsv.read_csv(path, convert_options=options) for path in sorted(folder.glob("*.csv"))]
    table.append(pa.concat_tables(parts).cast(schema))
    return time.perf_counter() - started, time.process_time() - cpu


def make_platform(work: Path, landing: Path, state_db: str, engine: str, mode: str = "snapshot") -> Platform:
    folder = work / uuid.uuid4().hex[:8]
    folder.mkdir()
    products = [
        {
            "name": "bench",
            "source": {"url": f"file://{landing}", "glob": "*.csv", "format": "csv"},
            "schema": {"columns": COLUMNS, "primary_key": ["id"]},
            "mode": mode,
        }
    ]
    settings = {"processing": {"claim_batch_size": 100, "lease_seconds": 5, "snapshot_retention_seconds": 5}}
    path = write_platform_config(
        folder,
        state_db,
        f"file://{landing}",
        f"file://{folder}/raw",
        products=products,
        extra_platform={**settings, "engine": engine},
    )
    return Platform(load_config(path), actor="bench")


def fresh_state(kind: str, work: Path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{work}/{uuid.uuid4().hex[:8]}.db"
    name = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def create_tables(platform: Platform) -> None:
    """The product's data and rejects tables, as the first processing of a product creates them."""
    tables = platform.services.iceberg
    schema = iceberg.product_arrow_schema(declared_arrow_schema(COLUMNS))
    iceberg.ensure_table(tables.iceberg_catalog, tables.data_table("bench"), schema)
    iceberg.ensure_table(tables.iceberg_catalog, tables.rejects_table("bench"), iceberg.rejects_arrow_schema())


def process_once(work: Path, landing: Path, state: str, engine: str, parser=None) -> tuple[float, float, int, float]:
    """(seconds, catalog seconds, rows, CPU seconds of this process) of processing one captured version.

    The CPU time counts this process's threads only: not a PostgreSQL state server's, not Spark's JVM."""
    platform = make_platform(work, landing, fresh_state(state, work), engine)
    registered = platform.sync("bench")
    assert registered is not None
    platform.capture("bench", registered.number)
    create_tables(platform)  # as for the floor, creating the tables is not part of the run
    prefault()
    started, cpu = time.perf_counter(), time.process_time()
    report = platform.process("bench", registered.number, parser=parser)
    seconds = time.perf_counter() - started
    assert report.version_status == "PROCESSED", report.failures
    return seconds, report.catalog_s, report.rows_written, time.process_time() - cpu


def bare_spark_seconds(spark, folder: Path) -> float:
    """Spark alone: its own CSV reader with the declared schema over the same files, collected as Arrow.

    No rejects, line numbers, lineage, Parquet, commit or catalog: what any
    parser built on Spark pays before its own work.
    """
    ddl = ", ".join(f"{name} {column_type}" for name, column_type in COLUMNS.items())
    paths = [str(path) for path in sorted(folder.glob("*.csv"))]
    prefault()
    started = time.perf_counter()
    spark.read.csv(paths, header=True, schema=ddl).toArrow()
    return time.perf_counter() - started


def case(
    label: str,
    work: Path,
    landing: Path,
    rows: int,
    files: int,
    repeat: int,
    parsers: dict,
    states: list[str],
    spark=None,
) -> None:
    floors = [floor_seconds(landing, work) for _ in range(repeat)]
    floor, floor_cpu = statistics.median(run[0] for run in floors), statistics.median(run[1] for run in floors)
    print(
        f"({label}) floor: pyarrow read + one iceberg append: {floor:.3f}s = {rows / floor:,.0f} rows/s; "
        f"cpu {floor_cpu:.3f}s"
    )
    if spark is not None:
        bare_spark_seconds(spark, landing)  # warm
        bare = statistics.median(bare_spark_seconds(spark, landing) for _ in range(repeat))
        print(
            f"({label}) bare spark: read.csv(declared schema).toArrow(): {bare:.3f}s = {rows / bare:,.0f} rows/s; "
            f"{floor / bare:.2f}x floor"
        )
    for parser_name, parser in parsers.items():
        for state in states:
            if parser_name == "spark":
                process_once(
                    work, landing, state, "spark", parser
                )  # warm Spark: one untimed run compiles its code paths
            runs = [
                process_once(work, landing, state, "spark" if parser_name == "spark" else "arrow", parser)
                for _ in range(repeat)
            ]
            seconds = statistics.median(run[0] for run in runs)
            catalog = statistics.median(run[1] for run in runs)
            cpu = statistics.median(run[3] for run in runs)
            print(
                f"({label}) {parser_name:5s} {state:8s}: {seconds:.3f}s = {rows / seconds:,.0f} rows/s, "
                f"{files / seconds:,.1f} files/s; "
                f"{rows / seconds / (rows / floor):.2f}x floor; catalog work {catalog:.3f}s ({catalog / seconds:.1%}); "
                f"cpu {cpu:.3f}s = {floor_cpu / cpu:.2f}x the floor's cpu (this process only)"
            )
            dispose_engines()


def many_versions(work: Path, count: int) -> None:
    landing = work / "versions"
    landing.mkdir()
    platform = make_platform(
        work, landing, fresh_state("sqlite", work), "arrow", mode="incremental"
    )  # each version: one new file
    walls, cpus = [], []
    prefault()
    for number in range(1, count + 1):
        (landing / f"v{number:04d}.csv").write_text(
            "id,name,amount,updated\n" + "".join(f"k{number}-{i},n,1.00,2026-01-01\n" for i in range(100))
        )
        registered = platform.sync("bench")
        assert registered is not None, "each round adds a file"
        platform.capture("bench", registered.number)
        started, cpu = time.perf_counter(), time.process_time()
        platform.process("bench", registered.number)
        walls.append(time.perf_counter() - started)
        cpus.append(time.process_time() - cpu)
    snapshots = len(platform.services.iceberg.iceberg_catalog.load_table("alpha.bench").metadata.snapshots)
    for label, times in (("wall", walls), ("cpu", cpus)):
        first, last = statistics.median(times[:20]), statistics.median(times[-20:])
        print(
            f"(c) {count} one-file versions, {label}: median of the first 20 {first * 1000:.1f} ms, of the last 20 "
            f"{last * 1000:.1f} ms: {last / first:.2f}x"
        )
    marks = ", ".join(
        f"{index}: {statistics.median(walls[max(0, index - 10) : index]) * 1000:.0f} ms"
        for index in range(20, count + 1, 20)
    )
    print(f"(c) wall medians of the 10 versions up to: {marks}; retained snapshots at the end: {snapshots}")


def source_line_cost(work: Path, repeat: int) -> None:
    """Arrow engine, SQLite state: process (a) and (b) with ``_source_line`` and without it (the CSV reader's
    line computation replaced by a NULL column of the same type), runs interleaved, medians."""
    from unittest import mock

    from platform_assets.ingest.parsing import arrow_csv

    def without(data: object, start: int, first: int, dialect: object, parsed_rows: int, invalid: object) -> pa.Array:
        return pa.nulls(parsed_rows, pa.int64())

    for label, folder, files in (
        ("a: 100 files x 10,000 rows", work / "a", 100),
        ("b: 1 file x 1,000,000 rows", work / "b", 1),
    ):
        if not folder.exists():
            write_csvs(folder, files, 1_000_000 // files)
        timed: dict[str, list[float]] = {"with": [], "without": []}
        cpu: dict[str, list[float]] = {"with": [], "without": []}
        for run in range(repeat):
            for kind in ("with", "without") if run % 2 == 0 else ("without", "with"):  # alternate the order
                started = time.process_time()
                if kind == "with":
                    timed[kind].append(process_once(work, folder, "sqlite", "arrow")[0])
                else:
                    with mock.patch.object(arrow_csv, "_row_lines", without):
                        timed[kind].append(process_once(work, folder, "sqlite", "arrow")[0])
                cpu[kind].append(time.process_time() - started)  # the setup (sync, capture) included
                dispose_engines()
        wall_with, wall_without = (statistics.median(timed[key]) for key in ("with", "without"))
        cpu_with, cpu_without = (statistics.median(cpu[key]) for key in ("with", "without"))
        print(
            f"({label}) _source_line: processing wall with {wall_with:.3f}s, without {wall_without:.3f}s: "
            f"{wall_with / wall_without:.3f}x; process CPU (with sync+capture) {cpu_with:.3f}s vs "
            f"{cpu_without:.3f}s: {cpu_with / cpu_without:.3f}x; wall runs with "
            f"{[round(t, 3) for t in timed['with']]}, without {[round(t, 3) for t in timed['without']]}"
        )
        lines_alone(label, folder)


def lines_alone(label: str, folder: Path) -> None:
    """The line computation by itself on the case's files (what ``_source_line`` adds to parsing a CSV)."""
    from platform_assets.config import SourceSettings
    from platform_assets.ingest.parsing import arrow_csv
    from platform_assets.ingest.parsing.text import Dialect

    dialect = Dialect.of(SourceSettings(url="file:///x"))
    datas = [path.read_bytes() for path in sorted(folder.glob("*.csv"))]
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for data in datas:
            body = data.index(b"\n") + 1
            arrow_csv._row_lines(data, body, 2, dialect, data.count(b"\n") - 1, [])
        runs.append(time.perf_counter() - started)
    print(f"({label}) the line computation alone: median {statistics.median(runs) * 1000:.1f} ms")
    parse_and_write(label, folder)


def parse_and_write(label: str, folder: Path) -> None:
    """In process, no catalog: the Arrow parser over the case's files, then the rows written as one Parquet file
    (zstd, as the Iceberg data files), with ``_source_line`` and with a NULL column instead; 7 interleaved runs."""
    import io
    from unittest import mock

    import pyarrow.parquet as pq

    from platform_assets.config import SourceSettings
    from platform_assets.ingest.parsing import ArrowParser, InputFile, arrow_csv

    files = [InputFile(path.name, str(path), "0" * 64) for path in sorted(folder.glob("*.csv"))]
    source = SourceSettings(url=f"file://{folder}")

    def without(data: object, start: int, first: int, dialect: object, parsed_rows: int, invalid: object) -> pa.Array:
        return pa.nulls(parsed_rows, pa.int64())

    def once() -> float:
        prefault()
        started = time.perf_counter()
        rows = ArrowParser().parse(files, source, COLUMNS).rows
        pq.write_table(rows, io.BytesIO(), compression="zstd")
        return time.perf_counter() - started

    timed: dict[str, list[float]] = {"with": [], "without": []}
    for run in range(7):
        for kind in ("with", "without") if run % 2 == 0 else ("without", "with"):
            if kind == "with":
                timed[kind].append(once())
            else:
                with mock.patch.object(arrow_csv, "_row_lines", without):
                    timed[kind].append(once())
    with_line, without_line = (statistics.median(timed[key]) for key in ("with", "without"))
    print(
        f"({label}) parse + Parquet write, in process: with {with_line:.3f}s, without {without_line:.3f}s: "
        f"{with_line / without_line:.3f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument(
        "--only-spark", action="store_true", help="only the floor and warm Spark on (a) and (b); no Arrow rows, no (c)"
    )
    parser.add_argument(
        "--source-line-cost", action="store_true", help="only: Arrow/SQLite (a) and (b) with vs without _source_line"
    )
    args = parser.parse_args()
    if args.source_line_cost:
        work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
        try:
            source_line_cost(work, args.repeat)
        finally:
            dispose_engines()
            shutil.rmtree(work, ignore_errors=True)
        return
    if args.only_spark and args.skip_spark:
        parser.error("--only-spark and --skip-spark exclude each other")
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    states = ["sqlite"] + ([] if args.skip_postgres else ["postgres"])
    parsers: dict[str, object] = {} if args.only_spark else {"arrow": None}
    spark = None
    try:
        if not args.skip_spark:
            from platform_assets.ingest.parsing import SparkParser
            from platform_assets.ingest.spark_session import get_spark_session

            started = time.perf_counter()
            spark = get_spark_session({"master": "local[*]", "conf": {"spark.ui.enabled": "false"}})
            spark.range(1).count()
            print(f"spark start-up (local[*], cold JVM): {time.perf_counter() - started:.2f}s")
            parsers["spark"] = SparkParser(spark)
        write_csvs(work / "a", 100, 10_000)
        case("a: 100 files x 10,000 rows", work, work / "a", 1_000_000, 100, args.repeat, parsers, states, spark)
        write_csvs(work / "b", 1, 1_000_000)
        case("b: 1 file x 1,000,000 rows", work, work / "b", 1_000_000, 1, args.repeat, parsers, states, spark)
        if not args.only_spark:
            many_versions(work, args.versions)
    finally:
        dispose_engines()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
