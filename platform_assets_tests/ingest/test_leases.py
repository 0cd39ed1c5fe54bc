"""Leases after a crash: a dead holder's files are taken over at once; a live, distant holder is named."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from platform_assets.catalog import Catalog
from platform_assets.catalog import service as catalog_service
from platform_assets.catalog.db import transaction
from platform_assets.catalog.errors import CannotSkip
from platform_assets.catalog.models import AuditEvent, RawFile, Worker, utc_now
from platform_assets.catalog.processes import ProcessIdentity, is_gone, process_identity, this_process
from platform_assets.catalog.records import ClaimPolicy
from platform_assets.cli import main
from platform_assets.failpoints import EXIT_CODE
from platform_assets.ingest.leases import held_advice
from platform_assets.platform import Platform
from platform_assets_tests.ingest.test_processing import capture, customer_rows, file_states, make_platform, table_rows

LONG_LEASES: dict[str, Any] = {
    "processing": {
        "lease_seconds": 300,
        "retry_backoff_seconds": 0,
        "max_retries": 2,
        "claim_batch_size": 16,
        "claim_batch_bytes": 0,  # batches of 16 however small the files: the tests share work among workers
        "snapshot_retention_seconds": 300,
    }
}
"""Leases far longer than a test: a rerun that finishes did not wait for one to run out."""

REPO = Path(__file__).resolve().parents[2]


def config_path(platform: Platform) -> str:
    assert platform.config.source_path is not None, "make_platform loads the config from a file"
    return platform.config.source_path


def _platform_with_40_files(tmp_path: Path, db_url: str) -> tuple[Platform, int]:
    platform = make_platform(tmp_path, db_url, **LONG_LEASES)
    version = capture(platform, {f"f{index:02d}.csv": customer_rows(index * 3, 3) for index in range(40)})
    return platform, version


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def _claims(platform: Platform) -> list[dict]:
    with transaction(platform.catalog.engine) as session:
        query = select(AuditEvent.change).where(AuditEvent.action == "files_claimed").order_by(AuditEvent.id)
        return list(session.scalars(query))


def _assert_every_row_once(platform: Platform, version: int) -> None:
    rows = table_rows(platform, version)
    assert rows.num_rows == 120
    assert Counter(Counter(rows["_source_file"].to_pylist()).values()) == {3: 40}, "each file's rows exactly once"
    assert len(set(rows["id"].to_pylist())) == 120


def test_rerun_right_after_a_crash_after_the_iceberg_commit_finishes(tmp_path: Path, db_url: str) -> None:
    platform, version = _platform_with_40_files(tmp_path, db_url)
    code = (
        "from platform_assets.platform import Platform\n"
        f"Platform.from_path({platform.config.source_path!r}).process('customers', {version}, worker='crasher')\n"
    )
    crashed = subprocess.run(
        _python(code),
        env=_environment(PLATFORM_FAILPOINTS="process.after_iceberg_commit=2"),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert crashed.returncode == EXIT_CODE, crashed.stderr
    states = Counter(status for status, _ in file_states(platform, version).values())
    assert states == {"PROCESSED": 16, "PROCESSING": 16, "CAPTURED": 8}, "the dead worker still holds 16 leases"

    report = platform.process("customers", version, worker="rerun")

    assert report.version_status == "PROCESSED", report
    assert report.files_recovered == 16 and report.files_processed == 24
    assert report.held_by == []
    _assert_every_row_once(platform, version)
    reclaimed = [claim for claim in _claims(platform) if claim.get("reclaimed_from_gone_workers")]
    assert len(reclaimed) == 1 and reclaimed[0]["worker"] == "rerun"
    taken = reclaimed[0]["reclaimed_from_gone_workers"]["crasher"]
    assert len(taken["keys"]) == 16 and "is gone" in taken["reason"]
    assert reclaimed[0]["reclaimed_from_expired_leases"] == [], "no lease had run out: the holder was found dead"


SLOW_WORKER = """
import sys, time
from platform_assets.ingest import processing
from platform_assets.platform import Platform

original = processing._Batch.process

def process_then_hang(self, claimed, report):
    outcomes = original(self, claimed, report)
    print("committed", flush=True)
    time.sleep(600)
    return outcomes

processing._Batch.process = process_then_hang
Platform.from_path(sys.argv[1]).process("customers", int(sys.argv[2]), worker="victim")
"""


def test_rerun_right_after_kill_9_of_a_worker_finishes(tmp_path: Path, db_url: str) -> None:
    platform, version = _platform_with_40_files(tmp_path, db_url)
    worker = subprocess.Popen(
        [sys.executable, "-c", SLOW_WORKER, config_path(platform), str(version)],
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None
        line = worker.stdout.readline()
        assert line.strip() == "committed", worker.stderr.read() if worker.stderr else line
    finally:
        worker.kill()  # SIGKILL: no cleanup of any kind
        worker.wait(timeout=30)
    assert Counter(status for status, _ in file_states(platform, version).values()) == {
        "PROCESSING": 16,
        "CAPTURED": 24,
    }, "its first batch is in Iceberg, not yet in the catalog"

    report = platform.process("customers", version, worker="rerun")

    assert report.version_status == "PROCESSED" and report.files_recovered == 16
    _assert_every_row_once(platform, version)


FAR_AWAY = ProcessIdentity("far-away", 4242, "pid:[1]", "boot:1", None)


def test_a_live_distant_holder_is_waited_for_and_named(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    platform, version = _platform_with_40_files(tmp_path, db_url)
    catalog = platform.catalog
    with monkeypatch.context() as patched:
        patched.setattr(catalog_service, "this_process", lambda: FAR_AWAY)
        holder = catalog.worker("W")
        holder.__enter__()  # registered as a process on another host; on PostgreSQL it holds its lock
    try:
        held = catalog.claim_files("customers", version, "W", ClaimPolicy(16, 300, 2, 0))
        assert len(held) == 16

        report = platform.process("customers", version, worker="other")

        assert report.version_status == "PROCESSING" and report.files_processed == 24
        assert [(h.worker, h.files, h.host, h.pid) for h in report.held_by] == [("W", 16, "far-away", 4242)]
        advice = held_advice("customers", version, report.held_by)
        until = f"{report.held_by[0].until:%H:%M:%S} UTC"
        assert advice == [
            f"16 files of v{version} are held by worker W (pid 4242 on host far-away) until {until}; wait for it, "
            f"or stop it and run `platform-assets process customers --version {version}` again: its files are taken "
            f"over as soon as it is gone, at the latest at {until}"
        ]
        assert "skip" not in advice[0]
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
        code = main(["process", "customers", "--version", str(version), "--config", config_path(platform)])
        printed = capsys.readouterr().out
        assert code == 1 and advice[0] in printed and "skip" not in printed, printed
        with transaction(catalog.engine) as session:
            owners = Counter(session.scalars(select(RawFile.lease_owner).where(RawFile.status == "PROCESSING")))
        assert owners == {"W": 16}, "nobody took the live holder's files"
    finally:
        holder.__exit__(None, None, None)
    with transaction(catalog.engine) as session:
        stopped = session.scalar(select(Worker.stop_reason).where(Worker.name == "W"))
    assert stopped == "finished"
    report = platform.process("customers", version, worker="after")
    assert report.version_status == "PROCESSED", "a worker that stopped leaves its files to the others at once"


def test_a_process_is_called_gone_only_with_proof() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        running = process_identity(child.pid)
        assert running.token and not is_gone(running)
        assert is_gone(dataclasses.replace(running, token="another-boot:1")), "its pid now names another process"
        assert not is_gone(dataclasses.replace(running, host="far-away")), "elsewhere: no proof either way"
        assert not is_gone(this_process())
    finally:
        child.kill()
    deadline = time.monotonic() + 10
    while not is_gone(running):  # the signal is delivered asynchronously
        assert time.monotonic() < deadline, "killed, not yet reaped (a zombie): gone"
        time.sleep(0.01)
    child.wait()
    assert is_gone(running)
    assert not is_gone(dataclasses.replace(running, pid_namespace="pid:[other]")), "another pid namespace: no proof"


def test_skip_takes_a_file_from_a_dead_holder_and_names_a_live_one(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform, version = _platform_with_40_files(tmp_path, db_url)
    catalog = platform.catalog
    ended = subprocess.Popen(["true"])
    ended.wait()
    dead = dataclasses.replace(this_process(), pid=ended.pid, token="ended:1")
    holders = []
    for name, identity in (("W", FAR_AWAY), ("ghost", dead)):  # a dead holder's file would go to the next claim
        with monkeypatch.context() as patched:
            patched.setattr(catalog_service, "this_process", lambda identity=identity: identity)
            holders.append(catalog.worker(name))
            holders[-1].__enter__()
        assert len(catalog.claim_files("customers", version, name, ClaimPolicy(1, 300, 2, 0))) == 1
    try:
        assert platform.skip("customers", version, "f01.csv", "lost with its worker") == "PROCESSING"
        with pytest.raises(CannotSkip, match=r"f00.csv.* worker W \(pid 4242 on host far-away\) until .* UTC; wait"):
            platform.skip("customers", version, "f00.csv", "too early")
    finally:
        for holder in holders:
            holder.__exit__(None, None, None)


DISTANT_WORKER = """
import sys, time
from platform_assets.catalog import service
from platform_assets.catalog.processes import ProcessIdentity
from platform_assets.catalog.records import ClaimPolicy
from platform_assets.platform import Platform

service.this_process = lambda: ProcessIdentity("far-away", 4242, "pid:[1]", "boot:1", None)
catalog = Platform.from_path(sys.argv[1]).catalog
with catalog.worker("distant"):
    catalog.claim_files("customers", int(sys.argv[2]), "distant", ClaimPolicy(16, 300, 2, 0))
    print("holding", flush=True)
    time.sleep(600)
"""


def test_a_dead_holder_on_another_host_is_known_by_its_free_advisory_lock(tmp_path: Path, db_url: str) -> None:
    platform, version = _platform_with_40_files(tmp_path, db_url)
    holder = subprocess.Popen(
        [sys.executable, "-c", DISTANT_WORKER, config_path(platform), str(version)],
        env=_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        assert line.strip() == "holding", holder.stderr.read() if holder.stderr else line
    finally:
        holder.kill()
        holder.wait(timeout=30)

    report = platform.process("customers", version, worker="rerun")

    if db_url.startswith("sqlite"):  # no proof it died: its files wait for their lease, and it is named
        assert report.version_status == "PROCESSING" and report.files_processed == 24
        assert [(h.worker, h.files, h.host, h.pid) for h in report.held_by] == [("distant", 16, "far-away", 4242)]
        return
    assert report.version_status == "PROCESSED" and report.files_processed == 40, "its session ended: lock free"
    _assert_every_row_once(platform, version)
    reclaimed = [claim for claim in _claims(platform) if claim.get("reclaimed_from_gone_workers")]
    assert "session lock" in reclaimed[0]["reclaimed_from_gone_workers"]["distant"]["reason"]


def test_rows_of_workers_stopped_long_ago_are_pruned(db_url: str) -> None:
    catalog = Catalog(db_url)
    for name in ("old", "recent"):
        with catalog.worker(name):
            pass
    with transaction(catalog.engine) as session:
        session.execute(update(Worker).where(Worker.name == "old").values(stopped_at=utc_now() - timedelta(days=2)))
    with catalog.worker("new"):
        with transaction(catalog.engine) as session:
            assert set(session.scalars(select(Worker.name))) == {"recent", "new"}
