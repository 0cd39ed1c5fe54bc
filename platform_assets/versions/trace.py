"""Provenance of one row: where each value a primary key ever had in the merge table came from.

Contract (``platform-assets trace P KEY...``; key values in primary-key order,
as text, converted to the key columns' types):

- Milestones: every row of the key in ``<product>_merge``, oldest first
  (forensic: one per ``_batch_in``, with ``_batch_out``; live-only: the one
  row, ``_batch_id``), read through :mod:`platform_assets.merge.history`. A
  batch is the version it merged (``merge/versions.py``: version v merges as
  batch v).
- For each milestone's version: the row's ``_source_file`` and
  ``_source_line`` from that version's Iceberg partition (one scan for all
  milestones; ``_source_line`` is NULL for rows written before the column
  existed), the source object (key, etag, last modified) and the raw copy
  (location in the raw zone, sha256) from the catalog, who captured,
  processed, approved and published the version (its audit events and row),
  and the columns whose values changed against the milestone before.
- Forensic: a milestone closed without a successor starting right after it
  ends in a deletion (``deleted_in``: the batch that closed it).
- A wrong number of key values, a value that is not of its column's type, or a
  key the merge table never held is a :class:`TraceRefused` saying what to give.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from pyiceberg.expressions import And, BooleanExpression, EqualTo, In

from platform_assets.column_types import ColumnType, TypeKind
from platform_assets.config import ProductConfig
from platform_assets.errors import UserError
from platform_assets.merge.history import key_rows
from platform_assets.merge.names import merge_table
from platform_assets.merge.spec import LIVE_BATCH_OUT

if TYPE_CHECKING:
    from platform_assets.services import Services


class TraceRefused(UserError):
    """The key cannot be traced (wrong arity, a value of the wrong type, never merged); the message says why."""


@dataclass(frozen=True)
class SourceOrigin:
    """Where a milestone's row was read from: the file, its line, the source object and the raw copy."""

    file: str
    line: int | None
    etag: str | None
    last_modified: datetime | None
    raw_copy: str
    sha256: str | None


@dataclass(frozen=True)
class Milestone:
    """One row of the key in the merge table and where it came from (see the module contract)."""

    version: int
    batch_out: int | None  # forensic: the last batch it was live in; None while live (and for live-only)
    live: bool
    values: dict[str, Any]
    changed: dict[str, list[Any]]
    source: SourceOrigin | None
    captured_by: str | None
    processed_by: str | None
    approved_by: str | None
    published_by: str | None
    published_at: datetime | None
    deleted_in: int | None = None


@dataclass(frozen=True)
class Trace:
    """Every milestone of one key of one product."""

    product: str
    key: dict[str, Any]
    milestone: str
    milestones: list[Milestone] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def trace_key(services: Services, product: ProductConfig, values: list[str]) -> Trace:
    """The provenance of the row with primary key ``values`` (see the module contract)."""
    key = parse_key(product, values)
    forensic = product.milestone == "forensic"
    rows = key_rows(services.merge_store, product.name, key, forensic)
    if not rows:
        shown = ", ".join(f"{name}={value!r}" for name, value in key.items())
        raise TraceRefused(
            f"{product.name}: no row with key ({shown}) in {merge_table(product.name)}: the key was never merged. "
            f"Check the key, or merge the versions that hold it (`platform-assets merge {product.name}`)"
        )
    versions = [int(row["_batch_in"] if forensic else row["_batch_id"]) for row in rows]
    origins = _origins(services, product, key, versions)
    milestones: list[Milestone] = []
    previous: dict[str, Any] | None = None
    for index, (row, version) in enumerate(zip(rows, versions, strict=True)):
        values_now = {name: value for name, value in row.items() if not name.startswith("_")}
        out = int(row["_batch_out"]) if forensic else None
        live = out is None or out == LIVE_BATCH_OUT
        following = versions[index + 1] if index + 1 < len(versions) else None
        deleted_in = out + 1 if out is not None and not live and following != out + 1 else None
        people = _people(services, product.name, version)
        milestones.append(
            Milestone(
                version=version,
                batch_out=None if live else out,
                live=live,
                values=values_now,
                changed=_changed(previous, values_now),
                source=origins.get(version),
                deleted_in=deleted_in,
                **people,
            )
        )
        previous = values_now
    return Trace(product.name, key, product.milestone, milestones)


def parse_key(product: ProductConfig, values: list[str]) -> dict[str, Any]:
    """The key columns with ``values`` converted to their types; TraceRefused on arity or type."""
    schema = product.table_schema
    names = list(schema.primary_key) if schema else []
    if not names:
        raise TraceRefused(f"{product.name} declares no primary key; declare schema.primary_key to trace rows")
    if len(values) != len(names):
        raise TraceRefused(
            f"{product.name}'s primary key is ({', '.join(names)}): give {len(names)} value(s) in that order, "
            f"got {len(values)}"
        )
    assert schema is not None
    return {name: _typed(name, ColumnType.of(schema.columns[name]), text) for name, text in zip(names, values)}


def _typed(name: str, column_type: ColumnType, text: str) -> Any:
    try:
        kind = column_type.kind
        if kind in (TypeKind.INT, TypeKind.BIGINT):
            return int(text)
        if kind == TypeKind.DOUBLE:
            return float(text)
        if kind == TypeKind.DECIMAL:
            return Decimal(text)
        if kind == TypeKind.BOOLEAN:
            return {"true": True, "false": False, "1": True, "0": False}[text.lower()]
        if kind == TypeKind.DATE:
            return date.fromisoformat(text)
        if kind == TypeKind.TIMESTAMP:
            return datetime.fromisoformat(text)
    except (ValueError, KeyError, InvalidOperation):
        raise TraceRefused(f"key column {name}: {text!r} is not {column_type.article} {column_type}") from None
    return text


def _changed(previous: dict[str, Any] | None, current: dict[str, Any]) -> dict[str, list[Any]]:
    """Columns whose value differs from the previous milestone's: {column: [old, new]} (all, for the first)."""
    if previous is None:
        return {}
    return {
        name: [previous.get(name), value]
        for name, value in current.items()
        if name not in previous or previous[name] != value or (previous[name] is None) != (value is None)
    }


def _origins(
    services: Services, product: ProductConfig, key: dict[str, Any], versions: list[int]
) -> dict[int, SourceOrigin]:
    """Per version, where its row of ``key`` was read from (one Iceberg scan, one catalog read)."""
    table = services.iceberg.load(services.iceberg.data_table(product.name))
    condition: BooleanExpression = In(term="_version", literals=set(versions))
    for name, value in key.items():
        condition = And(condition, EqualTo(term=name, value=value))
    selected = ["_version", "_source_file", "_source_line"]
    present = [name for name in selected if name in table.schema().column_names]
    rows = table.scan(row_filter=condition, selected_fields=tuple(present)).to_arrow().to_pylist()
    found = {int(row["_version"]): (row["_source_file"], row.get("_source_line")) for row in rows}
    files = {
        (item.version, item.key): item
        for item in services.catalog.source_files(
            product.name, [(version, name) for version, (name, _) in found.items()]
        )
    }
    origins = {}
    for version, (name, line) in found.items():
        item = files.get((version, name))
        origins[version] = SourceOrigin(
            file=name,
            line=line,
            etag=item.etag if item else None,
            last_modified=item.source_last_modified if item else None,
            raw_copy=(
                item.raw_location
                if item and item.raw_location
                else services.raw_zone.uri(f"{product.name}/v{version}/{name}")
            ),
            sha256=item.sha256 if item else None,
        )
    return origins


def _people(services: Services, product: str, version: int) -> dict[str, Any]:
    """Who captured, processed, approved and published the version, and when it was published."""
    record = services.catalog.version(product, version)
    by_status: dict[str, str] = {}
    for event in services.catalog.audit_events("version", f"{product}/{version}"):
        if event.action == "status":
            by_status.setdefault(str(event.change.get("to")), event.actor)
    approved = record.decided_by if record.decision is not None and record.decision.value == "APPROVED" else None
    return {
        "captured_by": by_status.get("CAPTURED"),
        "processed_by": by_status.get("PROCESSED") or by_status.get("AWAITING_REVIEW"),
        "approved_by": approved,
        "published_by": by_status.get("PUBLISHED"),
        "published_at": record.published_at,
    }


def trace_lines(trace: Trace) -> list[str]:
    """The trace as text, one milestone per block."""
    shown = ", ".join(f"{name}={value!r}" for name, value in trace.key.items())
    lines = [f"{trace.product} ({shown}): {len(trace.milestones)} milestone(s) ({trace.milestone})"]
    for item in trace.milestones:
        span = "live" if item.live else f"to batch {item.batch_out}"
        lines.append(f"v{item.version} (batch {item.version}, {span})")
        source = item.source
        if source is None:
            lines.append("  source: not in the version's Iceberg partition (purged?)")
        else:
            line = source.line if source.line is not None else "unknown (written before _source_line)"
            lines.append(f"  file {source.file}, line {line}; etag {source.etag}, last modified {source.last_modified}")
            lines.append(f"  raw copy {source.raw_copy}, sha256 {source.sha256}")
        who = (
            f"  captured by {item.captured_by}, processed by {item.processed_by}, approved by {item.approved_by}, "
            f"published by {item.published_by}"
        )
        lines.append(who)
        if item.changed:
            lines.append(
                "  changed: " + "; ".join(f"{name}: {old!r} -> {new!r}" for name, (old, new) in item.changed.items())
            )
        if item.deleted_in is not None:
            lines.append(f"  deleted in batch {item.deleted_in}")
    return lines
