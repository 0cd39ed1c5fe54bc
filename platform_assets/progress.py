"""Progress of long work, reported by domain code without Dagster.

Contract:
- Domain code (processing, a replica's seed, reconciliation, a command's
  merges) reports through a :data:`Progress`: a callable taking a
  :class:`ProgressUpdate`. It holds a :class:`ProgressTask`, which stamps the
  start and counts; updates may come as often as the work allows (every batch,
  every piece of a large file): receivers throttle (:class:`Throttled`).
  :data:`NO_PROGRESS` drops everything.
- :meth:`ProgressUpdate.line` is the one text form of an update (the Dagster
  run's log, a piped ``--progress``): what is done of how much, the rate and
  the time left when the total is known.
- Listeners of this process (:func:`listening`): a command runs its Dagster
  runs in its own process (``commands.py``), so its renderer listens here and
  ``defs/`` forwards every update of a run's steps to :func:`to_listeners`.
  A run launched elsewhere (the UI, the daemon) has no listener: its progress
  is in its log only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

BYTES = "bytes"
_BYTE_UNITS = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))


@dataclass(frozen=True)
class ProgressUpdate:
    """Where one task stands: ``done`` of ``total`` (None: unknown) ``unit`` after ``elapsed`` seconds.

    ``detail`` is a short second measure ("3/40 files"); ``finished`` marks the task's last update;
    ``start_done`` is what was done before the task started (a rerun's): the rate counts the rest only.
    """

    task: str
    unit: str
    done: int
    total: int | None
    elapsed: float
    detail: str = ""
    finished: bool = False
    start_done: int = 0

    @property
    def rate(self) -> float | None:
        """Units per second so far (None before any time passed)."""
        return (self.done - self.start_done) / self.elapsed if self.elapsed > 0 else None

    @property
    def remaining(self) -> float | None:
        """Seconds left at the rate so far (None without a total or a rate)."""
        rate = self.rate
        if self.total is None or not rate:
            return None
        return max(0.0, (self.total - self.done) / rate)

    def line(self) -> str:
        """``process customers v3: 1.2 GiB of 3.0 GiB (40%), 3/40 files, 85.0 MiB/s, about 21 s left``."""
        parts = [f"{self.task}: {self.done_of_total()}"]
        if self.total:
            parts[0] += f" ({self.done / self.total:.0%})"
        if self.detail:
            parts.append(self.detail)
        rate = self.rate
        if rate is not None:
            parts.append(f"{self.amount(rate, per_second=True)}")
        if self.finished:
            parts.append(f"done in {duration(self.elapsed)}")
        elif self.remaining is not None:
            parts.append(f"about {duration(self.remaining)} left")
        return ", ".join(parts)

    def done_of_total(self) -> str:
        """``1.5 GiB of 3.0 GiB``, ``3 of 40 files``, ``50,000 rows`` (no total)."""
        if self.total is None:
            return self.amount(self.done)
        if self.unit == BYTES:
            return f"{self.amount(self.done)} of {self.amount(self.total)}"
        return f"{self.done:,} of {self.amount(self.total)}"

    def amount(self, value: float, per_second: bool = False) -> str:
        """``value`` in the task's unit: bytes in KiB/MiB/GiB, others as counts."""
        suffix = "/s" if per_second else ""
        if self.unit == BYTES:
            for size, name in _BYTE_UNITS:
                if value >= size:
                    return f"{value / size:.1f} {name}{suffix}"
            return f"{value:.0f} B{suffix}"
        shown = f"{value:,.1f}" if per_second else f"{int(value):,}"
        return f"{shown} {self.unit}{suffix}"


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 5 s``, ``2 h 4 min``."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


Progress = Callable[[ProgressUpdate], None]


def NO_PROGRESS(update: ProgressUpdate) -> None:  # noqa: N802 (a constant that is a function)
    """Drops the update."""


class ProgressTask:
    """One task's counter: reports ``done`` of ``total`` to ``progress`` on each change."""

    def __init__(
        self,
        progress: Progress | None,
        task: str,
        unit: str,
        total: int | None,
        done: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._progress = progress or NO_PROGRESS
        self._task, self._unit, self._total = task, unit, total
        self._done = done
        self._clock = clock
        self._started = clock()
        self._start_done = done
        self.detail = ""

    @property
    def done(self) -> int:
        return self._done

    def update(self, done: int, detail: str | None = None) -> None:
        """Set what is done (and the detail) and report it."""
        self._done = done
        if detail is not None:
            self.detail = detail
        self._report(finished=False)

    def advance(self, count: int, detail: str | None = None) -> None:
        self.update(self._done + count, detail)

    def finish(self, detail: str | None = None) -> None:
        """Report the last update (``finished``)."""
        if detail is not None:
            self.detail = detail
        self._report(finished=True)

    def _report(self, finished: bool) -> None:
        elapsed = self._clock() - self._started
        self._progress(
            ProgressUpdate(
                self._task, self._unit, self._done, self._total, elapsed, self.detail, finished, self._start_done
            )
        )


class Throttled:
    """Passes an update to ``target`` when ``seconds`` passed since the task's last one passed; a task's first
    and finished updates always pass."""

    def __init__(self, target: Progress, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._target, self._seconds, self._clock = target, seconds, clock
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, update: ProgressUpdate) -> None:
        now = self._clock()
        with self._lock:
            last = self._last.get(update.task)
            if not update.finished and last is not None and now - last < self._seconds:
                return
            self._last[update.task] = now
        self._target(update)


_listeners: list[Progress] = []
_listeners_lock = threading.Lock()


@contextmanager
def listening(listener: Progress) -> Iterator[None]:
    """Send the updates :func:`to_listeners` gets in this process to ``listener`` while the block runs."""
    with _listeners_lock:
        _listeners.append(listener)
    try:
        yield
    finally:
        with _listeners_lock:
            _listeners.remove(listener)


def to_listeners(update: ProgressUpdate) -> None:
    """Hand ``update`` to every listener of this process (see :func:`listening`)."""
    with _listeners_lock:
        current = list(_listeners)
    for listener in current:
        listener(update)
