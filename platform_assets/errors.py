"""The root of every error the platform raises on purpose.

Contract: an error a user can cause or act on is a :class:`PlatformError`. Its
message says what failed, why, and what to do next; ``kind`` names the branch
(shown as ``{"error": ..., "kind": ...}`` under ``--json``) and ``exit_code`` is
how the ``platform-assets`` command ends:

- :class:`UserError` (exit 1): bad input or a state that forbids the step; the
  same call fails again until the user acts.
- :class:`ConfigError` (exit 2): platform.yaml or the command line is wrong.
- :class:`NothingToDo` (exit 3): there was nothing to do where something was
  asked for (for example, nothing to process).
- :class:`TransientError` (exit 1): a store is unreachable, busy or locked; the
  same call may succeed later.

Any other exception is a bug: the command shows it with its traceback.
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOTHING_TO_DO = 3


class PlatformError(Exception):
    """An error the platform raises on purpose; see the module contract."""

    kind = "error"
    exit_code = EXIT_FAILED


class UserError(PlatformError):
    """Bad input, or a state that forbids the step; the message says what to do."""

    kind = "user"


class ConfigError(UserError, ValueError):
    """platform.yaml or the command line is missing, unreadable or invalid; the message says what to fix."""

    kind = "config"
    exit_code = EXIT_USAGE


class NothingToDo(PlatformError):
    """Nothing to do where something was asked for; the message says why."""

    kind = "nothing_to_do"
    exit_code = EXIT_NOTHING_TO_DO


class TransientError(PlatformError):
    """A store is unreachable, busy or locked; retrying later may succeed."""

    kind = "transient"


class SchemaMismatch(UserError):
    """Two schemas that must agree do not: the declared one, a table's, a file's or a primary's.

    The family of every schema disagreement; the message names the columns
    that differ and how to reconcile them.
    """


class ReportedError(PlatformError):
    """A PlatformError raised where this process could not catch it (inside a Dagster run), rebuilt here.

    It keeps the original's message, ``kind`` and ``exit_code``, so a command
    ends as if it had raised the error itself.
    """

    def __init__(self, message: str, *, kind: str, exit_code: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.exit_code = exit_code
