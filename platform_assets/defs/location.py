"""The code location the UI loads, named so runs started elsewhere (the CLI) are attributed to its jobs.

Contract: ``workspace.yaml`` and ``pyproject.toml`` (``[tool.dagster]``) load
:data:`DEFINITIONS_MODULE` as the code location :data:`CODE_LOCATION`; a run
whose remote origin is :func:`remote_job_origin` is listed on that location's
job page and re-executes from it (the UI matches runs to a job by the label
``__repository__@<location>``).
"""

from __future__ import annotations

import os
import sys

from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

CODE_LOCATION = "platform_assets"
DEFINITIONS_MODULE = "platform_assets.definitions"


def remote_job_origin(job_name: str) -> RemoteJobOrigin:
    """The origin the code location :data:`CODE_LOCATION` gives its job ``job_name``."""
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(
            executable_path=sys.executable, module_name=DEFINITIONS_MODULE, working_directory=os.getcwd()
        ),
        location_name=CODE_LOCATION,
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, SINGLETON_REPOSITORY_NAME), job_name)
