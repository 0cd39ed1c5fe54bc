"""Small helpers for materialization metadata."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from platform_assets.secrets import scrub


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table; pipes and newlines inside cells are escaped, secrets scrubbed (failure messages go here)."""

    def cell(value: Any) -> str:
        return scrub(str("" if value is None else value)).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)
