"""Nothing handed to Dagster holds a secret: failures, descriptions, metadata, the step's log and its compute logs."""

from __future__ import annotations

import dataclasses
import logging
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from platform_assets.commands import add_version_partitions
from platform_assets.config import load_config
from platform_assets.defs.builder import build_definitions
from platform_assets.defs.ingest import assets as ingest_assets
from platform_assets.errors import UserError
from platform_assets.ingest.capture import CaptureResult, capture_version
from platform_assets.platform import Platform
from platform_assets_tests.secret_support import files_under, hits, hits_in_files, write_secret_config


@pytest.fixture
def secret_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, dg.Definitions, Path]:
    """A product whose platform.yaml holds a hostile secret (from the environment), a DAGSTER_HOME on disk."""
    path, secret = write_secret_config(tmp_path, monkeypatch, "dg", "AKIDDG")
    home = tmp_path / "dagster_home"
    home.mkdir()
    assert Platform(load_config(path)).sync("customers") is not None
    return path, secret, build_definitions(load_config(path), path), home


def _capture(defs: dg.Definitions) -> tuple[dg.ExecuteInProcessResult, list[dg.EventLogEntry]]:
    with dg.DagsterInstance.get() as instance:
        add_version_partitions(instance, "customers", [1])
        result = defs.resolve_job_def("customers_capture").execute_in_process(
            instance=instance, partition_key="v1", raise_on_error=False
        )
        return result, list(instance.all_logs(result.run_id))


def _leaks(home: Path, entries: list[dg.EventLogEntry], secret: str) -> list[str]:
    stored = "\n".join(dg.serialize_value(entry) for entry in entries)
    return hits(stored.encode(), {"secret": secret}) + hits_in_files(home, {"secret": secret})


def test_an_error_raised_inside_a_step_reaches_dagster_scrubbed(
    secret_setup: tuple[str, str, dg.Definitions, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, secret, defs, home = secret_setup

    def leaky_capture(*args: Any) -> CaptureResult:
        print(f"stdout: connecting with {secret}")
        print(f"stderr: connecting with {secret}", file=sys.stderr)
        logging.getLogger("platform_assets.storage").warning("library log: %s", secret)
        dg.AssetExecutionContext.get().log.warning(f"context log: {secret}")  # goes to the run's event log
        raise RuntimeError(f"driver error: password {secret!r} refused")

    monkeypatch.setattr(ingest_assets, "capture_version", leaky_capture)
    result, entries = _capture(defs)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert failure is not None and "driver error: password '***' refused" in failure.to_string()
    assert "RuntimeError" in failure.to_string(), "the stand-in names the original's type"
    compute_logs = [path for path in files_under(home) if path.suffix in (".out", ".err")]
    assert compute_logs and any(b"connecting with ***" in path.read_bytes() for path in compute_logs)
    assert any(entry.user_message.endswith("context log: ***") for entry in entries)
    assert _leaks(home, entries, secret) == []


def test_a_platform_error_and_the_metadata_reach_dagster_scrubbed(
    secret_setup: tuple[str, str, dg.Definitions, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, secret, defs, home = secret_setup

    def failing_files(*args: Any) -> CaptureResult:
        result = capture_version(*args)
        return dataclasses.replace(result, failed={"a.csv": f"copy failed for key:{secret}@bucket"})

    monkeypatch.setattr(ingest_assets, "capture_version", failing_files)
    result, entries = _capture(defs)
    capture_failed = result.get_step_failure_events()[0].step_failure_data.user_failure_data
    assert capture_failed is not None, "a version whose files failed to copy fails its run"
    assert "a.csv: copy failed for key:***@bucket" in str(capture_failed.description)
    assert "copy failed for key:***@bucket" in str(capture_failed.metadata["failed_files"].value)
    reported = capture_failed.metadata["platform/result"].value
    assert isinstance(reported, dict) and reported["failed"] == {"a.csv": "copy failed for key:***@bucket"}

    def refused(*args: Any) -> CaptureResult:
        raise UserError(f"the raw zone refused the key {secret}")

    monkeypatch.setattr(ingest_assets, "capture_version", refused)
    failed, more = _capture(defs)
    failure = failed.get_step_failure_events()[0].step_failure_data
    assert failure.user_failure_data is not None
    assert failure.user_failure_data.description == "the raw zone refused the key ***"
    assert _leaks(home, entries + more, secret) == []
