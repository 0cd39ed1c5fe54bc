"""``reconcile --repair``: recapture what the source still holds, mark LOST what it does not, quarantine orphans.

Contract:
- A missing or altered copy is recaptured from the source when the source
  still holds the same object (same etag and size as captured) and the bytes
  copied hash to the catalogued sha256; an altered copy is first moved into
  quarantine (kept, not overwritten). Otherwise the file turns LOST with the
  reason, and its version's status_reason says so.
- An orphan is moved to ``<product>/_quarantine/<its key under the product>``
  (a free name with ``.1``, ``.2``... when taken), pinned to the etag it was
  listed with; reconcile never deletes an object without a copy of it in
  quarantine. One whose key a catalog row holds by now is left alone.
- Every change is audited (:class:`~platform_assets.catalog.Catalog`'s
  ``record_restored``, ``mark_lost``, ``record_quarantined``), a chunk at a
  time, right after the chunk's objects moved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from platform_assets.catalog.records import LostCopy, QuarantinedObject, RestoredCopy
from platform_assets.config import ProductConfig
from platform_assets.errors import PlatformError
from platform_assets.storage.object_store import ObjectStore, ObjectVanished, copy_object
from platform_assets.versions.reconcile_findings import (
    Finding,
    FindingKind,
    Resolution,
    parse_copy_key,
    quarantine_key,
    resolved,
)

if TYPE_CHECKING:
    from platform_assets.services import Services

AUDIT_CHUNK = 64  # findings acted on between two audit writes
MAX_SUFFIX = 1000  # quarantine names tried for one object


@dataclass
class _Changes:
    """What a chunk of repairs changed, for its audit events."""

    restored: list[RestoredCopy] = field(default_factory=list)
    lost: list[LostCopy] = field(default_factory=list)
    moved: list[QuarantinedObject] = field(default_factory=list)


def repair(services: Services, product: ProductConfig, findings: list[Finding]) -> list[Finding]:
    """Each finding with its resolution (see the module); the changes are written and audited as they happen."""
    orphans = [finding for finding in findings if finding.kind is FindingKind.ORPHAN]
    copies = [finding for finding in findings if finding.kind is not FindingKind.ORPHAN]
    held = _held_now(services, product, orphans)
    done: list[Finding] = []
    for start in range(0, len(findings), AUDIT_CHUNK):
        changes = _Changes()
        for finding in findings[start : start + AUDIT_CHUNK]:
            if finding.kind is FindingKind.ORPHAN:
                done.append(_quarantine_orphan(services.raw_zone, product.name, finding, held, changes))
            else:
                done.append(_repair_copy(services, product, finding, changes))
        _record(services, product.name, changes)
    assert len(done) == len(orphans) + len(copies)
    return done


def _held_now(services: Services, product: ProductConfig, orphans: list[Finding]) -> set[tuple[int, str]]:
    """The orphans' (version, key) pairs a row of the catalog holds by now (registered after the bulk read)."""
    pairs = [pair for finding in orphans if (pair := parse_copy_key(product.name, finding.raw_key)) is not None]
    return services.catalog.held_files(product.name, pairs) if pairs else set()


def _record(services: Services, product: str, changes: _Changes) -> None:
    catalog, actor = services.catalog, services.actor
    catalog.record_quarantined(product, changes.moved, actor)
    catalog.record_restored(product, changes.restored, actor)
    if changes.lost:
        catalog.mark_lost(product, changes.lost, actor)


def _quarantine_orphan(
    raw_zone: ObjectStore, product: str, finding: Finding, held: set[tuple[int, str]], changes: _Changes
) -> Finding:
    if parse_copy_key(product, finding.raw_key) in held:
        return resolved(finding, Resolution.CLEARED, "a catalog row holds it now (registered while reconcile ran)")
    try:
        target = move_to_quarantine(raw_zone, product, finding.raw_key, finding.etag)
    except (ObjectVanished, PlatformError, OSError) as error:
        return resolved(finding, Resolution.UNRESOLVED, f"not moved: {error}")
    changes.moved.append(QuarantinedObject(finding.raw_key, target, int(finding.actual or 0), "orphan"))
    return resolved(finding, Resolution.QUARANTINED, f"moved to {target}")


def move_to_quarantine(raw_zone: ObjectStore, product: str, raw_key: str, etag: str | None = None) -> str:
    """Copy the object (pinned to ``etag`` when given) to a free quarantine key, then remove it; the new key."""
    base = quarantine_key(product, raw_key)
    target = base
    for suffix in range(1, MAX_SUFFIX + 1):
        if raw_zone.stat(target) is None:
            break
        target = f"{base}.{suffix}"
    else:
        raise ObjectVanished(f"{raw_zone.uri(base)}: {MAX_SUFFIX} quarantined copies exist already", raw_key)
    copy_object(raw_zone, raw_key, raw_zone, target, expected_etag=etag)
    raw_zone.delete(raw_key)
    return target


def _repair_copy(services: Services, product: ProductConfig, finding: Finding, changes: _Changes) -> Finding:
    """Recapture the copy from the source, or mark its file LOST; the finding with what was done."""
    assert finding.version is not None and finding.key is not None, "a copy finding names its file"
    raw_zone, name = services.raw_zone, product.name
    current = raw_zone.stat(finding.raw_key)
    if finding.kind is FindingKind.MISSING and current is not None and current.size == finding.size:
        return resolved(finding, Resolution.CLEARED, "the copy is there on a second look (written while listing)")
    source = services.sources.of(product)
    problem = _source_problem(source, finding)
    if problem is not None:
        return _lost(finding, problem, changes)
    try:
        moved_to = None
        if current is not None:  # the altered copy is kept, in quarantine
            moved_to = move_to_quarantine(raw_zone, name, finding.raw_key, current.etag)
            changes.moved.append(
                QuarantinedObject(finding.raw_key, moved_to, current.size, f"altered copy: {finding.kind}")
            )
        copy = copy_object(source, finding.key, raw_zone, finding.raw_key, expected_etag=finding.etag)
    except ObjectVanished as error:
        return _lost(finding, f"the source changed while it was recaptured ({error})", changes)
    except (PlatformError, OSError) as error:
        return resolved(finding, Resolution.UNRESOLVED, f"not recaptured: {error}")
    if finding.sha256 is not None and copy.sha256 != finding.sha256:
        evidence = move_to_quarantine(raw_zone, name, finding.raw_key)
        changes.moved.append(QuarantinedObject(finding.raw_key, evidence, copy.size, "recapture with another sha256"))
        reason = (
            f"the source's bytes hash to {copy.sha256}, not to the captured sha256 {finding.sha256} (same etag and "
            f"size): the recapture is kept at {evidence}"
        )
        return _lost(finding, reason, changes)
    changes.restored.append(RestoredCopy(finding.version, finding.key, finding.kind, copy.sha256, copy.size, moved_to))
    detail = f"recaptured from {source.uri(finding.key)}" + (f"; the altered copy is at {moved_to}" if moved_to else "")
    return resolved(finding, Resolution.RESTORED, detail)


def _source_problem(source: ObjectStore, finding: Finding) -> str | None:
    """Why the source cannot give the captured object back (gone, or another object now), or None."""
    assert finding.key is not None
    info = source.stat(finding.key)
    if info is None:
        return f"the source no longer holds it ({source.uri(finding.key)})"
    if info.etag != finding.etag or info.size != finding.size:
        return (
            f"the source object changed since capture (now etag {info.etag}, {info.size} bytes; captured etag "
            f"{finding.etag}, {finding.size} bytes)"
        )
    return None


def _lost(finding: Finding, problem: str, changes: _Changes) -> Finding:
    assert finding.version is not None and finding.key is not None
    reason = f"raw copy {finding.kind.replace('_', ' ')}, and {problem}"
    for number in finding.versions or (finding.version,):  # a child carrying the copy loses it too
        changes.lost.append(LostCopy(number, finding.key, finding.kind, reason))
    return resolved(finding, Resolution.LOST, reason)
