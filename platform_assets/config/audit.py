"""The platform's ``audit:``: when the scheduled verification of the audit trail's hash chains runs.

```yaml
platform:
  audit: {cron: "30 2 * * *", enabled: true}
```
"""

from __future__ import annotations

from pydantic import field_validator

from platform_assets.config.base import Strict
from platform_assets.config.reconcile import check_cron


class AuditSettings(Strict):
    """``audit:``: ``cron`` (UTC, five fields, default daily at 02:30) of the ``audit_verify`` job, and
    ``enabled`` (whether its schedule runs by default)."""

    cron: str = "30 2 * * *"
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)
