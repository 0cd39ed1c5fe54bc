"""Object key safety.

A key is a relative, ``/``-separated path under a store's root. :func:`validate_key`
accepts exactly the keys that cannot escape that root on any store and that mean
the same thing on S3 and on a local filesystem; anything else raises
:class:`UnsafeKey`, whose message names the key (as ``repr``), the reason and
what to do.

Listings return keys as they are (unsafe ones included): the caller decides.
Every store operation that reads or writes one key validates it first.
"""

from __future__ import annotations

import re

MAX_KEY_BYTES = 1024  # the S3 limit on a key's UTF-8 length

_DRIVE = re.compile(r"[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ADVICE = (
    "keys must be relative '/'-separated paths without '.', '..' or empty segments, "
    "backslashes or control characters; rename the object at the source or skip it"
)


class UnsafeKey(ValueError):
    """A key that could escape the store root or be read differently by another store."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"unsafe object key {key!r}: {reason}; {_ADVICE}")
        self.key = key
        self.reason = reason

    def __reduce__(self) -> tuple[type[UnsafeKey], tuple[str, str]]:
        return (type(self), (self.key, self.reason))


def unsafe_reason(key: object) -> str | None:
    """Why ``key`` is unsafe, or None when it is safe."""
    if not isinstance(key, str):
        return f"a key must be a str, not {type(key).__name__}"
    if not key:
        return "the key is empty"
    if key.startswith("/"):
        return "it is an absolute path (leading '/')"
    if _DRIVE.match(key):
        return "it starts with a Windows drive (like 'C:')"
    if "\\" in key:
        return "it contains a backslash"
    control = _CONTROL.search(key)
    if control:
        return f"it contains the control character {control.group()!r}"
    for segment in key.split("/"):
        if segment == "":
            return "it has an empty segment ('//' or a trailing '/')"
        if segment in (".", ".."):
            return f"it has a {segment!r} segment"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "it is not valid UTF-8 (an undecodable file name)"
    if size > MAX_KEY_BYTES:
        return f"it is {size} bytes long in UTF-8; at most {MAX_KEY_BYTES} are allowed"
    return None


def is_safe_key(key: object) -> bool:
    """True when :func:`validate_key` would accept ``key``."""
    return unsafe_reason(key) is None


def validate_key(key: str) -> str:
    """Return ``key`` unchanged when it is safe; raise :class:`UnsafeKey` otherwise."""
    reason = unsafe_reason(key)
    if reason is not None:
        raise UnsafeKey(key, reason)
    return key
