"""Reconciliation: the catalog and the raw zone checked against each other, in both directions.

Contract:
- Catalog -> store: every raw copy the catalog holds exists, with its size
  (findings ``missing``, ``size_mismatch``); with ``deep`` its bytes hash to
  the catalogued sha256 (``checksum_mismatch``; streamed, never loaded whole).
  A copy is held by a file that was captured (``captured_at`` set) and is
  CAPTURED, PROCESSING, PROCESSED or FAILED, of a version that is not PURGED
  (retention removed its copies on purpose; ``catalog.states.COPY_HOLDING_FILE_STATES``,
  ``COPY_ABSENT_STATES``). SKIPPED and LOST files, and PURGED ones, are not
  expected to have a copy, nor are DELETED files (retention's purge in
  progress); a soft-DELETED version's files keep theirs (it can be restored).
  A product the catalog has no version of holds nothing: whatever lies under
  its prefix is an orphan, and repair leaves it until a sync. A file carried by reference by
  a child version holds its parent's copy (one copy, several files).
- Store -> catalog: every object under ``<product>/`` in the raw zone belongs
  to a row of ``raw_files`` (``<product>/v<version>/<key>``, any status),
  except those under ``<product>/_quarantine/``; others are ``orphan``.
- Cost: one listing of the product's raw prefix, then one bulk catalog read
  (in that order: an object a capture writes while reconcile runs already has
  its DISCOVERED row, so it is never taken for an orphan; a copy recorded after
  the listing started is not checked this time).
- With ``repair``, :mod:`platform_assets.versions.reconcile_repair` acts on the
  findings (:mod:`platform_assets.versions.reconcile_findings` holds what both
  name). Every run writes one ``reconciled`` audit event with its counts.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from platform_assets.catalog.errors import UnknownProduct
from platform_assets.catalog.records import RawCopyRow
from platform_assets.config import ProductConfig
from platform_assets.progress import BYTES, Progress, ProgressTask
from platform_assets.storage.object_store import ObjectInfo, ObjectStore, ObjectVanished
from platform_assets.versions.reconcile_findings import (
    QUARANTINE,
    Finding,
    FindingKind,
    Resolution,
    copy_key,
    parse_copy_key,
    resolved,
)
from platform_assets.versions.reconcile_repair import repair

if TYPE_CHECKING:
    from platform_assets.services import Services

HASH_THREADS = 8  # raw copies hashed at once with deep
LISTED_FINDINGS = 100  # findings a report carries (the counts cover all of them)


@dataclass(frozen=True)
class ReconcileOptions:
    """``deep``: hash every present copy; ``repair``: act on the findings; ``progress`` gets the bytes hashed
    (of all present copies) while a deep reconciliation hashes."""

    deep: bool = False
    repair: bool = False
    progress: Progress | None = None


@dataclass
class ReconcileReport:
    """What one reconciliation found (``counts`` by kind, the first :data:`LISTED_FINDINGS` findings) and,
    with repair, what it did (``resolutions`` by outcome)."""

    product: str
    deep: bool
    repair: bool
    copies_checked: int = 0
    objects_listed: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {kind.value: 0 for kind in FindingKind})
    resolutions: dict[str, int] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    started_at: str = ""
    listing_s: float = 0.0
    catalog_s: float = 0.0
    hashing_s: float = 0.0
    repair_s: float = 0.0
    duration_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def lost(self) -> int:
        return self.resolutions.get(Resolution.LOST, 0)

    @property
    def unresolved(self) -> int:
        """Findings still standing: all of them without repair; with it those repair could not resolve."""
        if not self.repair:
            return self.total
        return self.resolutions.get(Resolution.UNRESOLVED, 0)

    @property
    def ok(self) -> bool:
        """Nothing found; or, after repair, nothing turned LOST and nothing left unresolved."""
        return self.unresolved == 0 and self.lost == 0

    def summary(self) -> dict[str, Any]:
        """The figures of the audit event (no findings list)."""
        return {
            "deep": self.deep,
            "repair": self.repair,
            "copies_checked": self.copies_checked,
            "objects_listed": self.objects_listed,
            "counts": dict(self.counts),
            "resolutions": dict(self.resolutions),
        }

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "findings": [finding.as_json() for finding in self.findings], "ok": self.ok}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReconcileReport:
        fields = {key: value for key, value in data.items() if key != "ok"}
        return cls(**{**fields, "findings": [Finding.from_json(item) for item in data.get("findings", [])]})


@dataclass
class CatalogPicture:
    """What the catalog holds, by raw key: the copies that must exist (with their sizes), the keys rows account
    for that need no copy, the versions carrying a copy by reference, and (when read) etag and sha256."""

    product: str
    sizes: dict[str, int] = field(default_factory=dict)
    others: set[str] = field(default_factory=set)
    carriers: dict[str, list[int]] = field(default_factory=dict)
    details: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)

    def finding(self, kind: FindingKind, raw_key: str, expected: int | str | None, actual: int | str | None) -> Finding:
        """A finding on the copy at ``raw_key``, naming its file and every version using it."""
        parsed = parse_copy_key(self.product, raw_key)
        assert parsed is not None, f"{raw_key!r} is laid out by copy_key"
        version, key = parsed
        etag, sha = self.details.get(raw_key, (None, None))
        versions = tuple(sorted({version, *self.carriers.get(raw_key, ())}))
        return Finding(kind, raw_key, version, key, expected, actual, versions, etag, self.sizes[raw_key], sha)


def _carried_version(product: str, number: int, key: str, location: str) -> int:
    """The version whose copy a carried file uses, read from its ``raw_location`` (its own when unreadable)."""
    for text in (location, unquote(location)):
        head = text[: -len(key) - 1] if text.endswith("/" + key) else ""
        marker = head.rfind(f"/{product}/v")
        found = head[marker + len(product) + 3 :] if marker >= 0 else ""
        if found.isdigit():
            return int(found)
    return number


def catalog_picture(product: str, rows: list[RawCopyRow]) -> CatalogPicture:
    """The picture of the catalog's rows (see :class:`CatalogPicture`); one pass, nothing per row but a key."""
    picture = CatalogPicture(product)
    sizes, others, carriers, details = picture.sizes, picture.others, picture.carriers, picture.details
    prefix = product + "/v"
    for number, key, size, holds, carried, etag, sha in rows:
        raw_key = (
            f"{prefix}{number}/{key}"
            if carried is None
            else copy_key(product, _carried_version(product, number, key, carried), key)
        )
        if not holds:
            others.add(raw_key)
            continue
        sizes[raw_key] = size
        if carried is not None:
            carriers.setdefault(raw_key, []).append(number)
        if etag is not None or sha is not None:
            details[raw_key] = (etag, sha)
    return picture


def compare(picture: CatalogPicture, objects: dict[str, ObjectInfo], deep: bool) -> tuple[list[Finding], list[str]]:
    """Findings of existence and size, orphans, and the copies a deep check should hash (present, right size)."""
    findings: list[Finding] = []
    to_hash: list[str] = []
    get = objects.get
    for raw_key, size in picture.sizes.items():
        info = get(raw_key)
        if info is None:
            findings.append(picture.finding(FindingKind.MISSING, raw_key, size, None))
        elif info.size != size:
            findings.append(picture.finding(FindingKind.SIZE_MISMATCH, raw_key, size, info.size))
        elif deep:
            to_hash.append(raw_key)
    quarantine = f"{picture.product}/{QUARANTINE}/"
    for raw_key in sorted(objects.keys() - picture.sizes.keys() - picture.others):
        if not raw_key.startswith(quarantine):
            info = objects[raw_key]
            findings.append(Finding(FindingKind.ORPHAN, raw_key, actual=info.size, etag=info.etag))
    return findings, to_hash


def hash_findings(
    raw_zone: ObjectStore, picture: CatalogPicture, to_hash: list[str], progress: Progress | None = None
) -> list[Finding]:
    """``checksum_mismatch`` for each copy whose bytes (streamed) do not hash to its sha256; gone ones are missing.

    ``progress`` gets the bytes hashed after each copy.
    """
    total = sum(picture.sizes[raw_key] for raw_key in to_hash)
    task = ProgressTask(progress, f"reconcile {picture.product} --deep: hashing", BYTES, total)
    lock = threading.Lock()

    def hashed(raw_key: str) -> Finding | None:
        finding = check(raw_key)
        with lock:
            task.advance(picture.sizes[raw_key])
        return finding

    def check(raw_key: str) -> Finding | None:
        expected = picture.details.get(raw_key, (None, None))[1]
        if expected is None:
            return None
        try:
            actual = raw_zone.sha256(raw_key)
        except ObjectVanished:  # gone between the listing and the read
            return picture.finding(FindingKind.MISSING, raw_key, picture.sizes[raw_key], None)
        return None if actual == expected else picture.finding(FindingKind.CHECKSUM_MISMATCH, raw_key, expected, actual)

    if not to_hash:
        return []
    with ThreadPoolExecutor(max_workers=min(HASH_THREADS, len(to_hash))) as pool:
        found = [finding for finding in pool.map(hashed, to_hash) if finding is not None]
    task.finish()
    return found


def list_product(raw_zone: ObjectStore, product: str) -> dict[str, ObjectInfo]:
    """Every object under ``<product>/`` in the raw zone, by key (one listing)."""
    return {info.key: info for info in raw_zone.iter_objects(f"{product}/**")}


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The block runs without Python's cyclic garbage collector (turned back on after, if it was on)."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def reconcile(services: Services, product: ProductConfig, options: ReconcileOptions | None = None) -> ReconcileReport:
    """Reconcile the product's raw zone with the catalog (and repair, with ``options.repair``); see the module."""
    options = options or ReconcileOptions()
    started = time.perf_counter()
    listed_at = datetime.now(UTC)
    report = ReconcileReport(product.name, options.deep, options.repair, started_at=listed_at.isoformat())
    with _no_cyclic_gc():  # 100,000s of acyclic objects kept alive: each collection would walk them all again
        objects = list_product(services.raw_zone, product.name)
        report.listing_s = time.perf_counter() - started
        tick = time.perf_counter()
        try:
            rows = services.catalog.raw_copies(product.name, listed_at, with_details=options.deep or options.repair)
        except UnknownProduct:  # never synced: nothing is held, whatever lies under the prefix is an orphan
            rows = None
        picture = catalog_picture(product.name, rows or [])
        report.catalog_s = time.perf_counter() - tick
    report.objects_listed = len(objects)
    report.copies_checked = len(picture.sizes)
    findings, to_hash = compare(picture, objects, options.deep)
    if options.deep:
        tick = time.perf_counter()
        findings += hash_findings(services.raw_zone, picture, to_hash, options.progress)
        report.hashing_s = time.perf_counter() - tick
    findings.sort(key=lambda finding: (finding.raw_key, finding.kind))
    for finding in findings:
        report.counts[finding.kind] += 1
    if options.repair and findings and rows is None:
        detail = f"the catalog has no version of {product.name} yet: sync it first, then repair"
        findings = [resolved(finding, Resolution.UNRESOLVED, detail) for finding in findings]
        report.resolutions[Resolution.UNRESOLVED] = len(findings)
    elif options.repair and findings:
        tick = time.perf_counter()
        findings = repair(services, product, findings)
        report.repair_s = time.perf_counter() - tick
        for finding in findings:
            resolution = finding.resolution or Resolution.UNRESOLVED
            report.resolutions[resolution] = report.resolutions.get(resolution, 0) + 1
    report.findings = findings[:LISTED_FINDINGS]
    if rows is not None:  # an event of a product the catalog knows
        services.catalog.record_reconciled(product.name, report.summary(), services.actor)
    report.duration_s = time.perf_counter() - started
    return report
