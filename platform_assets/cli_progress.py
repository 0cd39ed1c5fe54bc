"""Progress on the command line: rich bars on a terminal, plain lines on a pipe with ``--progress``, else nothing.

Contract (:func:`shown`):
- stderr is a terminal: a rich progress display (one bar per task: what is
  done of how much, the rate, the time left) on stderr, left on screen when the
  command ends.
- stderr is not a terminal (a pipe, a file): nothing, unless ``--progress``;
  then one line per task every :data:`PIPE_SECONDS` (and its first and last),
  in the form of :meth:`~platform_assets.progress.ProgressUpdate.line`, the
  same as the Dagster run's log.
- Where the updates come from: the command's Dagster runs execute in this
  process (``commands.py``), and their steps hand every update to this
  process's listeners (``defs/progress.py``); the display listens while the
  command runs. stdout (``--json``) never carries progress.
- Secrets: everything shown passes :func:`platform_assets.secrets.scrub`.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn

from platform_assets.progress import ProgressUpdate, Throttled, listening
from platform_assets.secrets import scrub

PIPE_SECONDS = 2.0


@contextmanager
def shown(requested: bool, stream: TextIO | None = None) -> Iterator[None]:
    """Show the progress of the work the block does on ``stream`` (default: stderr), as the module says."""
    target = stream if stream is not None else sys.stderr
    if _is_terminal(target):
        bars = Bars(target)
        with bars, listening(bars):
            yield
    elif requested:
        with listening(Throttled(Lines(target), PIPE_SECONDS)):
            yield
    else:
        yield


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class Lines:
    """Writes each update as one line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, update: ProgressUpdate) -> None:
        with self._lock:
            self._stream.write(scrub(update.line()) + "\n")
            self._stream.flush()


class Bars:
    """A rich progress display: one bar per task; a context manager that starts and stops it."""

    def __init__(self, stream: TextIO) -> None:
        console = Console(file=stream, force_terminal=True)
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[amount]}"),
            TimeRemainingColumn(),
            console=console,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._tasks: dict[str, TaskID] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Bars:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, update: ProgressUpdate) -> None:
        amount = scrub(_amount(update))
        with self._lock:
            task = self._tasks.get(update.task)
            if task is None:
                task = self._progress.add_task(scrub(update.task), total=update.total, amount=amount)
                self._tasks[update.task] = task
            self._progress.update(task, completed=update.done, total=update.total, amount=amount)


def _amount(update: ProgressUpdate) -> str:
    """``1.2 GiB of 3.0 GiB, 3/40 files, 85.0 MiB/s``: the line's figures without the task and the time left."""
    rate = update.rate
    parts = [update.done_of_total(), update.detail] + (
        [update.amount(rate, per_second=True)] if rate is not None else []
    )
    return ", ".join(part for part in parts if part)
