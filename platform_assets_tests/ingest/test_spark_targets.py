"""The Spark parser on the two targets besides ``local[*]``: ``spark.remote`` (a Spark Connect server)
and ``spark.master: spark://...`` (a standalone cluster), both started from the pyspark install.

The platform runs in a child process, so its session never meets the test
run's shared ``local[2]`` session (a process holds one SparkContext).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platform_assets_tests.ingest.test_processing import (
    HEADER,
    capture,
    customer_rows,
    make_platform,
    rejects,
    table_rows,
)

STARTUP_S = 120
PRODUCTS: list[dict[str, Any]] = [
    {
        "name": "customers",
        "source": {"url": "file:///set-per-run", "glob": "**/*.csv", "format": "csv"},
        "schema": {
            "columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"},
            "primary_key": ["id"],
        },
        "max_bad_row_fraction": 0.5,
    }
]
FILES = {
    "a.csv": customer_rows(0, 5),
    "b.csv": HEADER + 'x,X,1.00,2026-01-01\ny,Y,oops,2026-01-01\nz,"Z, Jr",2.50,2026-02-03\n',
}
CHILD = """
import json, sys
from platform_assets.config import load_config
from platform_assets.platform import Platform
platform = Platform(load_config(sys.argv[1]), actor="child")
parser = platform.services.parsers.for_product(platform.product("customers"))
report = platform.process("customers", int(sys.argv[2]), parser=parser)
from pyspark import SparkContext
from pyspark.sql.connect.session import SparkSession as ConnectSession
context = SparkContext._active_spark_context
print(json.dumps({
    "status": report.version_status,
    "connect": ConnectSession.getActiveSession() is not None,
    "master": None if context is None else context.master,
}))
"""


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _start(command: list[str], log: Path, port: int) -> subprocess.Popen:
    """Start a Spark JVM and wait until it listens on ``port``."""
    with log.open("w") as out:
        process = subprocess.Popen(
            command, env={**os.environ, "SPARK_HOME": str(_spark_home())}, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + STARTUP_S
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            pytest.fail(f"{command[1:4]} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    return process


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server (``local[2]``) on a free port; yields its ``sc://`` URL."""
    port = _free_port()
    command = [
        str(_spark_home() / "bin" / "spark-submit"),
        "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master", "local[2]",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.shuffle.partitions=2",
        "spark-internal",
    ]  # fmt: skip
    server = _start(command, tmp_path_factory.mktemp("connect") / "server.log", port)
    yield f"sc://127.0.0.1:{port}"
    _stop(server)


@pytest.fixture(scope="module")
def standalone_master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A standalone Spark master and one worker (2 cores, 1 GiB) on this host; yields the ``spark://`` URL."""
    logs = tmp_path_factory.mktemp("standalone")
    spark_class = str(_spark_home() / "bin" / "spark-class")
    port, worker_port = _free_port(), _free_port()
    url = f"spark://127.0.0.1:{port}"
    master = _start(
        [
            spark_class,
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            "0",
        ],
        logs / "master.log",
        port,
    )
    try:
        command = [
            spark_class, "org.apache.spark.deploy.worker.Worker", url,
            "--host", "127.0.0.1", "--port", str(worker_port), "--webui-port", "0",
            "--cores", "2", "--memory", "1g", "--work-dir", str(logs / "work"),
        ]  # fmt: skip
        worker = _start(command, logs / "worker.log", worker_port)
        yield url
        _stop(worker)
    finally:
        _stop(master)


def _parity(tmp_path: Path, spark_settings: dict) -> dict:
    """Process the same files with the Arrow parser (here) and with Spark on ``spark_settings`` (in a child
    process); assert both tables and rejects are the same; return what the child reported."""
    outputs, reported = {}, {}
    for engine in ("arrow", "spark"):
        folder = tmp_path / engine
        folder.mkdir()
        products = [{**PRODUCTS[0], "source": {**PRODUCTS[0]["source"], "url": f"file://{folder}/landing"}}]
        settings = {"spark": spark_settings} if engine == "spark" else {}
        platform = make_platform(folder, f"sqlite:///{folder}/state.db", products=products, engine=engine, **settings)
        version = capture(platform, FILES)
        if engine == "spark":
            child = subprocess.run(
                [sys.executable, "-c", CHILD, str(folder / "platform.yaml"), str(version)],
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert child.returncode == 0, child.stderr[-3000:]
            reported = json.loads(child.stdout.strip().splitlines()[-1])
        else:
            assert platform.process("customers", version).version_status == "PROCESSED"
        rows = (
            table_rows(platform, version)
            .drop_columns(["_ingested_at", "_source_sha256"])
            .sort_by([("_source_file", "ascending"), ("id", "ascending")])
        )
        rejected = rejects(platform).select(["_source_file", "_line_number", "_raw", "_reason"]).sort_by("_raw")
        outputs[engine] = (rows.to_pylist(), rejected.to_pylist())
    assert outputs["spark"] == outputs["arrow"]
    assert len(outputs["arrow"][0]) == 7 and len(outputs["arrow"][1]) == 1
    return reported


@pytest.mark.spark
def test_spark_remote_writes_the_same_table_as_arrow(tmp_path: Path, connect_server: str) -> None:
    reported = _parity(tmp_path, {"remote": connect_server, "master": None})
    assert reported == {"status": "PROCESSED", "connect": True, "master": None}, (
        "through the Connect server, no local JVM"
    )


@pytest.mark.spark
def test_spark_standalone_master_writes_the_same_table_as_arrow(tmp_path: Path, standalone_master: str) -> None:
    reported = _parity(tmp_path, {"master": standalone_master})
    assert reported == {"status": "PROCESSED", "connect": False, "master": standalone_master}
