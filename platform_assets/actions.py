"""What a user can do about a version, said the same way everywhere: the UI's action and the command.

Contract: every message that tells a user to act names both ways to do it,
the Dagster UI's (a job to launch on a partition, an asset partition to
materialize, a sensor) and the command line's. The recovery jobs' names are
defined here, so a message and ``defs/recovery.py`` cannot disagree.
"""

from __future__ import annotations


def exclude_job_name(product: str) -> str:
    return f"{product}_exclude_version"


def skip_job_name(product: str) -> str:
    return f"{product}_skip_file"


def retry_job_name(product: str) -> str:
    return f"{product}_retry_failed"


def exclude_action(product: str, version: int) -> str:
    """``exclude it`` in the UI and on the command line."""
    return (
        f"exclude it (launch the job {exclude_job_name(product)} on partition v{version} with a reason, or "
        f"`platform-assets exclude {product} {version} --reason TEXT`)"
    )


def retry_action(product: str, version: int) -> str:
    """``retry its failed files`` in the UI and on the command line."""
    return (
        f"retry its failed files (launch the job {retry_job_name(product)} on partition v{version}, or "
        f"`platform-assets process {product} --version {version} --retry-failed`)"
    )


def skip_action(product: str, version: int) -> str:
    """``give a file up`` in the UI and on the command line."""
    return (
        f"give a file up (launch the job {skip_job_name(product)} on partition v{version} with its key and a reason, "
        f"or `platform-assets skip {product} {version} KEY --reason TEXT`)"
    )


def process_action(product: str, version: int) -> str:
    """``process version N`` in the UI and on the command line."""
    return (
        f"process v{version} (materialize {product}/staged partition v{version}, or "
        f"`platform-assets process {product} --version {version}`)"
    )


def sync_action(product: str) -> str:
    """``capture a new version`` in the UI and on the command line."""
    return f"sync (the {product}_discovery sensor, or `platform-assets sync {product}`)"


def reason_required(what: str) -> str:
    """The message of an action given no reason."""
    return f"a reason is required: say why {what} (reason in the job's run config, or --reason TEXT)"
