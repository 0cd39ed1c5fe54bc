"""Shared fixtures: PostgreSQL databases, a moto S3 server over HTTP, one Spark session.

PostgreSQL runs at 127.0.0.1:5432 (trust auth). Each ``pg_database`` call
creates a fresh database and drops it when the test session ends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import create_engine, text

if TYPE_CHECKING:
    from platform_assets.catalog.records import RegisteredVersion
    from platform_assets.platform import Platform

PG_ADMIN_URL = os.environ.get("PLATFORM_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def _pg_url(name: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[Callable[[str], str]]:
    """Factory: ``pg_database("merge")`` -> URL of a new, empty PostgreSQL database."""
    if not _pg_available():
        pytest.fail("PostgreSQL is not running at 127.0.0.1:5432 (start it: service postgresql start)")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def make(prefix: str = "t") -> str:
        name = f"pa_{prefix}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return _pg_url(name)

    yield make
    from platform_assets.storage.sql import dispose_engines

    dispose_engines()
    with admin.connect() as connection:
        for name in created:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path, pg_database) -> str:
    """A fresh empty database on each backend: the test runs once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return pg_database("db")


@pytest.fixture(autouse=True)
def _close_pools_after_each_test() -> Iterator[None]:
    """Each test's databases are new: close the shared pools so connections do not pile up."""
    yield
    from platform_assets.storage.sql import dispose_engines

    dispose_engines()


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto S3 server over HTTP on a free local port; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_server: str) -> str:
    """A new empty bucket on the moto server; yields its name."""
    import boto3

    name = f"b-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def spark_session():
    """The one local Spark session of the test run (getOrCreate ignores later settings)."""
    from platform_assets.ingest.spark_session import get_spark_session

    session = get_spark_session(
        {"master": "local[2]", "conf": {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"}}
    )
    yield session
    session.stop()


NO_RETRIES = {"processing": {"retry_backoff_seconds": 0, "max_retries": 0}}


def customers_product(source_url: str, **settings: object) -> dict[str, Any]:
    """The test product ``customers`` (CSV id, name, amount, updated; key id) on ``source_url``, plus ``settings``."""
    return {
        "name": "customers",
        "source": {"url": source_url, "glob": "**/*.csv", "format": "csv"},
        "schema": {
            "columns": {"id": "string", "name": "string", "amount": "decimal(12,2)", "updated": "date"},
            "primary_key": ["id"],
        },
        **settings,
    }


def write_no_retry_config(folder: Path, state_db: str, landing: Path, **settings: object) -> str:
    """A platform.yaml (see ``write_platform_config``): ``customers_product`` reading ``landing`` with ``settings``,
    raw zone ``folder/raw``, a failed file neither retried nor waited for; its path."""
    return write_platform_config(
        folder,
        state_db,
        f"file://{landing}",
        f"file://{folder}/raw",
        products=[customers_product(f"file://{landing}", **settings)],
        extra_platform=NO_RETRIES,
    )


def write_platform_config(
    folder,
    state_db: str,
    source_url: str,
    raw_zone: str,
    *,
    products: list[dict] | None = None,
    s3_endpoint: str | None = None,
    merge_store: str | None = None,
    extra_platform: dict | None = None,
    platforms: dict | None = None,
) -> str:
    """Write a platform.yaml for tests and return its path; one snapshot CSV product by default."""
    import yaml

    platform = {
        "name": "alpha",
        "state_db": state_db,
        "raw_zone": raw_zone,
        "warehouse": f"file://{folder}/warehouse",
        "merge_store": merge_store or f"sqlite:///{folder}/merge.db",
        "engine": "arrow",
        **(extra_platform or {}),
    }
    if s3_endpoint:
        platform["s3"] = {"endpoint_url": s3_endpoint, "region": "us-east-1"}
    default_product = customers_product(source_url, mode="snapshot", milestone="forensic")
    document = {"platform": platform, "products": products or [default_product]}
    if platforms:
        document["platforms"] = platforms
    path = folder / "platform.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return str(path)


@pytest.fixture
def local_platform(tmp_path, db_url):
    """A Platform on local folders (landing/, raw/) with state on each backend."""
    from platform_assets.config import load_config
    from platform_assets.platform import Platform

    landing = tmp_path / "landing"
    landing.mkdir()
    path = write_platform_config(tmp_path, db_url, f"file://{landing}", f"file://{tmp_path / 'raw'}")
    return Platform(load_config(path), actor="test")


def write_csv(path, rows: list[tuple[str, ...]], header: str = "id,name,amount,updated") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(",".join(row) + "\n" for row in rows))


def synced(platform: Platform, product: str) -> RegisteredVersion:
    """``platform.sync(product)`` where the caller has just changed the source: it registers a version."""
    registered = platform.sync(product)
    assert registered is not None, f"{product}: the source did not change"
    return registered


def process_in_crashing_process(
    config_path: str | None, version: int, failpoint: str, product: str = "customers"
) -> subprocess.CompletedProcess[str]:
    """``Platform.process`` of ``version`` in a child process with ``PLATFORM_FAILPOINTS=failpoint`` (exit 86 on it)."""
    assert config_path is not None, "the child loads the platform from its config file"
    code = (
        "from platform_assets.platform import Platform\n"
        f"Platform.from_path({config_path!r}).process({product!r}, {version})\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PLATFORM_FAILPOINTS": failpoint},
        capture_output=True,
        text=True,
        timeout=180,
    )
