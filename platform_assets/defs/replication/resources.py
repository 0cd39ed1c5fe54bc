"""The other platforms this one replicates from, as a Dagster resource."""

from __future__ import annotations

import dagster as dg

from platform_assets.config import PlatformConfig, RemotePlatform, load_config


class RemotePlatformsResource(dg.ConfigurableResource):
    """Each other platform's merge-store URL, from ``platforms:`` in platform.yaml.

    Secrets stay out of Dagster: the URLs in platform.yaml use ``${ENV}``
    placeholders, filled in from the environment when the file is loaded, so
    the resource's own config (shown in the UI) is only the file's path, and
    only masked URLs reach logs and metadata.
    """

    config_path: str

    def platforms(self) -> dict[str, RemotePlatform]:
        """name -> RemotePlatform (its merge_store URL, secrets filled in)."""
        return dict(load_config(self.config_path).platforms)

    def apply(self, config: PlatformConfig) -> PlatformConfig:
        """``config`` with its ``platforms:`` taken from this resource."""
        return config.model_copy(update={"platforms": self.platforms()})


def remote_platforms_resource(config_path: str) -> RemotePlatformsResource:
    return RemotePlatformsResource(config_path=config_path)
