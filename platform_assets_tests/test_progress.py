"""Progress of long work: the update's line, throttling, this process's listeners, the CLI's displays (a terminal
gets rich bars, a pipe nothing unless --progress), and a process command's progress in the Dagster run's log."""

from __future__ import annotations

import io
from pathlib import Path

import dagster as dg
import pytest

from platform_assets import cli_progress, secrets
from platform_assets.cli import main
from platform_assets.cli_progress import Bars, shown
from platform_assets.platform import Platform
from platform_assets.progress import BYTES, ProgressTask, ProgressUpdate, Throttled, listening, to_listeners
from platform_assets.versions.reconciliation import ReconcileOptions, reconcile
from platform_assets_tests.conftest import write_csv, write_platform_config


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_update_says_what_is_done_of_how_much_the_rate_and_the_time_left() -> None:
    update = ProgressUpdate("process customers v3", BYTES, 3 << 29, 3 << 30, 10.0, "3/40 files")
    assert update.line() == ("process customers v3: 1.5 GiB of 3.0 GiB (50%), 3/40 files, 153.6 MiB/s, about 10 s left")
    rows = ProgressUpdate("seed replica orders", "rows", 50_000, None, 2.0)
    assert rows.line() == "seed replica orders: 50,000 rows, 25,000.0 rows/s"
    done = ProgressUpdate("merge customers", "versions", 4, 4, 125.0, finished=True)
    assert done.line() == "merge customers: 4 of 4 versions (100%), 0.0 versions/s, done in 2 min 5 s"


def test_a_task_reports_each_change_and_a_rerun_counts_its_rate_from_where_it_started() -> None:
    clock, seen = Clock(), list[ProgressUpdate]()
    task = ProgressTask(seen.append, "process p v1", "files", total=10, done=4, clock=clock)
    clock.now += 2
    task.advance(2, "6/10 files")
    task.finish()
    assert [(update.done, update.finished) for update in seen] == [(6, False), (6, True)]
    assert seen[0].rate == 1.0 and seen[0].remaining == 4.0, "2 files in 2 s; the 4 done before do not count"


def test_throttled_passes_a_tasks_first_and_last_update_and_one_every_few_seconds() -> None:
    clock, seen = Clock(), list[ProgressUpdate]()
    throttled = Throttled(seen.append, 5.0, clock)
    for second in range(12):
        clock.now = 100.0 + second
        throttled(ProgressUpdate("a", "files", second, 12, second))
        throttled(ProgressUpdate("b", "files", second, 12, second))
    throttled(ProgressUpdate("a", "files", 12, 12, 12, finished=True))
    assert [update.done for update in seen if update.task == "a"] == [0, 5, 10, 12]
    assert [update.done for update in seen if update.task == "b"] == [0, 5, 10]


def test_listeners_of_this_process_get_updates_only_while_they_listen() -> None:
    seen: list[ProgressUpdate] = []
    update = ProgressUpdate("t", "files", 1, 2, 1.0)
    with listening(seen.append):
        to_listeners(update)
    to_listeners(update)
    assert seen == [update]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_pipe_shows_nothing_unless_asked_and_a_terminal_shows_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    update = ProgressUpdate("process customers v1", BYTES, 512, 1024, 1.0, "1/2 files")
    pipe = io.StringIO()
    with shown(False, pipe):
        to_listeners(update)
    assert pipe.getvalue() == ""
    with shown(True, pipe):
        to_listeners(update)
        to_listeners(update)  # within PIPE_SECONDS: throttled
    assert pipe.getvalue() == "process customers v1: 512 B of 1.0 KiB (50%), 1/2 files, 512 B/s, about 1 s left\n"

    terminal = Terminal()
    with shown(False, terminal):
        to_listeners(update)
    assert "process customers v1" in terminal.getvalue() and "━" in terminal.getvalue(), "a rich bar"

    # a registered secret (here: the product's name) never shows: every text passes secrets.scrub
    monkeypatch.setattr(cli_progress, "scrub", lambda text: secrets.scrub(text, extra=["customers"]))
    hidden = io.StringIO()
    with shown(True, hidden):
        to_listeners(update)
    assert "customers" not in hidden.getvalue() and "process *** v1" in hidden.getvalue()
    bars = Terminal()
    with Bars(bars) as display:
        display(update)
    assert "customers" not in bars.getvalue()


def test_process_shows_progress_on_a_pipe_only_with_the_flag_and_logs_it_to_the_dagster_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    landing = tmp_path / "landing"
    for index in range(3):
        write_csv(landing / f"p{index}.csv", [(f"{index}", "Ann", "1.00", "2026-01-01")])
    config = write_platform_config(tmp_path, db_url, f"file://{landing}", f"file://{tmp_path}/raw")
    platform = Platform.from_path(config, actor="test")  # captured without a Dagster run: the test is about process
    registered = platform.sync("customers")
    assert registered is not None and platform.capture("customers", registered.number).status == "CAPTURED"
    assert main(["process", "customers", "--config", config]) == 0
    assert "process customers v1" not in capsys.readouterr().err, "a pipe gets nothing without --progress"
    assert main(["process", "customers", "--version", "1", "--config", config, "--progress", "--json"]) == 0
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("process customers v1: ")]
    assert lines and lines[-1].startswith("process customers v1: ") and "3/3 files" in lines[-1]
    assert "done in" in lines[-1] and "process customers" not in captured.out, "stdout holds the JSON only"
    with dg.DagsterInstance.get() as instance:
        runs = [run for run in instance.get_runs() if run.tags.get("platform/command") == "process"]
        logged = [
            entry.user_message
            for run in runs
            for entry in instance.all_logs(run.run_id)
            if entry.user_message.startswith("process customers v1: ")
        ]
    assert main(["merge", "customers", "--config", config, "--progress"]) == 0
    merged = [line for line in capsys.readouterr().err.splitlines() if line.startswith("merge customers: ")]
    assert merged and merged[-1].startswith("merge customers: 1 of 1 versions (100%), v1 done")
    assert len(runs) == 2 and logged and all("of" in line for line in logged)
    assert len(logged) <= 2 * len(runs), "throttled: the first and the last update of each run, not one per file"


def test_a_deep_reconciliation_reports_the_bytes_it_hashed(local_platform: Platform) -> None:
    landing = Path(local_platform.product("customers").source.url.removeprefix("file://"))
    for index in range(4):
        write_csv(landing / f"r{index}.csv", [(f"{index}", "Ann", "1.00", "2026-01-01")])
    registered = local_platform.sync("customers")
    assert registered is not None and local_platform.capture("customers", registered.number).status == "CAPTURED"
    seen: list[ProgressUpdate] = []
    options = ReconcileOptions(deep=True, progress=seen.append)
    report = reconcile(local_platform.services, local_platform.product("customers"), options)
    assert report.ok and report.copies_checked == 4
    total = sum(path.stat().st_size for path in landing.iterdir())
    assert [update.done for update in seen if not update.finished][-1] == total == seen[-1].total
    assert seen[-1].finished and seen[-1].line().startswith("reconcile customers --deep: hashing: ")
