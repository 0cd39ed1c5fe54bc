"""Retention in Dagster: the ``<product>_retention`` job and its daily schedule.

See :mod:`platform_assets.defs.retention.jobs` for the contract.
"""

from platform_assets.defs.retention.jobs import (
    build_retention_defs,
    retention_job_name,
    retention_op_name,
    retention_schedule_name,
)

__all__ = ["build_retention_defs", "retention_job_name", "retention_op_name", "retention_schedule_name"]
