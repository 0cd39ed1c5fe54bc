"""Hostile secrets and how to look for them in bytes (output, files, databases)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from platform_assets_tests.conftest import write_csv, write_platform_config

ALPHABET = "/#?@:% äü€ß漢"


def hostile_password(rng: random.Random, tag: str) -> str:
    """A secret holding every character of the hostile alphabet, some twice, in a random order, after ``tag``."""
    chars = list(ALPHABET + ALPHABET[: rng.randint(0, len(ALPHABET))])
    rng.shuffle(chars)
    return f"{tag}{''.join(chars)}"


def byte_forms(secret: str) -> set[bytes]:
    """Every form in which ``secret`` may be stored: UTF-8, JSON/Python escapes, percent-encodings, UTF-16."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret, safe="").lower(),
        quote(secret),  # '/' left as it is, as dagster-postgres encodes a password
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        repr(secret.encode())[2:-1],
        secret.encode("unicode_escape").decode(),
    }
    return {form.encode() for form in forms} | {form.encode("utf-16-le") for form in forms}


def hits(data: bytes, secrets: Mapping[str, str]) -> list[str]:
    """Each secret (by name) and the form of it that ``data`` holds."""
    return [
        f"{name}: {form!r}" for name, secret in secrets.items() for form in sorted(byte_forms(secret)) if form in data
    ]


def hits_in_files(root: Path, secrets: Mapping[str, str]) -> list[str]:
    """Every file under ``root`` (SQLite databases, logs, compute logs) that holds a secret, with the secret's form."""
    return [
        f"{path.relative_to(root)}: {hit}" for path in files_under(root) for hit in hits(path.read_bytes(), secrets)
    ]


def files_under(root: Path) -> Iterable[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def write_secret_config(folder: Path, monkeypatch: pytest.MonkeyPatch, tag: str, access_key_id: str) -> tuple[str, str]:
    """A platform.yaml on SQLite (landing/a.csv, one row) whose s3.secret_access_key is a hostile secret taken from
    the environment (S3_SECRET); DAGSTER_HOME is set to ``folder/dagster_home``; (path, secret)."""
    secret = hostile_password(random.Random(), tag)
    monkeypatch.setenv("S3_SECRET", secret)
    monkeypatch.setenv("DAGSTER_HOME", str(folder / "dagster_home"))
    landing = folder / "landing"
    write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01")])
    path = write_platform_config(
        folder,
        f"sqlite:///{folder}/state.db",
        f"file://{landing}",
        f"file://{folder}/raw",
        extra_platform={"s3": {"access_key_id": access_key_id, "secret_access_key": "${S3_SECRET}"}},
    )
    return path, secret
