from __future__ import annotations

import pickle

import pytest

from platform_assets.storage.keys import MAX_KEY_BYTES, UnsafeKey, is_safe_key, validate_key
from platform_assets.storage.object_store import UnsafeKey as ReexportedUnsafeKey

UNSAFE = [
    ("", "empty"),
    ("/etc/passwd", "absolute"),
    ("C:/data/a.csv", "Windows drive"),
    ("c:a.csv", "Windows drive"),
    ("../a.csv", "'..' segment"),
    ("a/../../b", "'..' segment"),
    ("a/..", "'..' segment"),
    ("./a.csv", "'.' segment"),
    ("a/./b", "'.' segment"),
    ("a//b", "empty segment"),
    ("a/", "empty segment"),
    ("a\\b", "backslash"),
    ("..\\evil", "backslash"),
    ("a\x00b", "control character"),
    ("a\nb", "control character"),
    ("a\tb", "control character"),
    ("a\x1fb", "control character"),
    ("a\x7fb", "control character"),
    ("bad\udcffname", "not valid UTF-8"),
    ("k" * (MAX_KEY_BYTES + 1), "bytes long"),
]


@pytest.mark.parametrize(("key", "why"), UNSAFE)
def test_unsafe_keys_are_refused_with_the_key_the_reason_and_advice(key: str, why: str) -> None:
    with pytest.raises(UnsafeKey) as caught:
        validate_key(key)
    message = str(caught.value)
    assert repr(key)[:60] in message
    assert why in message
    assert "rename the object at the source or skip it" in message
    assert caught.value.key == key
    assert not is_safe_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "a.csv",
        "a/b/c.csv",
        ".hidden",
        "a..b",
        "...",
        "a b/ü/日本.csv",
        "2024-01-01T10:00:00.csv",
        "ab:c/d",
        "k" * MAX_KEY_BYTES,
    ],
)
def test_safe_keys_pass_unchanged(key: str) -> None:
    assert validate_key(key) == key
    assert is_safe_key(key)


def test_unsafe_key_is_a_value_error_reexported_and_picklable() -> None:
    assert ReexportedUnsafeKey is UnsafeKey
    assert issubclass(UnsafeKey, ValueError)
    error = pickle.loads(pickle.dumps(UnsafeKey("../x", "it has a '..' segment")))
    assert error.key == "../x" and "'..'" in str(error)


def test_non_string_keys_are_refused() -> None:
    with pytest.raises(UnsafeKey, match="must be a str"):
        validate_key(b"a.csv")  # type: ignore[arg-type]  # a caller that ignores the annotation is refused
