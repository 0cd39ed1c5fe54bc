"""Reconciliation in Dagster: the check ``raw_zone_reconciled`` on ``<product>/raw_files``, its job and schedule.

See :mod:`platform_assets.defs.reconcile.checks` for the contract.
"""

from platform_assets.defs.reconcile.checks import (
    RECONCILED_CHECK,
    build_reconcile_defs,
    reconcile_job_name,
    reconcile_op_name,
    reconcile_schedule_name,
)

__all__ = [
    "RECONCILED_CHECK",
    "build_reconcile_defs",
    "reconcile_job_name",
    "reconcile_op_name",
    "reconcile_schedule_name",
]
