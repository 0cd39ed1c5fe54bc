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

What leaves a process goes through these: :func:`scrubbed_output` scrubs
``sys.stdout`` / ``sys.stderr`` line by line (:class:`ScrubbingStream`) and
installs the filter on the log handlers (:func:`install_log_filters`) for the
time of a command or a Dagster step; :func:`scrubbed_exception` rebuilds an
exception whose text (message, chain, traceback) holds a secret.

This module does not import Dagster.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

from platform_assets.errors import PlatformError, ReportedError
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


def install_log_filters() -> None:
    """Install a :class:`SecretFilter` on every handler known now: the root's, every logger's, the last resort."""
    loggers = [logging.getLogger()] + [
        logger for logger in list(logging.Logger.manager.loggerDict.values()) if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in list(logger.handlers):
            install_log_filter(handler)
    if logging.lastResort is not None:
        install_log_filter(logging.lastResort)


class ScrubbingStream:
    """A text stream that writes to ``target`` with every registered secret scrubbed.

    Text is held until its line ends (a secret split over two writes is still
    found); :meth:`flush` writes what is held. Everything else (``fileno``,
    ``encoding``, ...) is the target's.
    """

    MAX_HELD = 1 << 16  # a longer unfinished line is written out scrubbed as it is

    def __init__(self, target: TextIO) -> None:
        self.target = target
        self._held = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            pending = self._held + text
            cut = pending.rfind("\n") + 1
            if len(pending) - cut > self.MAX_HELD:
                cut = len(pending)
            self._held = pending[cut:]
            if cut:
                self.target.write(scrub(pending[:cut]))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with self._lock:
            if self._held:
                self.target.write(scrub(self._held))
                self._held = ""
        self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


@contextmanager
def scrubbed_output() -> Iterator[None]:
    """Scrub ``sys.stdout`` and ``sys.stderr`` and install the log filters while the block runs (nests)."""
    install_log_filters()
    wrapped = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, ScrubbingStream):
            scrubbing = ScrubbingStream(stream)
            setattr(sys, name, scrubbing)
            wrapped.append((name, scrubbing))
    try:
        yield
    finally:
        for name, scrubbing in wrapped:
            scrubbing.flush()
            if getattr(sys, name) is scrubbing:  # leave a stream someone else put there since
                setattr(sys, name, scrubbing.target)


class ScrubbedError(Exception):
    """An exception whose text held a secret, rebuilt with it scrubbed: the original's type, message and traceback."""


def scrubbed_exception(error: BaseException) -> BaseException | None:
    """None when ``error`` (message, causes, traceback) shows no registered secret, else a scrubbed stand-in for it.

    A :class:`~platform_assets.errors.PlatformError` becomes a
    :class:`~platform_assets.errors.ReportedError` with the same kind and exit
    code; any other error a :class:`ScrubbedError` that holds the original's
    scrubbed traceback. Raise the stand-in ``from None``: the original must not
    travel along as its cause.
    """
    shown = "".join(traceback.format_exception(error))
    clean = scrub(shown)
    if clean == shown:
        return None
    if isinstance(error, PlatformError):
        return ReportedError(scrub(str(error)), kind=error.kind, exit_code=error.exit_code)
    return ScrubbedError(clean)
