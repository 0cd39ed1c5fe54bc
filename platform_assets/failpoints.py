"""Named crash points for tests.

``PLATFORM_FAILPOINTS="name[=N],other"`` makes the process exit at once with
``os._exit(86)`` (no cleanup, no finally blocks, no flushed buffers) the N-th time
(default: the first) it reaches the named point. Unset, :func:`failpoint` costs
one dict lookup.
"""

from __future__ import annotations

import os
import sys
import threading

ENV_VAR = "PLATFORM_FAILPOINTS"
EXIT_CODE = 86
KNOWN = frozenset(
    {
        "capture.after_object_copy",
        "process.after_data_file",
        "process.after_iceberg_commit",
        "merge.before_commit",
        "merge.before_publish",
        "review.before_batch_log",
        "replicate.seed.after_chunk",
        "replicate.incremental.before_commit",
        "retention.after_raw_delete",
        "retention.after_iceberg_delete",
    }
)

_lock = threading.Lock()
_hits: dict[str, int] = {}
_parsed: tuple[str, dict[str, int]] | None = None


def parse_spec(spec: str) -> dict[str, int]:
    """``"a=2,b"`` -> ``{"a": 2, "b": 1}``; an unknown name raises ValueError."""
    armed: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition("=")
        if name not in KNOWN:
            raise ValueError(f"{ENV_VAR}: unknown failpoint {name!r}; known: {', '.join(sorted(KNOWN))}")
        armed[name] = int(count) if count else 1
        if armed[name] < 1:
            raise ValueError(f"{ENV_VAR}: {item!r} needs a count of at least 1")
    return armed


def _armed() -> dict[str, int]:
    global _parsed
    spec = os.environ.get(ENV_VAR, "")
    if _parsed is None or _parsed[0] != spec:
        _parsed = (spec, parse_spec(spec))
        _hits.clear()
    return _parsed[1]


def failpoint(name: str) -> None:
    """Exit the process here if ``name`` is armed and this is its N-th hit."""
    if name not in KNOWN:
        raise ValueError(f"unknown failpoint {name!r}")
    armed = _armed()
    if name not in armed:
        return
    with _lock:
        _hits[name] = _hits.get(name, 0) + 1
        if _hits[name] == armed[name]:
            sys.stderr.write(f"failpoint {name} hit ({armed[name]}): exiting with {EXIT_CODE}\n")
            sys.stderr.flush()
            os._exit(EXIT_CODE)
