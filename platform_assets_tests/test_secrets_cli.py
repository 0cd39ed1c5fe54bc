"""No secret leaves the process: the CLI's output, its --json, and everything it leaves in DAGSTER_HOME.

Passwords are drawn from a hostile alphabet (``/#?@:%``, spaces, unicode) for a
real PostgreSQL role that holds the state catalog and the merge store; the
commands run as a user runs them (a subprocess per command, text and --json),
and every byte they print or leave under DAGSTER_HOME (SQLite run and event
storage, compute logs) is searched for every form of each secret.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from sqlalchemy import create_engine, text

from platform_assets import cli
from platform_assets.cli import main
from platform_assets.commands import Commands
from platform_assets.config import load_config
from platform_assets_tests.conftest import PG_ADMIN_URL, customers_product, write_csv
from platform_assets_tests.secret_support import files_under, hits, hits_in_files, hostile_password, write_secret_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def hostile_role() -> Iterator[tuple[str, str, list[str]]]:
    """A PostgreSQL role whose password is hostile, and two databases it owns; (role, password, [db, db])."""
    role = f"pa_sec_{uuid.uuid4().hex[:8]}"
    password = hostile_password(random.Random(), "pg")
    databases = [f"{role}_state", f"{role}_merge"]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # SUPERUSER: it may take a reserved slot when parallel suites fill the server
        connection.execute(text(f'CREATE ROLE "{role}" SUPERUSER LOGIN PASSWORD :password'), {"password": password})
        for name in databases:
            connection.execute(text(f'CREATE DATABASE "{name}" OWNER "{role}"'))
    try:
        yield role, password, databases
    finally:
        with admin.connect() as connection:
            for name in databases:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


class Cli:
    """Runs ``platform-assets`` in a subprocess and keeps everything it printed."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.printed: list[bytes] = []

    def __call__(self, *argv: str) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            [sys.executable, "-m", "platform_assets.cli", *argv], env=self.env, capture_output=True, timeout=300
        )
        self.printed += [result.stdout, result.stderr]
        return result

    def both(self, *argv: str) -> tuple[subprocess.CompletedProcess[bytes], dict]:
        """The command as text, then with --json; the text run's result and the JSON object."""
        as_text = self(*argv)
        as_json = self(*argv, "--json")
        lines = as_json.stdout.decode().strip().splitlines()
        assert lines, as_json.stderr.decode()[-3000:]
        return as_text, json.loads(lines[-1])


@pytest.mark.postgres
def test_no_secret_reaches_the_output_or_dagster_home(tmp_path: Path, hostile_role: tuple[str, str, list[str]]) -> None:
    role, password, (state_db, merge_db) = hostile_role
    rng = random.Random()
    remote_password, s3_secret = hostile_password(rng, "beta"), hostile_password(rng, "s3k")
    aws_secret, session_token = hostile_password(rng, "aws"), hostile_password(rng, "tok")
    home, landing = tmp_path / "dagster_home", tmp_path / "landing"
    write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01"), ("2", "Bob", "2.00", "2026-01-02")])
    product = customers_product(f"file://{landing}")
    document: dict[str, Any] = {
        "platform": {
            "name": "alpha",
            "state_db": f"postgresql://${{PGROLE}}:${{PGPASSWORD}}@127.0.0.1:5432/{state_db}",
            "merge_store": f"postgresql+psycopg2://${{PGROLE}}:${{PGPASSWORD}}@127.0.0.1:5432/{merge_db}",
            "raw_zone": f"file://{tmp_path}/raw",
            "warehouse": f"file://{tmp_path}/warehouse",
            "s3": {"region": "us-east-1", "access_key_id": "AKIDSECTEST", "secret_access_key": "${S3_SECRET}"},
        },
        # beta is unreachable (nothing listens on port 1): replicate fails, with its password in the URL
        "platforms": {"beta": {"merge_store": "postgresql://${PGROLE}:${BETA_PASSWORD}@127.0.0.1:1/beta"}},
        "products": [product, {**product, "name": "orders", "primary_platforms": ["beta"]}],
    }
    config = tmp_path / "platform.yaml"
    config.write_text(yaml.safe_dump(document, sort_keys=False))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DAGSTER_HOME": str(home),
        "PGROLE": role,
        "PGPASSWORD": password,
        "BETA_PASSWORD": remote_password,
        "S3_SECRET": s3_secret,
        "PLATFORM_CONFIG": str(config),
        "AWS_ACCESS_KEY_ID": "AKIDSECENV",
        "AWS_SECRET_ACCESS_KEY": aws_secret,
        "AWS_SESSION_TOKEN": session_token,
        "PLATFORM_LOG_LEVEL": "DEBUG",  # Dagster's console logger shows every event
    }
    cli = Cli(env)
    secrets = {"pg": password, "beta": remote_password, "s3": s3_secret, "aws": aws_secret, "token": session_token}

    result, upgraded = cli.both("db", "upgrade")
    assert result.returncode == 0 and upgraded["state_db"].startswith(f"postgresql://{role}:***@127.0.0.1")
    result, synced = cli.both("sync", "customers")
    assert result.returncode == 0 and synced["version"] is None  # the text run captured v1
    result, processed = cli.both("process", "customers", "--version", "1")
    assert result.returncode == 0 and processed["rows"] == 2
    result, merged = cli.both("merge", "customers")
    assert result.returncode == 0 and merged["live_rows"] == 2
    result, failed = cli.both("replicate", "orders")
    assert result.returncode == 1 and failed["kind"] == "transient", failed
    assert "127.0.0.1" in failed["error"]

    # The same role and password on a database that does not exist (trust auth checks no password): the driver fails.
    missing = tmp_path / "missing.yaml"
    document["platform"]["state_db"] = "postgresql://${PGROLE}:${PGPASSWORD}@127.0.0.1:5432/no_such_db_" + role
    missing.write_text(yaml.safe_dump(document, sort_keys=False))
    for json_flag in ((), ("--json",)):  # a traceback or one message, whichever the command gives: scrubbed
        result = cli("db", "upgrade", "--config", str(missing), *json_flag)
        assert result.returncode != 0 and "no_such_db_" in (result.stdout + result.stderr).decode()
    # The URL validators and a numeric key, through the command: exit 2, nothing of the secret shown.
    for platform in (
        {"raw_zone": "ftp://bob:${PGPASSWORD}@host/raw"},
        {"raw_zone": f"ftp://bob:{quote(password, safe='')}@host/raw"},
        {"s3": {"secret_access_key": 123456789}},
    ):
        bad = {**document, "platform": {**document["platform"], **platform}}
        missing.write_text(yaml.safe_dump(bad, sort_keys=False))
        result, refused = cli.both("versions", "customers", "--config", str(missing))
        assert result.returncode == 2 and refused["kind"] == "config", refused
        assert "123456789" not in refused["error"]
    product = document["products"][0]
    bad = {**document, "products": [{**product, "source": {**product["source"], "url": "ftp://bob:${PGPASSWORD}@h/x"}}]}
    missing.write_text(yaml.safe_dump(bad, sort_keys=False))
    result, refused = cli.both("versions", "customers", "--config", str(missing))
    assert result.returncode == 2 and "(customers).source.url: 'ftp://bob:***@h/x'" in refused["error"], refused

    leaks = [f"output {index}: {hit}" for index, data in enumerate(cli.printed) for hit in hits(data, secrets)]
    names = {path.name for path in files_under(home)}
    assert {"runs.db", "index.db"} <= names, "the run and event storage is SQLite under DAGSTER_HOME"
    assert any(name.endswith(".err") for name in names), "and the compute logs are there"
    assert leaks + hits_in_files(home, secrets) == []


@pytest.fixture
def secret_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """A platform.yaml on SQLite whose s3.secret_access_key is a hostile secret from the environment; (path, secret)."""
    return write_secret_config(tmp_path, monkeypatch, "cli", "AKIDCLI")


def test_a_bug_shows_its_traceback_scrubbed(
    secret_config: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path, secret = secret_config

    def broken_sync(self: Commands, product: str) -> None:
        raise RuntimeError(f"the driver said: password {secret!r} rejected")

    monkeypatch.setattr(Commands, "sync", broken_sync)
    assert main(["sync", "customers", "--config", path]) == 1
    printed = capsys.readouterr()
    assert "Traceback" in printed.err and "RuntimeError: the driver said: password '***' rejected" in printed.err
    assert hits((printed.out + printed.err).encode(), {"s3": secret}) == []


def test_log_records_of_a_command_are_scrubbed(
    secret_config: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The handlers there are (here pytest's, on the root logger) get the filter; what is printed is scrubbed."""
    path, secret = secret_config
    logger = logging.getLogger("platform_assets.replication.sync")

    def logging_versions(args: argparse.Namespace) -> int:
        load_config(args.config)
        logger.warning("retrying with %s", secret)
        logger.error("the driver said %r", {"password": secret})
        print(f"and printed {secret}", file=sys.stderr)
        return 0

    monkeypatch.setattr(cli, "cmd_versions", logging_versions)
    assert main(["versions", "customers", "--config", path]) == 0
    printed = capsys.readouterr()
    assert "and printed ***" in printed.err
    assert "retrying with ***" in caplog.text and "the driver said {'password': '***'}" in caplog.text
    assert hits((printed.out + printed.err + caplog.text).encode(), {"s3": secret}) == []
