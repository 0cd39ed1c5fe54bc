"""Small helpers for materialization metadata, and the observation of a version's current state."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg

from platform_assets.defs.partitions import partition_key
from platform_assets.secrets import scrub

VERSION_STATUS_KEY = "version_status"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table; pipes and newlines inside cells are escaped, secrets scrubbed (failure messages go here)."""

    def cell(value: Any) -> str:
        return scrub(str("" if value is None else value)).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def version_observation(product_name: str, version: int, state: str) -> dg.AssetObservation:
    """The version's current state, observed on its ``raw_files`` partition (``version_status``).

    ``raw_files``' own materialization says what capture concluded; each later
    step (processing, merge, exclusion) observes the state it left the version in.
    """
    return dg.AssetObservation(
        asset_key=dg.AssetKey([product_name, "raw_files"]),
        partition=partition_key(version),
        metadata={VERSION_STATUS_KEY: dg.MetadataValue.text(state)},
    )
