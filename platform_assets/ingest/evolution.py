"""File-driven schema evolution: how the files of one claimed batch change the product's columns, and their rows
brought to those columns, the same way whichever engine parses them.

Contract (README, "Schema evolution"):

- :func:`plan_batch` judges each file's columns (:mod:`.file_schema`) against
  the product's columns so far (the Iceberg table's columns with the declared
  changes, :func:`platform_assets.ingest.table_schema.effective_columns`), in
  claim order, under ``schema.evolution``:

  - a column the file lacks stays, NULL for the file's rows (every mode),
    except a primary key column: that file is refused;
  - a new column: ``add_columns`` adds it, nullable, at the end (its type: a
    Parquet column's own, a JSON key's from its values' kinds, string for
    CSV); ``rescue`` packs it into ``_rescued`` (one JSON object per row, NULL
    when the row has none; the column exists from the first version processed
    under rescue); ``strict`` refuses the file;
  - a Parquet column of a type that does not read as the column's: a widening
    (int to bigint, decimal(p,s) to decimal(p2>p,s)) widens the column when
    ``widen_types`` is true, and is refused otherwise; a narrowing or another
    type is refused under every mode (:func:`platform_assets.schema_change.schema_change`
    words every refusal, as it does for declared changes).

  A refused file raises :class:`SchemaEvolutionRefused` (the version ends
  FAILED with its message: the file, the columns, and the config change that
  would accept them) before anything of the batch is written. A rename is
  never inferred: it is a missing column plus a new one.
- :func:`parse_batch` parses the files, grouped by the columns each is read
  with, and returns one ParseResult whose rows have the batch's target columns
  in order (``_source_file`` last): missing columns NULL, narrower parsed
  types cast up, rescued columns packed.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from platform_assets.column_types import STRING, ColumnType
from platform_assets.config import COLUMN_PATTERN, RESERVED_COLUMNS, ProductConfig, SourceSettings
from platform_assets.errors import SchemaMismatch
from platform_assets.ingest.file_schema import RESCUED, FileColumns, file_columns, normalize_json, rescued_values
from platform_assets.ingest.parsing import InputFile, Parser, ParseResult
from platform_assets.ingest.parsing.drift import show_name
from platform_assets.ingest.parsing.result import REJECTS_SCHEMA, SOURCE_FILE, SOURCE_LINE
from platform_assets.ingest.parsing.types import arrow_type, parquet_castable, rows_arrow_schema
from platform_assets.schema_change import schema_change


class SchemaEvolutionRefused(SchemaMismatch):
    """A file's columns differ from the product's in a way its ``schema.evolution`` does not accept."""


@dataclass(frozen=True)
class Evolution:
    """A product's evolution settings: ``mode`` (add_columns, rescue, strict), ``widen_types``, primary key."""

    mode: str = "strict"
    widen_types: bool = False
    key: tuple[str, ...] = ()

    @classmethod
    def of(cls, product: ProductConfig) -> Evolution:
        settings = product.table_schema
        if settings is None:
            return cls()
        return cls(settings.evolution, settings.widen_types, tuple(settings.primary_key))


@dataclass(frozen=True)
class FileDrift:
    """How one file's columns differ from the product's: lacked, added, widened (``n: int -> bigint``), rescued."""

    missing: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    widened: tuple[str, ...] = ()
    rescued: tuple[str, ...] = ()

    def as_json(self) -> dict[str, list[str]]:
        """The non-empty parts, as recorded (raw_files.schema_drift, the append's marker)."""
        parts = {"missing": self.missing, "added": self.added, "widened": self.widened, "rescued": self.rescued}
        return {name: list(names) for name, names in parts.items() if names}


@dataclass(frozen=True)
class FilePlan:
    """How one file is read: ``parse_schema`` (None: the target's columns by position), the columns packed into
    ``_rescued`` after parsing, and the file's drift."""

    item: InputFile
    parse_schema: dict[str, ColumnType] | None
    rescued: tuple[str, ...] = ()
    utf8: bool = False  # ``item`` is a normalized UTF-8 copy of a JSON file
    drift: FileDrift = field(default_factory=FileDrift)


@dataclass(frozen=True)
class BatchPlan:
    """The batch's target columns and each file's plan; ``added`` / ``widened`` say how the target differs."""

    target: dict[str, ColumnType]
    files: list[FilePlan]
    added: dict[str, ColumnType] = field(default_factory=dict)
    widened: dict[str, tuple[ColumnType, ColumnType]] = field(default_factory=dict)

    def drift_of(self) -> dict[str, dict[str, list[str]]]:
        """File key -> its drift, for files that have one."""
        return {plan.item.key: plan.drift.as_json() for plan in self.files if plan.drift.as_json()}


def plan_batch(
    columns: Mapping[str, ColumnType],
    files: list[InputFile],
    source: SourceSettings,
    evolution: Evolution,
    scratch: Path,
) -> BatchPlan:
    """Judge the files against ``columns`` in order (see the module contract); rewrite JSON files into ``scratch``."""
    target = dict(columns)
    added: dict[str, ColumnType] = {}
    widened: dict[str, tuple[ColumnType, ColumnType]] = {}
    plans = []
    for item in files:
        found = file_columns(item, source, set(target))
        if found is None:
            plans.append(FilePlan(item, None))
            continue
        plans.append(_plan_file(item, found, source, evolution, target, added, widened, scratch))
    return BatchPlan(target, plans, added, widened)


def _plan_file(
    item: InputFile,
    found: FileColumns,
    source: SourceSettings,
    evolution: Evolution,
    target: dict[str, ColumnType],
    added: dict[str, ColumnType],
    widened: dict[str, tuple[ColumnType, ColumnType]],
    scratch: Path,
) -> FilePlan:
    """One file's plan; ``target``, ``added`` and ``widened`` take the changes it brings."""
    names = found.names
    if RESCUED in names:
        _refuse(item, [f"column {RESCUED} is the platform's rescue column; rename it in the file"])
    unknown = [name for name in names if name not in target]
    missing = tuple(name for name in target if name not in names and name != RESCUED)
    refusals = [
        f"primary key column {show_name(name)} is missing: every row needs its key; fix the file"
        for name in missing
        if name in evolution.key
    ]
    widening = _retypes(found, target, evolution, refusals)
    if unknown and evolution.mode == "strict":
        refusals.append(_strict_refusal(found, unknown, missing))
    elif unknown and evolution.mode == "add_columns":
        refusals += _unusable(found, unknown, target)
    elif unknown and found.unmapped:
        refusals += [
            f"column {show_name(name)} is {found.unmapped[name]}, which no declared type holds, so it cannot be "
            f"rescued; write it as a plain type or drop it from the file"
            for name in unknown
            if name in found.unmapped
        ]
    if refusals:
        _refuse(item, refusals)
    for name, wider in widening.items():
        widened[name] = (widened.get(name, (target[name], wider))[0], wider)
        target[name] = wider
    new: tuple[str, ...] = ()
    if evolution.mode == "add_columns":
        for name in unknown:
            target[name] = added[name] = found.types.get(name, STRING)
        new, unknown = tuple(unknown), []
    drift = FileDrift(missing, new, tuple(f"{n}: {widened[n][0]} -> {widened[n][1]}" for n in widening), tuple(unknown))
    present = {name: target[name] for name in target if name in names}
    if source.format != "json":  # CSV text or Parquet values of the unknown columns are packed after parsing
        own = {name: found.types.get(name, STRING) for name in unknown}
        return FilePlan(item, {**present, **own}, tuple(unknown), drift=drift)
    # JSON: under add_columns / rescue a line lacking a key reads it as NULL; rescued keys are packed by a rewrite
    rescue = evolution.mode == "rescue" and bool(unknown)
    if evolution.mode == "strict" or (found.uniform and not rescue):
        return FilePlan(item, present, drift=drift)
    rewritten = str(scratch / f"normalized-{uuid.uuid4().hex}.json")
    normalize_json(item, source, list(present), rescue, rewritten)
    schema = {**present, RESCUED: STRING} if rescue else present
    return FilePlan(InputFile(item.key, rewritten, item.sha256), schema, utf8=True, drift=drift)


def _retypes(
    found: FileColumns, target: dict[str, ColumnType], evolution: Evolution, refusals: list[str]
) -> dict[str, ColumnType]:
    """Parquet columns whose type does not read as the column's: the accepted widenings (refusals appended)."""
    if found.arrow is None:
        return {}
    widening = {}
    for name in found.names:
        if name not in target or parquet_castable(found.arrow.field(name).type, target[name]):
            continue
        own = found.types.get(name)
        if own is None:
            refusals.append(
                f"column {show_name(name)} is {found.unmapped[name]} in the file, which no declared type holds; "
                f"write it as {target[name]}"
            )
            continue
        change = schema_change({name: target[name]}, {name: own}, widen_types=evolution.widen_types)
        if change.refused:
            refusals += [refused.message for refused in change.refused]
        else:
            widening[name] = own
    return widening


def _strict_refusal(found: FileColumns, unknown: list[str], missing: tuple[str, ...]) -> str:
    shown = ", ".join(f"{show_name(name)} ({found.types.get(name, STRING)})" for name in unknown)
    message = f"new column(s) {shown}"
    if missing:
        message += f" (and missing column(s) {', '.join(map(show_name, missing))}, which would read NULL)"
    declare = ", ".join(f"{name}: {found.types.get(name, STRING)}" for name in unknown)
    return (
        f"{message}: schema.evolution is strict. Set schema.evolution: add_columns to add them (or rescue to keep "
        f"them in {RESCUED}), or declare them at the end of schema.columns ({declare}), then process the version "
        "again"
    )


def _unusable(found: FileColumns, unknown: list[str], target: Mapping[str, ColumnType]) -> list[str]:
    """Why new columns cannot be added as they are (names, types), as refusal lines."""
    lines = []
    lowered = {name.lower(): name for name in target}
    for name in unknown:
        if not COLUMN_PATTERN.match(name) or len(name) > 63 or name.lower() in RESERVED_COLUMNS:
            lines.append(f"new column {show_name(name)} is not a usable column name (see schema.columns' rules)")
        elif name.lower() in lowered:
            lines.append(f"new column {show_name(name)} differs from column {lowered[name.lower()]!r} only by case")
        elif name in found.unmapped:
            lines.append(f"new column {show_name(name)} is {found.unmapped[name]}, which no declared type holds")
        lowered.setdefault(name.lower(), name)
    if lines:
        lines.append("rename the columns in the file, or set schema.evolution: rescue to keep them in " + RESCUED)
    return lines


def _refuse(item: InputFile, refusals: list[str]) -> None:
    raise SchemaEvolutionRefused(f"{item.key}: the file's columns are refused: {'; '.join(refusals)}")


# ----------------------------------------------------------------- parsing


def parse_batch(parser: Parser, plan: BatchPlan, source: SourceSettings) -> ParseResult:
    """Parse the batch's files as planned and bring every row to ``plan.target`` (see the module contract)."""
    groups: dict[tuple[Any, ...], list[FilePlan]] = {}
    for file_plan in plan.files:
        schema = file_plan.parse_schema
        key = (tuple(schema.items()) if schema is not None else None, file_plan.rescued, file_plan.utf8)
        groups.setdefault(key, []).append(file_plan)
    positional = {name: column_type for name, column_type in plan.target.items() if name != RESCUED}
    parts = []
    for members in groups.values():
        schema = members[0].parse_schema if members[0].parse_schema is not None else positional
        parsed = parser.parse([member.item for member in members], read_as(source, members[0]), schema)
        for member in members:
            if member.utf8:
                os.remove(member.item.path)  # the normalized copy is parsed: free its scratch space
        parts.append(_to_target(parsed, members, plan.target))
    return _combined(parts, [file_plan.item.key for file_plan in plan.files], plan.target, len(groups) == 1)


def _to_target(parsed: ParseResult, members: list[FilePlan], target: dict[str, ColumnType]) -> ParseResult:
    parsed.rows = rows_to_target(parsed.rows, members[0].rescued, target)
    return parsed


def rows_to_target(rows: pa.Table, rescued: tuple[str, ...], target: dict[str, ColumnType]) -> pa.Table:
    """Parsed rows (a file plan's parse schema, ``_source_file``, ``_source_line``) with ``target``'s columns:
    ``rescued`` columns packed into ``_rescued``, missing ones NULL, narrower types cast up."""
    if rescued:
        rows = rows.append_column(RESCUED, _packed(rows, rescued)).drop_columns(list(rescued))
    arrays = []
    for name, column_type in target.items():
        wanted = arrow_type(column_type)
        if name in rows.column_names:
            column = rows.column(name)
            arrays.append(column if column.type == wanted else column.cast(wanted))
        else:
            arrays.append(pa.nulls(rows.num_rows, wanted))
    arrays.append(rows.column(SOURCE_FILE))
    lines = rows.column(SOURCE_LINE) if SOURCE_LINE in rows.column_names else pa.nulls(rows.num_rows, pa.int64())
    arrays.append(lines)
    return pa.Table.from_arrays(arrays, schema=rows_arrow_schema(target))


def read_as(source: SourceSettings, file_plan: FilePlan) -> SourceSettings:
    """The source settings ``file_plan.item`` is parsed with (a normalized JSON copy is UTF-8)."""
    return source.model_copy(update={"encoding": "utf-8"}) if file_plan.utf8 else source


def _packed(rows: pa.Table, rescued: tuple[str, ...]) -> pa.Array:
    """The ``_rescued`` texts of ``rows`` from the parsed unknown columns (CSV text, Parquet values)."""
    return rescued_values({name: rows.column(name) for name in rescued}, rows.num_rows)


def _combined(parts: list[ParseResult], order: list[str], target: dict[str, ColumnType], single: bool) -> ParseResult:
    if single:
        return parts[0]
    rows = pa.concat_tables([part.rows for part in parts]) if parts else rows_arrow_schema(target).empty_table()
    rejects = pa.concat_tables([part.rejects for part in parts]) if parts else REJECTS_SCHEMA.empty_table()
    rows_per_file: dict[str, int] = {}
    rejects_per_file: dict[str, int] = {}
    errors = {}
    for part in parts:
        rows_per_file.update(part.rows_per_file)
        rejects_per_file.update(part.rejects_per_file)
        errors.update(part.file_errors)
    ordered = [key for key in order if key in rows_per_file]
    return ParseResult(
        rows=rows,
        rejects=rejects,
        rows_per_file={key: rows_per_file[key] for key in ordered},
        rejects_per_file={key: rejects_per_file.get(key, 0) for key in ordered},
        file_errors=errors,
    )
