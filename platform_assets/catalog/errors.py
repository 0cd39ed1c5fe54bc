"""Errors the catalog service raises on purpose: a product, version or file a user named is not as asked.

Each is a :class:`~platform_assets.errors.PlatformError`; its message says what
to do next.
"""

from __future__ import annotations

from platform_assets.errors import UserError


class UnknownProduct(UserError):
    """The catalog has no such product yet (it appears on its first sync)."""


class VersionNotFound(UserError):
    """An explicitly asked-for version does not exist; the message suggests the newest one."""


class VersionNotReady(UserError):
    """The version is not captured yet, or is excluded: it cannot be processed."""


class CannotSkip(UserError):
    """The file is not in the version, is already done, or is being processed."""


class ReviewStateError(UserError):
    """A review action on a version (or file) whose state does not allow it."""


class RawCopyLost(UserError):
    """A file of the version is LOST (reconcile found its raw copy gone or altered, and the source could not give
    it back): processing cannot read it until it is given up."""


class RetentionStateError(UserError):
    """A delete, restore or purge asked of a version whose state forbids it (published, deleted already, ...)."""
