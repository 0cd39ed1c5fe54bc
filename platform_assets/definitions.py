"""The Definitions entry point (workspace.yaml and `dagster dev -m` load it).

The config comes from $PLATFORM_CONFIG; without it, the embedded-default
example shipped in the package, ``platform_assets/examples/platform.yaml``
(everything under $PLATFORM_HOME, by default ``/tmp/platform_assets_demo``).
"""

from __future__ import annotations

import os
from pathlib import Path

from platform_assets.config import CONFIG_ENV_VAR, load_config
from platform_assets.defs.builder import build_definitions

EXAMPLE_CONFIG = Path(__file__).resolve().parent / "examples" / "platform.yaml"


def config_path() -> str:
    """The config's absolute path (the CLI's runs name the same one, so their jobs are the same snapshot)."""
    return str(Path(os.environ.get(CONFIG_ENV_VAR) or EXAMPLE_CONFIG).resolve())


defs = build_definitions(load_config(config_path()), config_path())
