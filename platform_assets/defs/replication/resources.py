"""The other platforms this one replicates from, as a Dagster resource."""

from __future__ import annotations

import dagster as dg

from platform_assets.config import PlatformConfig, RemotePlatform, load_config, mask_url


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

    def merge_store_url(self, name: str) -> str:
        """The merge-store URL of platform ``name``; KeyError naming the known platforms otherwise."""
        platforms = self.platforms()
        if name not in platforms:
            raise KeyError(
                f"platform {name!r} is not under platforms: in {self.config_path}; known: {sorted(platforms)}"
            )
        return platforms[name].merge_store

    def masked_urls(self) -> dict[str, str]:
        return {name: mask_url(remote.merge_store) for name, remote in self.platforms().items()}

    def apply(self, config: PlatformConfig) -> PlatformConfig:
        """``config`` with its ``platforms:`` taken from this resource."""
        return config.model_copy(update={"platforms": self.platforms()})


def remote_platforms_resource(config_path: str) -> RemotePlatformsResource:
    return RemotePlatformsResource(config_path=config_path)
