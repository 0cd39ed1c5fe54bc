"""Dagster wiring of the audit trail: the ``audit_chain_intact`` check on each product's raw_files, the
``audit_verify`` job that runs it for every product, and its schedule."""

from __future__ import annotations

import dagster as dg

from platform_assets.config import PlatformConfig
from platform_assets.defs.audit.checks import AUDIT_CHECK, build_audit_check
from platform_assets.defs.audit.jobs import AUDIT_JOB, AUDIT_SCHEDULE, build_audit_job, build_audit_schedule

__all__ = ["AUDIT_CHECK", "AUDIT_JOB", "AUDIT_SCHEDULE", "build_audit_defs"]


def build_audit_defs(
    config: PlatformConfig,
) -> tuple[list[dg.AssetChecksDefinition], list[dg.UnresolvedAssetJobDefinition], list[dg.ScheduleDefinition]]:
    """The check over the primary products' raw_files, the job and the schedule (nothing without such products)."""
    products = [product for product in config.products if config.is_primary(product)]
    if not products:
        return [], [], []
    check = build_audit_check(products)
    job = build_audit_job(check)
    return [check], [job], [build_audit_schedule(config, job)]
