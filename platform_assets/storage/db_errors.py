"""Database failures a user can cause or fix, as PlatformErrors that name the database and what to do.

Contract: :func:`classify` maps an exception raised while using the database
at ``url`` to a :class:`~platform_assets.errors.PlatformError`, or returns None
for anything else (a bug, or a condition the caller handles itself, such as a
unique violation):

- the server cannot be reached (refused, unknown host, timeout):
  :class:`DatabaseUnreachable` (transient, exit 1);
- the database does not exist, or the server refused the login:
  :class:`DatabaseMissing` / :class:`DatabaseLoginRefused` (config, exit 2);
- the database, or a SQLite file or its folder, is read-only, or the user may not
  write: :class:`DatabaseReadOnly` (exit 1);
- a SQLite file that cannot be opened: :class:`DatabaseUnavailable` (exit 1);
- a number too large for its column: :class:`ValueOutOfRange` (exit 1).

:func:`install` makes an engine raise those errors in place of SQLAlchemy's
(the original stays as ``__cause__``), so every caller, in this process or in
a Dagster step, sees the same PlatformError. Messages show the URL masked and
the driver's text scrubbed of the config's secrets.
"""

from __future__ import annotations

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext

from platform_assets.errors import ConfigError, PlatformError, TransientError, UserError
from platform_assets.secrets import scrub
from platform_assets.urls import mask_url

# PostgreSQL SQLSTATEs (https://www.postgresql.org/docs/current/errcodes-appendix.html)
PG_READ_ONLY_TRANSACTION = "25006"
PG_INSUFFICIENT_PRIVILEGE = "42501"
PG_NUMERIC_OUT_OF_RANGE = "22003"
PG_MISSING_DATABASE = "3D000"
PG_LOGIN_REFUSED = ("28000", "28P01")
_LOGIN_REFUSED_TEXT = ("password authentication failed", "no pg_hba.conf entry", 'role "')
_MISSING_DATABASE_TEXT = ('database "',)


class DatabaseUnreachable(TransientError):
    """The database server cannot be reached."""


class DatabaseMissing(ConfigError):
    """The URL names a database that does not exist on the server."""


class DatabaseLoginRefused(ConfigError):
    """The server refused the URL's user or password."""


class DatabaseReadOnly(UserError):
    """The database refuses writes: read-only, or the user may not write."""


class DatabaseUnavailable(UserError):
    """A SQLite database file that cannot be opened."""


class ValueOutOfRange(UserError):
    """A number too large for the column it goes to."""


def install(engine: Engine) -> None:
    """Make ``engine`` raise :func:`classify`'s PlatformErrors instead of the driver's errors they stand for."""
    url = engine.url.set(drivername=engine.url.get_backend_name()).render_as_string(hide_password=False)

    @event.listens_for(engine, "handle_error")
    def _classify(context: ExceptionContext) -> None:
        if context.is_pre_ping:
            return  # the pool reconnects; a failure to reconnect comes here again
        error = classify(context.original_exception, url)
        if error is not None:
            raise error from context.sqlalchemy_exception or context.original_exception


def classify(error: BaseException, url: str) -> PlatformError | None:
    """The PlatformError that ``error`` (raised using the database at ``url``) stands for, else None."""
    if isinstance(error, OverflowError):
        return ValueOutOfRange(f"a number is too large for the database {mask_url(url)}: {error}")
    original = getattr(error, "orig", None) or error
    pgcode = getattr(original, "pgcode", None)
    sqlite_name = getattr(original, "sqlite_errorname", None)
    reason = scrub(_first_line(original))
    shown = mask_url(url)
    if sqlite_name is not None:
        return _sqlite_error(sqlite_name, reason, shown)
    if type(original).__module__.split(".")[0] not in ("psycopg2", "psycopg"):
        return None
    if pgcode == PG_NUMERIC_OUT_OF_RANGE:
        return ValueOutOfRange(f"a number is too large for the database {shown}: {reason}")
    if pgcode in (PG_READ_ONLY_TRANSACTION, PG_INSUFFICIENT_PRIVILEGE):
        return _read_only(shown, reason)
    if pgcode == PG_MISSING_DATABASE or (pgcode is None and _is_missing_database(reason)):
        return DatabaseMissing(
            f"the database {shown} does not exist on its server: create it (CREATE DATABASE) or correct the URL in "
            "platform.yaml, then run the command again"
        )
    if pgcode in PG_LOGIN_REFUSED or (pgcode is None and any(text in reason for text in _LOGIN_REFUSED_TEXT)):
        return DatabaseLoginRefused(
            f"the database server refused the login to {shown} ({reason}): check the user and password in "
            "platform.yaml and the server's access rules"
        )
    if pgcode is None and type(original).__name__ == "OperationalError":
        return DatabaseUnreachable(
            f"cannot reach the database {shown} ({reason}): check that the server is running and that the host "
            "and port in platform.yaml are right, then run the command again"
        )
    return None


def _sqlite_error(name: str, reason: str, shown: str) -> PlatformError | None:
    if name.startswith("SQLITE_READONLY") or name.startswith("SQLITE_PERM"):
        return _read_only(shown, reason)
    if name.startswith("SQLITE_CANTOPEN"):
        return DatabaseUnavailable(
            f"cannot open the SQLite database {shown} ({reason}): check that its folder exists and that this "
            "process may read and write the file and the folder"
        )
    return None


def _read_only(shown: str, reason: str) -> DatabaseReadOnly:
    return DatabaseReadOnly(
        f"the database {shown} does not accept writes ({reason}): give this process write access to it (for "
        "SQLite, to the file and its folder) or point platform.yaml at a writable database, then run the command "
        "again"
    )


def _is_missing_database(reason: str) -> bool:
    return any(text in reason for text in _MISSING_DATABASE_TEXT) and reason.endswith("does not exist")


def _first_line(error: BaseException) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__
