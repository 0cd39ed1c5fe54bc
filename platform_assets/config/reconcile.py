"""A product's ``reconcile:``: when the scheduled reconciliation of its raw zone runs, and how deep it looks.

```yaml
reconcile: {cron: "0 3 * * *", deep: false, repair: false, enabled: true}
```
"""

from __future__ import annotations

import re

from pydantic import field_validator

from platform_assets.config.base import Strict

CRON_ALIASES = frozenset({"@hourly", "@daily", "@weekly", "@monthly"})
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_ITEM = re.compile(r"^(\*|(\d+)(?:-(\d+))?)(?:/(\d+))?$")


class ReconcileSettings(Strict):
    """``reconcile:``: ``cron`` (UTC, five fields, default daily at 03:00), ``deep`` (also hash every raw copy
    against its sha256), ``repair`` (the scheduled run repairs what it finds, as ``--repair`` does) and
    ``enabled`` (whether the schedule runs by default)."""

    cron: str = "0 3 * * *"
    deep: bool = False
    repair: bool = False
    enabled: bool = True

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)


def check_cron(value: str) -> str:
    """``value`` when it is a five-field cron expression of numbers, ``*``, ranges, lists and steps (or an alias
    such as ``@daily``); ValueError naming the field otherwise."""
    if value in CRON_ALIASES:
        return value
    fields = value.split()
    if len(fields) != len(_CRON_FIELDS):
        raise ValueError(
            f"cron {value!r} must have five fields (minute hour day-of-month month day-of-week), like '0 3 * * *', "
            f"or be one of {', '.join(sorted(CRON_ALIASES))}"
        )
    for text, (name, low, high) in zip(fields, _CRON_FIELDS, strict=True):
        for item in text.split(","):
            match = _ITEM.match(item)
            numbers = [int(group) for group in match.groups()[1:3] if group is not None] if match else []
            step = match.group(4) if match else None
            if match is None or any(not low <= number <= high for number in numbers) or step == "0":
                raise ValueError(
                    f"cron {value!r}: the {name} field {text!r} is not valid; use numbers from {low} to {high}, '*', "
                    "ranges (a-b), lists (a,b) and steps (*/n)"
                )
    return value
