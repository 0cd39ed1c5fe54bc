"""Glob patterns over object keys: ``**``, ``*``, ``?`` and ``[...]``.

Keys use ``/`` as the separator. ``*`` and ``?`` never cross a ``/``; ``**`` as a
whole segment matches zero or more segments (``**/*.csv`` matches ``a.csv`` and
``x/y/a.csv``). ``[abc]``, ``[a-z]`` and ``[!abc]`` match one character.
"""

from __future__ import annotations

import re
from functools import lru_cache

from platform_assets.errors import ConfigError


class GlobError(ConfigError):
    """A glob pattern that cannot be compiled (a ValueError too, so config validation reports it)."""


@lru_cache(maxsize=256)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """Compile ``pattern`` into an anchored regular expression over whole keys."""
    if not pattern:
        raise GlobError("empty glob pattern; use '**/*' for every file")
    if pattern.startswith("/"):
        raise GlobError(f"glob {pattern!r} must be relative to the source prefix (no leading '/')")
    segments = pattern.split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            out.append(".*" if last else "(?:[^/]*/)*")
            continue
        if "**" in segment:
            raise GlobError(f"glob {pattern!r}: '**' must be a whole path segment, as in 'a/**/b.csv'")
        out.append(_segment(segment, pattern) + ("" if last else "/"))
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _segment(segment: str, pattern: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(segment):
        char = segment[index]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            end = segment.find("]", index + 2 if segment[index + 1 : index + 2] in ("!", "]") else index + 1)
            if end == -1:
                raise GlobError(f"glob {pattern!r}: '[' at position {index} has no closing ']'")
            body = segment[index + 1 : end]
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            if not body:
                raise GlobError(f"glob {pattern!r}: empty character class")
            escaped = body.replace("\\", "\\\\").replace("^", "\\^").replace("[", "\\[")
            out.append(f"[{'^/' if negate else ''}{escaped}]")
            index = end
        else:
            out.append(re.escape(char))
        index += 1
    return "".join(out)


def glob_matches(pattern: str, key: str) -> bool:
    """True when the whole ``key`` matches ``pattern``."""
    return compile_glob(pattern).match(key) is not None


def literal_prefix(pattern: str) -> str:
    """The leading directories of ``pattern`` that hold no wildcard (to narrow a listing)."""
    prefix: list[str] = []
    for segment in pattern.split("/")[:-1]:
        if any(char in segment for char in "*?["):
            break
        prefix.append(segment)
    return "/".join(prefix) + "/" if prefix else ""
