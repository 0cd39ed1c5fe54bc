"""Which OS process a worker is, and whether that process is provably gone.

Contract:
- :func:`this_process` names the running process: host name, pid, the pid
  namespace it lives in and a token of its start (boot id and start time in
  clock ticks, from ``/proc`` on Linux; empty where the platform has none).
- :func:`is_gone` is true only with proof: the process ran on this host in
  this pid namespace, and no process has its pid now, or the one that has it
  started at another time (the pid was reused, or the host rebooted). A
  process elsewhere, or one it cannot look at, is never called gone.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

PROC = Path("/proc")
DEAD_STATES = frozenset({"Z", "X"})  # a zombie waits for its parent to reap it: it runs no more


@dataclass(frozen=True)
class ProcessIdentity:
    """One process: where it runs, its pid, and what tells it from a later process with the same pid."""

    host: str
    pid: int
    pid_namespace: str
    token: str
    started_at: datetime | None


def this_process() -> ProcessIdentity:
    return process_identity(os.getpid())


def process_identity(pid: int) -> ProcessIdentity:
    """The identity of the process ``pid`` of this host and pid namespace, as it runs now."""
    ticks = _start_ticks(pid)
    return ProcessIdentity(
        host=socket.gethostname(),
        pid=pid,
        pid_namespace=_pid_namespace(),
        token=_token(ticks),
        started_at=_started_at(ticks),
    )


def is_gone(identity: ProcessIdentity) -> bool:
    """The process ``identity`` names no longer runs (see the module's contract for what counts as proof)."""
    here = this_process()
    if (identity.host, identity.pid_namespace) != (here.host, here.pid_namespace):
        return False
    if identity.pid == here.pid:
        return identity.token != here.token
    if not _exists(identity.pid) or _state(identity.pid) in DEAD_STATES:
        return True
    if not identity.token:
        return False
    current = _token(_start_ticks(identity.pid))
    return bool(current) and current != identity.token


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    return True


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return ""


def _stat_fields(pid: int) -> list[str]:
    """``/proc/<pid>/stat`` from its field 3 (state) on; empty when there is none to read."""
    stat = _read(PROC / str(pid) / "stat")
    _, _, rest = stat.rpartition(")")  # the command name may hold spaces and parentheses
    return rest.split()


def _state(pid: int) -> str:
    fields = _stat_fields(pid)
    return fields[0] if fields else ""


def _start_ticks(pid: int) -> int | None:
    """Field 22 of ``/proc/<pid>/stat``: when the process started, in clock ticks since boot."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return None


def _boot_id() -> str:
    return _read(PROC / "sys" / "kernel" / "random" / "boot_id")


def _token(ticks: int | None) -> str:
    return f"{_boot_id()}:{ticks}" if ticks is not None else ""


def _pid_namespace() -> str:
    try:
        return os.readlink(PROC / "self" / "ns" / "pid")
    except OSError:
        return ""


def _started_at(ticks: int | None) -> datetime | None:
    """When the process started (for people to read; :func:`is_gone` compares the token)."""
    if ticks is None:
        return None
    boot = next((line.split()[1] for line in _read(PROC / "stat").splitlines() if line.startswith("btime ")), None)
    if boot is None:
        return None
    return datetime.fromtimestamp(int(boot) + ticks / os.sysconf("SC_CLK_TCK"), UTC)
