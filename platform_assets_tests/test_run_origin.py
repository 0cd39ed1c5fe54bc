"""Runs of the CLI belong to the code location: the UI lists them under the job and re-executes them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.cli import main
from platform_assets.commands import dagster_instance
from platform_assets.defs.location import CODE_LOCATION
from platform_assets_tests.conftest import write_csv, write_platform_config

REPO = Path(__file__).resolve().parents[1]

# The code location as `dagster dev` loads it from workspace.yaml (in process here), asked through the UI's GraphQL.
UI_VIEW = """
import json, sys
from dagster import DagsterInstance
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster_graphql.test.utils import execute_dagster_graphql

QUERY = '''
query JobRuns($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    __typename
    ... on Pipeline { pipelineSnapshotId runs { runId pipelineSnapshotId repositoryOrigin { repositoryLocationName } } }
  }
}
'''
instance = DagsterInstance.get()
with WorkspaceProcessContext(instance, WorkspaceFileTarget([sys.argv[1]])) as process_context:
    context = process_context.create_request_context()
    selector = {"repositoryLocationName": sys.argv[2], "repositoryName": "__repository__", "pipelineName": sys.argv[3]}
    result = execute_dagster_graphql(context, QUERY, {"selector": selector})
    print("VIEW", json.dumps(result.data["pipelineOrError"]) if result.data else result.errors, flush=True)
"""


def _ui_view_of_job(config: str, home: Path, job: str) -> dict:
    env = {**os.environ, "DAGSTER_HOME": str(home), "PLATFORM_CONFIG": config}
    done = subprocess.run(
        [sys.executable, "-c", UI_VIEW, str(REPO / "workspace.yaml"), CODE_LOCATION, job],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stdout.splitlines() if line.startswith("VIEW ")]
    return json.loads(line.removeprefix("VIEW "))


def test_cli_runs_are_runs_of_the_code_locations_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    landing = tmp_path / "landing"
    write_csv(landing / "a.csv", [("1", "Ann", "1.00", "2026-01-01")])
    config = write_platform_config(
        tmp_path, f"sqlite:///{tmp_path}/state.db", f"file://{landing}", f"file://{tmp_path}/raw"
    )
    assert main(["run", "customers", "--config", config, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["merged"] == [1]

    instance = dagster_instance()
    runs = {run.job_name: run for run in instance.get_runs()}
    assert sorted(runs) == ["customers_capture", "customers_merge", "customers_process"]
    for name, run in runs.items():
        assert run.status is dg.DagsterRunStatus.SUCCESS
        assert run.remote_job_origin is not None, f"{name} ran without a code-location origin"
        assert run.remote_job_origin.location_name == CODE_LOCATION
        assert run.remote_job_origin.job_name == name
        assert run.tags["dagster/partition"] == "v1"
        assert run.job_code_origin is not None, "its code origin rebuilds the job"
    instance.dispose()

    seen = _ui_view_of_job(config, home, "customers_process")
    assert seen["__typename"] == "Pipeline"
    assert [run["runId"] for run in seen["runs"]] == [runs["customers_process"].run_id], "listed on the job's page"
    assert seen["runs"][0]["repositoryOrigin"]["repositoryLocationName"] == CODE_LOCATION
    assert seen["runs"][0]["pipelineSnapshotId"] == seen["pipelineSnapshotId"], (
        "the same job snapshot as the code location's: Re-execute does not warn about another version"
    )


def test_a_failing_cli_run_keeps_its_exit_code_and_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    landing = tmp_path / "landing"
    write_csv(landing / "a.csv", [("1", "Ann", "not a number", "2026-01-01")])
    config = write_platform_config(
        tmp_path, f"sqlite:///{tmp_path}/state.db", f"file://{landing}", f"file://{tmp_path}/raw"
    )
    assert main(["sync", "customers", "--config", config]) == 0
    capsys.readouterr()
    code = main(["process", "customers", "--config", config, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code != 0, out
    instance = dagster_instance()
    (run,) = instance.get_runs(filters=dg.RunsFilter(job_name="customers_process"))
    assert run.status is dg.DagsterRunStatus.FAILURE
    assert run.remote_job_origin is not None and run.remote_job_origin.location_name == CODE_LOCATION
    instance.dispose()
