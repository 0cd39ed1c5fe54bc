"""The README's production column end to end, configured as a user configures it.

S3 raw zone, source and Iceberg warehouse on moto's server (boto3 over HTTP),
PostgreSQL state catalog and merge store, the repository's ``dagster.yaml`` in
DAGSTER_HOME on a PostgreSQL database of its own, every key and password only
in the environment. ``db upgrade``, ``sync``, ``process``, ``merge`` and
``run`` go through the command (a subprocess each), then one materialization
through the Definitions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import pytest
import yaml
from sqlalchemy import create_engine, make_url, text

from platform_assets.commands import add_version_partitions
from platform_assets.config import load_config
from platform_assets.defs.builder import build_definitions
from platform_assets.platform import Platform

ROOT = Path(__file__).resolve().parents[1]
HEADER = b"id,name,amount,updated\n"


def _pg_template(url: str) -> str:
    """A test database's URL as the README writes it: the password a ``${PGPASSWORD}`` placeholder."""
    parsed = make_url(url)
    return f"postgresql://{parsed.username}:${{PGPASSWORD}}@{parsed.host}:{parsed.port or 5432}/{parsed.database}"


@pytest.mark.postgres
def test_the_production_setup_of_the_readme(
    tmp_path: Path, pg_database: Callable[[str], str], moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    suffix = uuid.uuid4().hex[:8]
    landing, raw, warehouse = (f"pa-{name}-{suffix}" for name in ("landing", "raw", "warehouse"))
    s3 = boto3.client(
        "s3", endpoint_url=moto_server, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )
    for bucket in (landing, raw, warehouse):
        s3.create_bucket(Bucket=bucket)

    def land(name: str, *rows: bytes) -> None:
        s3.put_object(Bucket=landing, Key=f"customers/{name}", Body=HEADER + b"".join(rows))

    state, merge, dagster = (pg_database(name) for name in ("prod_state", "prod_merge", "prod_dagster"))
    config_path = tmp_path / "platform.yaml"
    config_path.write_text(
        yaml.safe_dump(
            {
                "platform": {
                    "name": "alpha",
                    "state_db": _pg_template(state),
                    "merge_store": _pg_template(merge),
                    "raw_zone": f"s3://{raw}/raw",
                    "warehouse": f"s3://{warehouse}/warehouse",
                    "s3": {"endpoint_url": moto_server, "region": "us-east-1"},
                },
                "products": [
                    {
                        "name": "customers",
                        "source": {"url": f"s3://{landing}/customers", "glob": "**/*.csv", "format": "csv"},
                        "schema": {
                            "columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"},
                            "primary_key": ["id"],
                        },
                    }
                ],
            },
            sort_keys=False,
        )
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    dagster_url = make_url(dagster)
    env = {
        "PLATFORM_CONFIG": str(config_path),
        "PGPASSWORD": "not-checked-by-trust-auth",
        "AWS_ACCESS_KEY_ID": "AKIDPRODUCTION",
        "AWS_SECRET_ACCESS_KEY": "production/secret+key",
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": str(dagster_url.host),
        "DAGSTER_PG_PORT": str(dagster_url.port or 5432),
        "DAGSTER_PG_USER": str(dagster_url.username),
        "DAGSTER_PG_PASSWORD": "not-checked-by-trust-auth",
        "DAGSTER_PG_DB": str(dagster_url.database),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)

    def cli(*argv: str) -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-m", "platform_assets.cli", *argv, "--json"],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout + result.stderr[-3000:]
        return json.loads(result.stdout.strip().splitlines()[-1])

    land("a.csv", b"1,Ann,1.00,2026-01-01\n", b"2,Bob,2.00,2026-01-02\n")
    assert cli("db", "upgrade")["revision"]
    synced = cli("sync", "customers")
    assert synced["version"] == 1 and synced["captures"][0]["status"] == "CAPTURED"
    processed = cli("process", "customers")
    assert (processed["version"], processed["status"], processed["rows"]) == (1, "PROCESSED", 2)
    merged = cli("merge", "customers")
    assert [batch["batch"] for batch in merged["batches"]] == [1] and merged["live_rows"] == 2
    land("b.csv", b"3,Cy,3.00,2026-01-03\n")
    ran = cli("run", "customers")
    assert ran["ok"] and ran["version"] == 2 and ran["merged"] == [2] and ran["live_rows"] == 3

    # The code location's Definitions, on the same stores and the same PostgreSQL instance.
    land("c.csv", b"4,Di,4.00,2026-01-04\n")
    config = load_config(config_path)
    registered = Platform(config).sync("customers")
    assert registered is not None and registered.number == 3
    defs = build_definitions(config, str(config_path))
    with dg.DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        add_version_partitions(instance, "customers", [3])
        result = defs.resolve_job_def("customers_capture_to_merge").execute_in_process(
            instance=instance, partition_key="v3"
        )
        assert result.success
        runs = instance.get_runs()
    # sync, process, merge; run = sync + process + merge; the capture_to_merge job
    assert len(runs) == 7 and {run.status for run in runs} == {dg.DagsterRunStatus.SUCCESS}

    raw_keys = {item["Key"] for item in s3.list_objects_v2(Bucket=raw)["Contents"]}
    assert {"raw/customers/v1/a.csv", "raw/customers/v2/b.csv", "raw/customers/v3/c.csv"} <= raw_keys
    assert s3.list_objects_v2(Bucket=warehouse).get("KeyCount", 0) > 0, "the Iceberg table lives on S3"
    engine = create_engine(merge)
    try:
        with engine.connect() as connection:
            live = connection.execute(text("SELECT id FROM customers_live ORDER BY id")).scalars().all()
    finally:
        engine.dispose()
    assert live == ["1", "2", "3", "4"]
    engine = create_engine(dagster)
    try:
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT count(*) FROM runs WHERE status = 'SUCCESS'")).scalar_one()
    finally:
        engine.dispose()
    assert stored == 7, "runs and events live in PostgreSQL"
    assert not list(home.rglob("*.db")), "no SQLite storage in DAGSTER_HOME"
