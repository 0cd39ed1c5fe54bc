"""What reconciliation finds and does, by name: findings, their kinds and resolutions, and raw zone keys.

Contract: the values both :mod:`platform_assets.versions.reconciliation` (which
finds) and :mod:`platform_assets.versions.reconcile_repair` (which acts) use;
no I/O. Keys follow the raw zone layout ``<product>/v<version>/<key>``, and
quarantined objects live under ``<product>/_quarantine/``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

QUARANTINE = "_quarantine"


class FindingKind(StrEnum):
    MISSING = "missing"
    SIZE_MISMATCH = "size_mismatch"
    CHECKSUM_MISMATCH = "checksum_mismatch"
    ORPHAN = "orphan"


class Resolution(StrEnum):
    """What ``--repair`` did about a finding."""

    RESTORED = "restored"  # recaptured from the source, sha256 checked
    CLEARED = "cleared"  # not a finding on a second look (written or catalogued while reconcile listed)
    LOST = "lost"  # the file turned LOST with the reason
    QUARANTINED = "quarantined"  # moved under <product>/_quarantine/
    UNRESOLVED = "unresolved"  # repair could not act (the detail says why)


@dataclass(frozen=True)
class Finding:
    """One disagreement between the catalog and the raw zone.

    ``raw_key`` is the object's key in the raw zone; ``version`` and ``key`` name
    the file whose copy it is (None for an orphan); ``versions`` every version
    whose files use the copy. ``expected`` and ``actual`` are sizes in bytes or
    sha256 hex digests (None where there is nothing: an orphan's expected
    object, a missing copy's actual one).
    """

    kind: FindingKind
    raw_key: str
    version: int | None = None
    key: str | None = None
    expected: int | str | None = None
    actual: int | str | None = None
    versions: tuple[int, ...] = ()
    etag: str | None = None  # the source etag the catalog recorded (copies), or the object's (orphans)
    size: int | None = None  # the catalog's size of the copy (None for an orphan)
    sha256: str | None = None  # the catalog's sha256 of the copy, when read (deep)
    resolution: Resolution | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "versions": list(self.versions)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        resolution = data.get("resolution")
        return cls(
            **{
                **data,
                "kind": FindingKind(data["kind"]),
                "versions": tuple(data.get("versions") or ()),
                "resolution": Resolution(resolution) if resolution else None,
            }
        )


def product_prefix(product: str) -> str:
    return f"{product}/"


def copy_key(product: str, version: int, key: str) -> str:
    """``<product>/v<version>/<key>``: the raw zone layout (docs/architecture.md), as capture writes it."""
    return f"{product}/v{version}/{key}"


def quarantine_key(product: str, raw_key: str) -> str:
    """Where an object of the product moves in quarantine: ``<product>/_quarantine/<its key under the product>``."""
    return f"{product}/{QUARANTINE}/{raw_key[len(product) + 1 :]}"


def is_quarantined(product: str, raw_key: str) -> bool:
    return raw_key.startswith(f"{product}/{QUARANTINE}/")


def parse_copy_key(product: str, raw_key: str) -> tuple[int, str] | None:
    """(version, source key) of a key laid out as ``<product>/v<version>/<key>``, else None."""
    head, _, rest = raw_key[len(product) + 1 :].partition("/")
    if not raw_key.startswith(product + "/") or not rest or head[:1] != "v" or not head[1:].isdigit():
        return None
    return int(head[1:]), rest


def resolved(finding: Finding, resolution: Resolution, detail: str) -> Finding:
    return replace(finding, resolution=resolution, detail=detail)
