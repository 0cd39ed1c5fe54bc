"""The ``audit_verify`` job and its schedule: every product's ``audit_chain_intact`` check, one walk of the chains.

Contract: the job executes the audit check alone (no asset is materialized),
so the check verifies every chain now and records the result; the schedule
runs it on ``platform.audit.cron`` (UTC, daily by default), running by default
unless ``platform.audit.enabled`` is false.
"""

from __future__ import annotations

import dagster as dg

from platform_assets.config import PlatformConfig

AUDIT_JOB = "audit_verify"
AUDIT_SCHEDULE = "audit_verify_schedule"


def build_audit_job(check: dg.AssetChecksDefinition) -> dg.UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        AUDIT_JOB,
        selection=dg.AssetSelection.checks(check),
        description="Verify the audit trail's hash chains (every product's and the platform's); "
        "each product's audit_chain_intact check reports its own chain and the platform's.",
        tags={"platform/action": "audit_verify"},
    )


def build_audit_schedule(config: PlatformConfig, job: dg.UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    settings = config.platform.audit
    return dg.ScheduleDefinition(
        name=AUDIT_SCHEDULE,
        job=job,
        cron_schedule=settings.cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING if settings.enabled else dg.DefaultScheduleStatus.STOPPED,
        description="Runs audit_verify: walks the audit trail's hash chains and records the result.",
    )
