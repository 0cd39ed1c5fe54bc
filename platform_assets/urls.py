"""URLs that may carry credentials: where their user-info sits, their passwords, and masking them.

Contract:

- :func:`mask_url` never returns a password of the URL it is given, whether the
  URL is well formed, percent-encoded or not, or no URL at all: database URLs are
  read with SQLAlchemy's ``make_url`` (what the driver is handed), others with
  :func:`userinfo_span`. Where the user-info is ambiguous (a raw ``@``, ``/``,
  ``#`` or ``?`` in a password), everything up to the last ``@`` is masked.
  Query parameters named like a secret (``password=``, ``token=``, ...) are
  masked too.
- :func:`url_secrets` returns every form in which a URL's password may show up
  (as written, decoded), for :mod:`platform_assets.secrets`.
- :func:`userinfo_span` and :func:`authority_userinfo_span` locate the user-info
  text (between ``scheme://`` and the ``@`` that ends it).
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

MASK = "***"
DB_SCHEMES = frozenset({"sqlite", "postgresql", "postgres"})
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*)://")
_AUTHORITY_END = re.compile(r"[/?#]")
# query (or Spark Connect ';name=value') parameters whose values are secrets; a value runs to '&', ';' or the end
_SECRET_PARAM = re.compile(
    r"(?i)([?&;](?:[a-z_.]*password|passwd|pwd|[a-z_.]*secret[a-z_.]*|[a-z_.]*token|sslkey)=)([^&;]*)"
)


def url_scheme(text: str) -> str | None:
    """The scheme of ``scheme://...`` in lowercase, else None (no parsing beyond that)."""
    match = _SCHEME.match(text)
    return match.group(1).lower() if match else None


def db_backend(text: str) -> str | None:
    """``postgresql`` for ``postgresql+psycopg2://...``: the scheme without its driver, else None."""
    scheme = url_scheme(text)
    return scheme.split("+", 1)[0] if scheme else None


def authority_userinfo_span(text: str) -> tuple[int, int] | None:
    """(start, end) of the user-info by the RFC 3986 rule, else None.

    The authority runs from after ``scheme://`` to the first ``/``, ``?`` or
    ``#``; the user-info is its part before its last ``@``. This is the rule
    for a well-formed URL, and for a config template whose placeholders were
    neutralized (see :func:`platform_assets.config.interpolate_env`).
    """
    match = _SCHEME.match(text)
    if match is None:
        return None
    start = match.end()
    end_match = _AUTHORITY_END.search(text, start)
    authority_end = end_match.start() if end_match else len(text)
    at = text.rfind("@", start, authority_end)
    return (start, at) if at >= 0 else None


def userinfo_span(text: str) -> tuple[int, int] | None:
    """(start, end) of the text that may hold credentials, read conservatively; None when there is none.

    Like :func:`authority_userinfo_span`, except that a raw ``/``, ``?`` or
    ``#`` in a password must not hide the rest of it: when an ``@`` follows the
    authority and a ``:`` precedes that ``@``, everything up to the last ``@``
    counts as user-info. Text without ``scheme://`` is read from its start.
    """
    match = _SCHEME.match(text)
    start = match.end() if match else 0
    last_at = text.rfind("@", start)
    if last_at < 0:
        return None
    strict = authority_userinfo_span(text) if match else None
    if strict is not None and strict[1] == last_at:
        return strict
    if ":" in text[start:last_at]:
        return (start, last_at)
    return strict


def _split_userinfo(text: str) -> tuple[int, int, int] | None:
    """(start, colon, end) of ``user:password`` in ``text``; None when it carries no password."""
    span = userinfo_span(text)
    if span is None:
        return None
    start, end = span
    colon = text.find(":", start, end)
    return (start, colon, end) if colon >= 0 else None


def _mask_params(text: str) -> str:
    return _SECRET_PARAM.sub(lambda match: match.group(1) + MASK, text)


def mask_url(url: str) -> str:
    """``url`` with its password (and secret query parameters) replaced by ``***``; see the module contract."""
    if db_backend(url) in DB_SCHEMES:
        masked = _mask_db_url(url)
        if masked is not None:
            return masked
    url = _mask_params(url)
    parts = _split_userinfo(url)
    if parts is not None:
        start, colon, end = parts
        url = url[: colon + 1] + MASK + url[end:]
    return url


def _mask_db_url(url: str) -> str | None:
    """The URL as SQLAlchemy reads it, password hidden; None when SQLAlchemy can't read it unambiguously."""
    parsed = _parse_db_url(url)
    if parsed is None or not _parsers_agree(url, parsed):
        return None
    if parsed.password is None:
        return _mask_params(url)
    return _mask_params(parsed.render_as_string(hide_password=True))


def _parse_db_url(url: str) -> URL | None:
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        return None


def _parsers_agree(url: str, parsed: URL) -> bool:
    """True when SQLAlchemy and the conservative reading (:func:`userinfo_span`) find the same password."""
    parts = _split_userinfo(url)
    conservative = unquote(url[parts[1] + 1 : parts[2]]) if parts is not None else None
    return conservative == parsed.password


def db_url_is_ambiguous(url: str) -> bool:
    """True when a database URL's password can be read in two ways (a raw ``@``, or ``/?#`` before an ``@``).

    SQLAlchemy would then hand the driver a part of the password as the host,
    or a host that holds the rest of it.
    """
    parsed = _parse_db_url(url)
    return parsed is not None and not _parsers_agree(url, parsed)


def url_secrets(url: str) -> set[str]:
    """Every password the URL holds, as written and decoded (by SQLAlchemy for database URLs); may be empty.

    Also the values of secret query parameters.
    """
    found: set[str] = set()
    parts = _split_userinfo(url)
    if parts is not None:
        start, colon, end = parts
        written = url[colon + 1 : end]
        found |= {written, unquote(written)}
    if db_backend(url) in DB_SCHEMES:
        parsed = _parse_db_url(url)
        if parsed is not None and parsed.password is not None:
            found.add(str(parsed.password))
    for match in _SECRET_PARAM.finditer(url):
        found |= {match.group(2), unquote(match.group(2))}
    return {value for value in found if value}
