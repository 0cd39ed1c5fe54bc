"""Dagster resources: the platform (config, catalog, stores) as a ConfigurableResource, S3 through dagster-aws.

Secrets stay out of what Dagster stores: the platform resource's config is the
config file's path (its URLs hold ``${ENV}`` placeholders, filled in when the
file is loaded in the step), and the S3 keys reach the ``s3`` resource only as
``dg.EnvVar`` names.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

import dagster as dg
from dagster_aws.s3 import S3Resource

from platform_assets.config import PlatformConfig, S3Settings, load_config
from platform_assets.defs.actors import context_actor
from platform_assets.platform import Platform
from platform_assets.services import Services
from platform_assets.storage.s3_store import make_s3_client
from platform_assets.storage.stores import S3ClientFactory

S3_KEY_ENV_VARS = {
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_session_token": "AWS_SESSION_TOKEN",
}
"""The S3 resource's key fields and the environment variables they are wired to (when set)."""

_platforms: dict[tuple[str | None, ...], Platform] = {}
_lock = threading.Lock()


def _value(value: str | None) -> str | None:
    """A field's value; an ``EnvVar`` Dagster has not resolved (the resource used outside a run) is read here."""
    return value.get_value() if isinstance(value, dg.EnvVar) else value


class PlatformS3Resource(S3Resource):
    """dagster-aws's ``S3Resource`` (endpoint, region, profile, keys), whose clients are made as the platform's.

    The client is :func:`platform_assets.storage.s3_store.make_s3_client`'s:
    path-style addressing on a custom endpoint (MinIO, moto), standard retries,
    a connection pool for parallel copies. Keys left unset fall to boto3's
    standard chain (environment, profile, instance role).
    """

    def get_client(self) -> Any:
        key_id, secret = _value(self.aws_access_key_id), _value(self.aws_secret_access_key)
        settings = S3Settings(
            endpoint_url=self.endpoint_url,
            region=self.region_name or S3Settings().region,
            access_key_id=key_id if key_id and secret else None,
            secret_access_key=secret if key_id and secret else None,
        )
        return make_s3_client(
            settings,
            session_token=_value(self.aws_session_token),
            profile=self.profile_name,
            max_attempts=self.max_attempts,
            use_ssl=self.use_ssl,
            verify=self.verify,
        )


def s3_resource(config: PlatformConfig) -> PlatformS3Resource:
    """The ``s3`` resource of ``config``: its ``platform.s3`` endpoint and region, keys as ``dg.EnvVar`` when set.

    Half a key pair is no key: boto3's chain then decides.
    """
    s3 = config.platform.s3 or S3Settings()
    keys = {field: dg.EnvVar(name) for field, name in S3_KEY_ENV_VARS.items() if os.environ.get(name)}
    if not {"aws_access_key_id", "aws_secret_access_key"} <= keys.keys():
        return PlatformS3Resource(endpoint_url=s3.endpoint_url, region_name=s3.region)
    return PlatformS3Resource(
        endpoint_url=s3.endpoint_url,
        region_name=s3.region,
        aws_access_key_id=keys["aws_access_key_id"],
        aws_secret_access_key=keys["aws_secret_access_key"],
        aws_session_token=keys.get("aws_session_token"),
    )


class PlatformResource(dg.ConfigurableResource):
    """The platform described by ``config_path`` (platform.yaml); its S3 stores use the ``s3`` resource's client.

    Keys written in platform.yaml's ``platform.s3`` (through ``${VAR}``) win
    over the ``s3`` resource, as they do outside Dagster.
    """

    config_path: str
    s3: PlatformS3Resource
    actor: str = "dagster"

    def platform(self) -> Platform:
        """One Platform per process and config (its engines and pools are shared)."""
        key = (
            os.path.abspath(self.config_path),
            self.actor,
            self.s3.endpoint_url,
            self.s3.region_name,
            self.s3.profile_name,
            _value(self.s3.aws_access_key_id),
        )
        with _lock:
            platform = _platforms.get(key)
            if platform is None:
                config = load_config(self.config_path)
                platform = Platform(config, actor=self.actor, s3_client=self._s3_client(config))
                _platforms[key] = platform
            return platform

    def _s3_client(self, config: PlatformConfig) -> S3ClientFactory | None:
        own = config.platform.s3
        if own is not None and own.access_key_id:
            return None
        return functools.cache(self.s3.get_client)  # one client for every store: clients are thread-safe

    def services(self) -> Services:
        """The platform's services, as steps take them."""
        return self.platform().services

    def services_for(self, context: dg.OpExecutionContext | dg.AssetExecutionContext) -> Services:
        """The services acting for whoever the run acts for (``defs/actors.py``), their events naming the run."""
        return self.platform().services.acting_as(context_actor(context)).in_run(context.run.run_id)


def platform_resource(
    config_path: str, config: PlatformConfig | None = None, actor: str = "dagster"
) -> PlatformResource:
    """The platform resource for ``config_path``, with the ``s3`` resource of its config (``config`` if loaded)."""
    return PlatformResource(config_path=config_path, s3=s3_resource(config or load_config(config_path)), actor=actor)
