"""S3 in the Dagster layer is dagster-aws's S3Resource; no unresolved dg.EnvVar ever reaches a boto3 client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from platform_assets.commands import add_version_partitions
from platform_assets.config import load_config
from platform_assets.defs.builder import build_definitions
from platform_assets.defs.resources import PlatformResource, PlatformS3Resource
from platform_assets.platform import Platform
from platform_assets.storage.s3_store import S3Store
from platform_assets_tests.conftest import write_platform_config


@pytest.fixture
def s3_platform(tmp_path: Path, moto_server: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The README's S3 setup: raw zone and source on S3 (moto), ``s3: {endpoint_url}``, keys only in the environment."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret/from+env")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    (tmp_path / "dagster_home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    client = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    client.put_object(Bucket=s3_bucket, Key="landing/a.csv", Body=b"id,name,amount,updated\n1,Ann,1.00,2026-01-01\n")
    return write_platform_config(
        tmp_path,
        f"sqlite:///{tmp_path}/state.db",
        f"s3://{s3_bucket}/landing",
        f"s3://{s3_bucket}/raw",
        s3_endpoint=moto_server,
    )


def _credentials(client: Any) -> tuple[str, str]:
    credentials = client._request_signer._credentials.get_frozen_credentials()
    return credentials.access_key, credentials.secret_key


def test_the_platform_resource_uses_the_s3_resource_with_keys_from_the_environment(
    s3_platform: str, moto_server: str
) -> None:
    defs = build_definitions(load_config(s3_platform), s3_platform)
    platform = (defs.resources or {})["platform"]
    assert isinstance(platform, PlatformResource)
    s3 = platform.s3
    assert isinstance(s3, S3Resource) and isinstance(s3, PlatformS3Resource)
    assert (s3.endpoint_url, s3.region_name) == (moto_server, "us-east-1")
    assert s3.aws_secret_access_key == dg.EnvVar("AWS_SECRET_ACCESS_KEY"), "Dagster stores the name, not the key"
    # Used outside a run (as the CLI once did), the EnvVars are read, never handed to boto3 as they are.
    raw_zone = platform.platform().services.raw_zone
    assert isinstance(raw_zone, S3Store)
    assert _credentials(raw_zone.client) == ("AKIDFROMENV", "secret/from+env")
    assert raw_zone.client.meta.config.s3 == {"addressing_style": "path"}, "MinIO's endpoint is addressed path-style"


def test_a_materialization_through_the_definitions_gets_its_s3_client_from_the_s3_resource(
    s3_platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[tuple[str, str]] = []
    original = PlatformS3Resource.get_client

    def counted(self: PlatformS3Resource) -> Any:
        client = original(self)
        made.append(_credentials(client))
        return client

    monkeypatch.setattr(PlatformS3Resource, "get_client", counted)
    config = load_config(s3_platform)
    assert Platform(config).sync("customers") is not None  # outside Dagster: boto3's chain, no resource
    assert made == []
    defs = build_definitions(config, s3_platform)
    with dg.DagsterInstance.get() as instance:
        add_version_partitions(instance, "customers", [1])
        result = defs.resolve_job_def("customers_capture").execute_in_process(instance=instance, partition_key="v1")
    assert result.success
    assert made == [("AKIDFROMENV", "secret/from+env")], "one client from the s3 resource, for every store"
    captured = Platform(config).services.raw_zone.stat("customers/v1/a.csv")
    assert captured is not None and captured.size > 0
