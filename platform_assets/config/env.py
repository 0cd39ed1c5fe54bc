"""``${NAME}`` and ``${NAME:-default}`` interpolation of the loaded YAML document."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from platform_assets.errors import ConfigError
from platform_assets.urls import authority_userinfo_span

ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate_env(value: Any, environ: Mapping[str, str] | None = None, path: str = "") -> Any:
    """Replace ``${NAME}`` and ``${NAME:-default}`` in every string of ``value``.

    A placeholder that stands in the user-info of a URL (between ``scheme://``
    and the ``@`` before the host, as the template reads with its placeholders
    taken as opaque) is filled in percent-encoded, so that a password with
    ``/#?@:%``, spaces or non-ASCII characters gives a valid URL that the
    driver decodes back to the password. Elsewhere the text goes in as it is.

    Raises ConfigError naming the key when a variable is unset and has no default.
    """
    env = os.environ if environ is None else environ
    if isinstance(value, dict):
        return {key: interpolate_env(item, env, f"{path}.{key}" if path else str(key)) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate_env(item, env, f"{path}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, str):
        return value
    userinfo = _template_userinfo(value)

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            text = env[name]
        elif default is not None:
            text = default
        else:
            raise ConfigError(
                f"{path}: environment variable {name} is not set (used as ${{{name}}}); export it or give a default "
                f"as ${{{name}:-value}}"
            )
        if userinfo is not None and userinfo[0] <= match.start() and match.end() <= userinfo[1]:
            return quote(text, safe="")
        return text

    return ENV_PATTERN.sub(replace, value)


def _template_userinfo(template: str) -> tuple[int, int] | None:
    """Where the user-info of a URL template lies, each placeholder read as an opaque run of letters."""
    neutral = ENV_PATTERN.sub(lambda match: "x" * len(match.group(0)), template)
    return authority_userinfo_span(neutral)
