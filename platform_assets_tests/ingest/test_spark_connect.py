"""``spark.remote``: the Spark engine against a real Spark Connect server (the server that ships with pyspark).

The platform runs in a child process, so its Connect session never meets the
test run's shared classic session.
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

import pytest

from platform_assets_tests.ingest.test_processing import HEADER, capture, customer_rows, make_platform, rejects, table_rows

STARTUP_S = 120
PRODUCTS = [
    {
        "name": "customers",
        "source": {"url": "file:///set-per-run", "glob": "**/*.csv", "format": "csv"},
        "schema": {"columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"}, "primary_key": ["id"]},
        "max_bad_row_fraction": 0.5,
    }
]
FILES = {"a.csv": customer_rows(0, 5), "b.csv": HEADER + "x,X,1.00,2026-01-01\ny,Y,oops,2026-01-01\nz,\"Z, Jr\",2.50,2026-02-03\n"}
CHILD = """
import json, sys
from platform_assets.config import load_config
from platform_assets.platform import Platform
platform = Platform(load_config(sys.argv[1]), actor="connect")
parser = platform.parser_for(platform.product("customers"))
report = platform.process("customers", int(sys.argv[2]), parser=parser)
from pyspark import SparkContext
from pyspark.sql.connect.session import SparkSession as ConnectSession
sessions = {"connect": ConnectSession.getActiveSession() is not None, "local_jvm": SparkContext._gateway is not None}
print(json.dumps({"status": report.version_status, **sessions}))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Spark Connect server (``local[2]``) on a free port; yields its ``sc://`` URL."""
    import pyspark

    home = Path(pyspark.__file__).parent
    port = _free_port()
    log = tmp_path_factory.mktemp("connect") / "server.log"
    command = [
        str(home / "bin" / "spark-submit"),
        "--class", "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master", "local[2]",
        "--conf", f"spark.connect.grpc.binding.port={port}",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.sql.shuffle.partitions=2",
        "spark-internal",
    ]  # fmt: skip
    with log.open("w") as out:
        server = subprocess.Popen(command, env={**os.environ, "SPARK_HOME": str(home)}, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_S
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Spark Connect server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.spark
def test_spark_remote_writes_the_same_table_as_arrow(tmp_path: Path, connect_server: str) -> None:
    outputs = {}
    for engine in ("arrow", "spark"):
        folder = tmp_path / engine
        folder.mkdir()
        products = [{**PRODUCTS[0], "source": {**PRODUCTS[0]["source"], "url": f"file://{folder}/landing"}}]
        settings = {"spark": {"remote": connect_server, "master": None}} if engine == "spark" else {}
        platform = make_platform(folder, f"sqlite:///{folder}/state.db", products=products, engine=engine, **settings)
        version = capture(platform, FILES)
        if engine == "spark":
            child = subprocess.run(
                [sys.executable, "-c", CHILD, str(folder / "platform.yaml"), str(version)], capture_output=True, text=True, timeout=600
            )
            assert child.returncode == 0, child.stderr[-3000:]
            result = json.loads(child.stdout.strip().splitlines()[-1])
            assert result == {"status": "PROCESSED", "connect": True, "local_jvm": False}, "processed through the Connect server, no local JVM"
        else:
            assert platform.process("customers", version).version_status == "PROCESSED"
        rows = table_rows(platform, version).drop_columns(["_ingested_at", "_source_sha256"]).sort_by([("_source_file", "ascending"), ("id", "ascending")])
        rejected = rejects(platform).select(["_source_file", "_line_number", "_raw", "_reason"]).sort_by("_raw")
        outputs[engine] = (rows.to_pylist(), rejected.to_pylist())
    assert outputs["spark"] == outputs["arrow"]
    assert len(outputs["arrow"][0]) == 7 and len(outputs["arrow"][1]) == 1
