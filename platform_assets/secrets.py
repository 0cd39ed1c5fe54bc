"""The secret values the loaded config holds, and scrubbing them out of text, log records and payloads.

Contract: :func:`platform_assets.config.load_config` registers every secret of
the config it loads (process-wide, thread-safe; registrations only grow):

- the password of every URL in the config, as written and decoded;
- the value under every key named like a secret (``secret_access_key``,
  ``password``, ``token``, ...), numbers included;
- the values of :data:`SECRET_ENV_VARS` in the environment, when set.

:func:`scrub` replaces each registered secret in a text by ``***``, in every
form it may take there: as is, percent-encoded (as ``quote``, ``quote_plus``
and SQLAlchemy render it, upper- or lowercase hex), and escaped as JSON, a
Python ``repr`` or ``ascii`` would, or as the ``repr`` of its UTF-8 bytes.
Values shorter than :data:`MIN_SECRET_LENGTH` are not scrubbed (that would
erase ordinary words); URLs mask their passwords regardless
(:func:`platform_assets.urls.mask_url`). :func:`scrub_payload` does the same
over nested JSON-like data and hides any value under a secret key.
:class:`SecretFilter` scrubs log records (message, arguments, traceback).

This module does not import Dagster.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

from platform_assets.urls import MASK, url_scheme, url_secrets

SECRET_ENV_VARS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "DAGSTER_PG_PASSWORD", "PGPASSWORD")
MIN_SECRET_LENGTH = 4
_SECRET_KEY = re.compile(r"(?i)(password|passwd|secret|token|credential|private_key)")
_PERCENT_HEX = re.compile(r"%[0-9A-F]{2}")


def is_secret_key(key: object) -> bool:
    """True for a mapping key whose value is a secret (``secret_access_key``, ``password``, ``token``, ...)."""
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def secret_forms(secret: str) -> set[str]:
    """The forms in which ``secret`` may show up in a text (see the module contract)."""
    encoded = {quote(secret, safe=""), quote(secret, safe=" +"), quote_plus(secret)}
    encoded |= {_PERCENT_HEX.sub(lambda match: match.group(0).lower(), form) for form in encoded}
    escaped = {
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        ascii(secret)[1:-1],
        repr(secret.encode())[2:-1],
    }
    return {form for form in {secret} | encoded | escaped if len(form) >= MIN_SECRET_LENGTH}


def secrets_in(tree: Any) -> set[str]:
    """The secrets in a JSON-like tree: URL passwords and the values under secret keys."""
    found: set[str] = set()
    _collect(tree, found, under_secret_key=False)
    return {value for value in found if len(value) >= MIN_SECRET_LENGTH}


def _collect(value: Any, found: set[str], under_secret_key: bool) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _collect(item, found, under_secret_key or is_secret_key(key))
    elif isinstance(value, (list, tuple)):
        for item in value:
            _collect(item, found, under_secret_key)
    elif under_secret_key and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        found.add(str(value))
    elif isinstance(value, str) and (url_scheme(value) is not None or "@" in value):
        found |= url_secrets(value)


def environment_secrets(environ: Mapping[str, str]) -> set[str]:
    """The values of :data:`SECRET_ENV_VARS` set in ``environ``."""
    return {environ[name] for name in SECRET_ENV_VARS if len(environ.get(name) or "") >= MIN_SECRET_LENGTH}


class SecretRegistry:
    """A growing set of secrets and one compiled pattern over all their forms; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None

    def add(self, secrets: Iterable[str]) -> None:
        """Register ``secrets`` (too short ones are ignored)."""
        new = {secret for secret in secrets if len(secret) >= MIN_SECRET_LENGTH}
        with self._lock:
            if new <= self._secrets:
                return
            self._secrets = self._secrets | new
            self._pattern = _pattern(self._secrets)

    def secrets(self) -> frozenset[str]:
        return self._secrets

    def scrub(self, text: str, extra: Iterable[str] = ()) -> str:
        """``text`` with every registered secret (and every one of ``extra``) replaced by ``***``."""
        pattern = self._pattern
        more = {secret for secret in extra if len(secret) >= MIN_SECRET_LENGTH} - self._secrets
        if more:
            pattern = _pattern(self._secrets | more)
        if pattern is None or not text:
            return text
        return pattern.sub(MASK, text)


def _pattern(secrets: Iterable[str]) -> re.Pattern[str] | None:
    forms = {form for secret in secrets for form in secret_forms(secret)}
    if not forms:
        return None
    return re.compile("|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True)))


_registry = SecretRegistry()


def register(secrets: Iterable[str]) -> None:
    """Register secret values process-wide; :func:`scrub` hides them from then on."""
    _registry.add(secrets)


def register_config(tree: Any, environ: Mapping[str, str]) -> None:
    """Register the secrets of a loaded config (its JSON-like dump) and of the environment."""
    _registry.add(secrets_in(tree) | environment_secrets(environ))


def registered() -> frozenset[str]:
    """The secrets registered so far."""
    return _registry.secrets()


def scrub(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` with every registered secret, and every one of ``extra``, replaced by ``***``."""
    return _registry.scrub(text, extra)


def scrub_payload(value: Any) -> Any:
    """A copy of JSON-like ``value`` with secrets scrubbed from every string and key, and secret keys' values hidden.

    Mappings become dicts and tuples lists; a number whose text is a secret
    becomes ``***``; other values are returned as they are.
    """
    if isinstance(value, Mapping):
        return {
            (scrub(key) if isinstance(key, str) else key): (
                MASK if is_secret_key(key) and item not in (None, "") else scrub_payload(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [scrub_payload(item) for item in value]
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and scrub(str(value)) != str(value):
        return MASK
    return value


class SecretFilter(logging.Filter):
    """Scrubs registered secrets from a log record's message, arguments, traceback and stack; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg = scrub(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


def install_log_filter(target: logging.Logger | logging.Handler) -> SecretFilter:
    """Add one :class:`SecretFilter` to ``target`` (once) and return it.

    A logger's filters see only the records logged on that very logger, not
    those its children propagate; to cover a subtree, install it on the handlers.
    """
    for existing in target.filters:
        if isinstance(existing, SecretFilter):
            return existing
    secret_filter = SecretFilter()
    target.addFilter(secret_filter)
    return secret_filter
