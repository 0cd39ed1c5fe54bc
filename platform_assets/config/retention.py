"""A product's ``retention:``: how long versions that will never be read again keep their data.

Rules (applied by ``platform_assets/versions/retention.py``): the newest ``keep_last`` versions and a
published one are never touched; a version never published (rejected, superseded before it was ever
published, excluded, failed) is purged ``unpublished_days`` after it was created; a soft-deleted one
``deleted_days`` after it was deleted. ``apply`` lets the scheduled ``<product>_retention`` job purge
(otherwise it reports its dry run).
"""

from __future__ import annotations

from pydantic import Field

from platform_assets.config.base import Strict


class RetentionSettings(Strict):
    """``retention:``: ``keep_last`` (>= 1: the newest versions are never purged), ``unpublished_days`` and
    ``deleted_days`` (whole days, >= 0), ``apply`` (the scheduled job purges; default false: it reports)."""

    keep_last: int = Field(default=10, ge=1, le=1_000_000)
    unpublished_days: int = Field(default=30, ge=0, le=36_500)
    deleted_days: int = Field(default=7, ge=0, le=36_500)
    apply: bool = False
