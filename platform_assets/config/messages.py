"""The words of a config error: each pydantic error located by key path, secrets never shown."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from platform_assets import secrets
from platform_assets.config.platform_config import PlatformConfig
from platform_assets.urls import mask_url


def describe(error: ValidationError, data: dict[str, Any], source: str) -> str:
    lines = [f"{source}: invalid config"]
    for item in error.errors():
        location = _location(item["loc"], data)
        kind = item["type"]
        value = item.get("input")
        secret = any(secrets.is_secret_key(part) for part in item["loc"])
        if secret:
            value = _SecretValue(value)
        elif isinstance(value, str):
            value = mask_url(value)
        if kind == "extra_forbidden":
            allowed = _allowed_keys(item["loc"])
            lines.append(f"  {location}: unknown key; allowed here: {allowed}")
        elif kind == "missing":
            lines.append(f"  {location}: required key is missing")
        elif kind == "literal_error":
            expected = item.get("ctx", {}).get("expected", "")
            lines.append(f"  {location}: {value!r} is not allowed; use one of: {expected}")
        else:
            message = item["msg"].removeprefix("Value error, ")
            shown = f" (got {value!r})" if _is_scalar(value) and repr(value) not in message else ""
            lines.append(f"  {location}: {message}{shown}")
    return "\n".join(lines)


class _SecretValue:
    """Stands for a value under a secret key in a message: its type shows, never its text."""

    def __init__(self, value: object) -> None:
        self._type = type(value).__name__

    def __repr__(self) -> str:
        return f"a value of type {self._type}, not shown: it is a secret"


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, _SecretValue)) and not isinstance(value, dict)


def _location(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    parts: list[str] = []
    node: Any = data
    for index, part in enumerate(loc):
        if isinstance(part, int):
            label = f"[{part}]"
            if isinstance(node, list) and part < len(node) and isinstance(node[part], dict) and "name" in node[part]:
                label = f"[{part}] ({node[part]['name']})"
            parts.append(label)
            node = node[part] if isinstance(node, list) and part < len(node) else None
        else:
            name = "schema" if part == "schema_" else str(part)
            if part in ("function-after", "function-before"):
                continue
            parts.append(("." if index else "") + name)
            node = node.get(name) if isinstance(node, dict) else None
    return "".join(parts) or "(top level)"


def _allowed_keys(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] | None = PlatformConfig
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get("schema_" if part == "schema" else str(part))
        if field is None:
            model = None
            break
        model = _model_of(field.annotation)
    if model is None:
        return "see the README's platform.yaml example"
    names = [(field.alias or name) for name, field in model.model_fields.items() if name != "source_path"]
    return ", ".join(names)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
