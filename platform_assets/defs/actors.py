"""Who a Dagster run acts for: the actor its catalog events record.

Contract (:func:`run_actor`, first match wins):
- the user Dagster reports for the run (tag ``user``: Dagster+ sets it to the launching user's email);
- the ``platform/actor`` tag the ``platform-assets`` command sets to ``$PLATFORM_ACTOR`` / the OS user;
- ``sensor:<name>`` for a run a sensor started (the automation sensor included), ``schedule:<name>``
  for a scheduled one;
- else ``dagster``: a run launched from the UI without a reported user.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

ACTOR_TAG = "platform/actor"
DAGSTER_USER_TAG = "user"
SENSOR_TAG = "dagster/sensor_name"
SCHEDULE_TAG = "dagster/schedule_name"
AUTOMATION_TAG = "dagster/from_automation_condition"
UNKNOWN_ACTOR = "dagster"


def reported_user(tags: Mapping[str, str]) -> str | None:
    """The user Dagster reports for the run, if any."""
    return tags.get(DAGSTER_USER_TAG) or None


def run_actor(tags: Mapping[str, str]) -> str:
    """The actor of a run with ``tags`` (see the module contract)."""
    if reported_user(tags):
        return tags[DAGSTER_USER_TAG]
    if tags.get(ACTOR_TAG):
        return tags[ACTOR_TAG]
    if tags.get(SENSOR_TAG):
        return f"sensor:{tags[SENSOR_TAG]}"
    if tags.get(AUTOMATION_TAG):
        return "sensor:automation"
    if tags.get(SCHEDULE_TAG):
        return f"schedule:{tags[SCHEDULE_TAG]}"
    return UNKNOWN_ACTOR


def context_actor(context: dg.OpExecutionContext | dg.AssetExecutionContext) -> str:
    return run_actor(context.run.tags)
