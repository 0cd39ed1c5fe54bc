"""Helpers of the soft delete and retention tests: a platform on local or S3 raw zones, versions made fast."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import update

from platform_assets.catalog.db import transaction
from platform_assets.catalog.models import Version
from platform_assets.config import load_config
from platform_assets.platform import Platform
from platform_assets_tests.conftest import customers_product, write_platform_config

HEADER = "id,name,amount,updated\n"


def make_platform(
    tmp_path: Path,
    db_url: str,
    s3: tuple[str, str] | None = None,
    actor: str = "test",
    roles: dict[str, list[str]] | None = None,
    **product: Any,
) -> Platform:
    """A platform with the product ``customers`` (snapshot, forensic, plus ``product``); raw zone local, or on the
    moto bucket ``s3`` = (endpoint, bucket)."""
    landing = tmp_path / "landing"
    landing.mkdir(exist_ok=True)
    raw_zone = f"s3://{s3[1]}/raw" if s3 else f"file://{tmp_path}/raw"
    settings = {"mode": "snapshot", "milestone": "forensic", **product}
    path = write_platform_config(
        tmp_path,
        db_url,
        f"file://{landing}",
        raw_zone,
        products=[customers_product(f"file://{landing}", **settings)],
        s3_endpoint=s3[0] if s3 else None,
        extra_platform={"processing": {"retry_backoff_seconds": 0, "max_retries": 0}},
    )
    if roles:
        document = yaml.safe_load(Path(path).read_text())
        Path(path).write_text(yaml.safe_dump({**document, "roles": roles}, sort_keys=False))
    return Platform(load_config(path), actor=actor)


def rows(start: int, count: int = 2) -> str:
    return HEADER + "".join(f"c{i:03d},name {i},{i}.25,2026-01-{1 + i % 28:02d}\n" for i in range(start, start + count))


def captured(platform: Platform, files: dict[str, str]) -> int:
    """Replace the landing folder's files with ``files``, sync and capture; the new version."""
    landing = Path(platform.product("customers").source.url.removeprefix("file://"))
    for old in landing.glob("*.csv"):
        old.unlink()
    for name, text in files.items():
        (landing / name).write_text(text)
    registered = platform.sync("customers")
    assert registered is not None
    assert platform.capture("customers", registered.number).status == "CAPTURED"
    return registered.number


def processed(platform: Platform, files: dict[str, str]) -> int:
    number = captured(platform, files)
    report = platform.process("customers", number)
    assert report.version_status in ("PROCESSED", "AWAITING_REVIEW"), report
    return number


def published(platform: Platform, files: dict[str, str]) -> int:
    number = processed(platform, files)
    platform.merge("customers", number)
    assert platform.catalog.version("customers", number).status == "PUBLISHED"
    return number


def set_version(platform: Platform, number: int, **values: Any) -> None:
    """Time travel and states: write ``values`` into the version's row directly (tests only)."""
    with transaction(platform.catalog.engine) as session:
        session.execute(update(Version).where(Version.number == number).values(**values))


def statuses(platform: Platform) -> dict[int, str]:
    return {record.number: str(record.status) for record in platform.catalog.versions("customers")}
