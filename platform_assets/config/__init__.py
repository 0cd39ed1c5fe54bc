"""The platform.yaml schema: parsing, ``${ENV}`` interpolation and validation.

Contract: :func:`load_config` either returns a fully validated
:class:`PlatformConfig` or raises :class:`ConfigError` whose message names the
file, the key, the offending value and what is allowed. It never lets a
pydantic or YAML traceback reach the user, and never shows a secret: URL
passwords are masked, values under secret keys are not echoed, and every secret
the document holds is scrubbed from the message. A key given twice in one YAML
mapping is an error, not a silent overwrite. A loaded config registers its
secrets with :mod:`platform_assets.secrets`.

The modules: ``base`` (the strict model base, name and URL checks),
``platform_section`` (``platform:``, ``platforms:``), ``source``, ``schema``,
``review`` (a product's ``review:``), ``reconcile`` (a product's ``reconcile:``),
``retention`` (a product's ``retention:``) and ``product`` (one entry of
``products:``), ``platform_config`` (the whole document, with ``roles:``),
``env`` (interpolation), ``loading`` (file and YAML) and ``messages`` (the
words of an error). Import from this package.
"""

from __future__ import annotations

from platform_assets.config.base import COLUMN_PATTERN, MAX_NAME_LENGTH, NAME_PATTERN, RESERVED_COLUMNS
from platform_assets.config.env import interpolate_env
from platform_assets.config.loading import CONFIG_ENV_VAR, load_config, parse_config
from platform_assets.config.platform_config import PlatformConfig
from platform_assets.config.platform_section import (
    MAX_LINE_BYTES_DEFAULT,
    MEMORY_BUDGET_MB_DEFAULT,
    DiscoverySettings,
    PlatformSection,
    ProcessingSettings,
    RemotePlatform,
    S3Settings,
    SparkSettings,
)
from platform_assets.config.product import AutomationSettings, FreshnessSettings, ProductConfig, ReplicationSettings
from platform_assets.config.reconcile import ReconcileSettings
from platform_assets.config.retention import RetentionSettings
from platform_assets.config.review import ReviewSettings
from platform_assets.config.schema import DeclaredType, SchemaEvolution, SchemaSettings
from platform_assets.config.source import JSON_LINES_NAMES, SourceSettings
from platform_assets.errors import ConfigError
from platform_assets.urls import mask_url

__all__ = [
    "COLUMN_PATTERN",
    "CONFIG_ENV_VAR",
    "JSON_LINES_NAMES",
    "MAX_LINE_BYTES_DEFAULT",
    "MEMORY_BUDGET_MB_DEFAULT",
    "MAX_NAME_LENGTH",
    "NAME_PATTERN",
    "RESERVED_COLUMNS",
    "AutomationSettings",
    "ConfigError",
    "DeclaredType",
    "DiscoverySettings",
    "FreshnessSettings",
    "PlatformConfig",
    "PlatformSection",
    "ProcessingSettings",
    "ProductConfig",
    "ReconcileSettings",
    "RemotePlatform",
    "ReplicationSettings",
    "RetentionSettings",
    "ReviewSettings",
    "S3Settings",
    "SchemaEvolution",
    "SchemaSettings",
    "SourceSettings",
    "SparkSettings",
    "interpolate_env",
    "load_config",
    "mask_url",
    "parse_config",
]
