"""Dagster resources: the platform (config, catalog, stores) as a ConfigurableResource."""

from __future__ import annotations

import os
import threading

import dagster as dg

from platform_assets.config import load_config
from platform_assets.platform import Platform
from platform_assets.services import Services

_platforms: dict[tuple[str, str | None, str | None], Platform] = {}
_lock = threading.Lock()


class PlatformResource(dg.ConfigurableResource):
    """The platform described by ``config_path`` (platform.yaml).

    Secrets stay out of the YAML: URLs in it use ``${ENV}`` placeholders, and
    S3 keys come from ``aws_access_key_id`` / ``aws_secret_access_key``
    (wired to ``dg.EnvVar`` when those variables are set).
    """

    config_path: str
    actor: str = "dagster"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None

    def platform(self) -> Platform:
        """One Platform per process and config (its engines and pools are shared)."""
        key = (os.path.abspath(self.config_path), self.aws_access_key_id, self.actor)
        with _lock:
            platform = _platforms.get(key)
            if platform is None:
                config = load_config(self.config_path)
                if self.aws_access_key_id and config.platform.s3 is not None:
                    s3 = config.platform.s3.model_copy(
                        update={
                            "access_key_id": self.aws_access_key_id,
                            "secret_access_key": self.aws_secret_access_key,
                        }
                    )
                    config = config.model_copy(update={"platform": config.platform.model_copy(update={"s3": s3})})
                platform = Platform(config, actor=self.actor)
                _platforms[key] = platform
            return platform

    def services(self) -> Services:
        """The platform's services, as steps take them."""
        return self.platform().services


def platform_resource(config_path: str) -> PlatformResource:
    """The resource for ``config_path``, with S3 keys from the environment when present."""
    secrets = {}
    if os.environ.get("AWS_ACCESS_KEY_ID"):
        secrets = {
            "aws_access_key_id": dg.EnvVar("AWS_ACCESS_KEY_ID"),
            "aws_secret_access_key": dg.EnvVar("AWS_SECRET_ACCESS_KEY"),
        }
    return PlatformResource(config_path=config_path, **secrets)
