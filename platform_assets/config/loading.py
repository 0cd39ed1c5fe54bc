"""Reading platform.yaml: the file, its YAML (repeated keys refused) and its validation (see ``__init__.py``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from platform_assets import secrets
from platform_assets.config.env import interpolate_env
from platform_assets.config.messages import describe
from platform_assets.config.platform_config import PlatformConfig
from platform_assets.errors import ConfigError

CONFIG_ENV_VAR = "PLATFORM_CONFIG"


def parse_config(raw: Any, source: str = "platform.yaml", environ: Mapping[str, str] | None = None) -> PlatformConfig:
    """Validate an already-loaded YAML document and register its secrets (see the module contract)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping with the keys platform, platforms, products")
    env = os.environ if environ is None else environ
    data = interpolate_env(raw, env)
    try:
        config = PlatformConfig.model_validate({**data, "source_path": source})
    except ValidationError as error:
        hidden = secrets.secrets_in(data) | secrets.environment_secrets(env)
        raise ConfigError(secrets.scrub(describe(error, data, source), hidden)) from None
    secrets.register_config(config.model_dump(by_alias=True, exclude={"source_path"}), env)
    return config


def load_config(path: str | os.PathLike[str] | None = None, environ: dict[str, str] | None = None) -> PlatformConfig:
    """Load ``path``, else the file named by $PLATFORM_CONFIG."""
    env = os.environ if environ is None else environ
    chosen = path or env.get(CONFIG_ENV_VAR)
    if not chosen:
        raise ConfigError(f"no config given: pass --config PATH or set {CONFIG_ENV_VAR}")
    file = Path(chosen)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{file}: cannot read the config ({error.strerror or error}); check the path") from None
    raw = _read_yaml(text, file)
    return parse_config(raw, str(file), env)


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: object, lines: list[int]) -> None:
        super().__init__(f"key {key!r} given {len(lines)} times")
        self.key = key
        self.lines = lines


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that a key given twice in one mapping raises _DuplicateKey.

    PyYAML keeps the last value silently; YAML itself requires unique keys. Keys
    merged in with ``<<`` may be overridden, as YAML allows.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[Any, list[int]] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                lines.setdefault(key, []).append(key_node.start_mark.line + 1)
            except TypeError:
                continue  # an unhashable key: the base class reports it
        for key, where in lines.items():
            if len(where) > 1:
                raise _DuplicateKey(key, where)
        return super().construct_mapping(node, deep)


def _read_yaml(text: str, file: Path) -> Any:
    """The YAML document in ``text``; ConfigError for bad YAML, without quoting the file's text."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except _DuplicateKey as error:
        lines = sorted(set(error.lines))
        where = f"line {lines[0]}" if len(lines) == 1 else "lines " + " and ".join(str(line) for line in lines)
        raise ConfigError(
            f"{file}: key {error.key!r} is given more than once in the same mapping ({where}); keep one: "
            "YAML does not merge repeated keys"
        ) from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = " ".join(part for part in (error.context, error.problem) if part)
        raise ConfigError(f"{file}: not valid YAML{where}: {reason}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{file}: not valid YAML: {type(error).__name__}") from None
