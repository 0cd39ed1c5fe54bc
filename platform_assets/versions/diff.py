"""The difference between two versions of a product: files, rows by primary key, schema.

Contract (``platform-assets diff P A B``; the review queue and ``<product>/staged`` show the same):

- Files, from the catalog (key and sha256 of each version's files): added (in B
  only), removed (in A only), changed (in both, another sha256).
- Rows, from the versions' Iceberg partitions (``_version = A`` / ``= B``), by
  the product's primary key, in bulk (one DuckDB full outer join over the two
  Arrow scans, never a Python loop over rows): added (key in B only), removed
  (key in A only), changed (key in both, some column's value differs). Values
  are compared, not hashes: NULL and '' differ (``IS DISTINCT FROM``). Columns
  compared: those both versions' schemas hold (a column one of them lacks is a
  schema change, not a row change). A sample of up to ``sample`` keys of each
  kind, in key order; a changed key comes with each changed column's old and
  new value.
- Incremental products: a version holds only the files that were new or
  changed, so a key of A that B lacks is ``removed`` only when its file is one
  B holds too (the file lost the row); the others are ``not_carried``: rows of
  files B does not hold, which an incremental merge keeps. Snapshot products
  have no ``not_carried`` rows: a version holds every file.
- Schema: columns added, removed and retyped between the schemas A and B were
  processed under (the catalog's schema versions; for versions processed before
  those existed, the schema of the Iceberg snapshot that committed them).
- A version that does not exist, was never processed or has no data any more
  is a :class:`DiffRefused` naming it and what to do.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.expressions import EqualTo
from pyiceberg.table import Table

from platform_assets.config import ProductConfig
from platform_assets.errors import UserError
from platform_assets.storage import iceberg

if TYPE_CHECKING:
    from platform_assets.services import Services

SAMPLE_KEYS = 20
_OLD, _NEW = "__old", "__new"  # the two scans, as DuckDB sees them
_FILE = "_source_file"


class DiffRefused(UserError):
    """A version cannot be diffed (unknown, never processed, purged, no primary key); the message says why."""


@dataclass(frozen=True)
class ChangedRow:
    """One changed key: its key values and, per changed column, [old, new]."""

    key: dict[str, Any]
    changes: dict[str, list[Any]]


@dataclass(frozen=True)
class RowDiff:
    """Row figures of a diff (see the module contract)."""

    added: int
    removed: int
    changed: int
    not_carried: int
    unchanged: int
    added_keys: list[dict[str, Any]] = field(default_factory=list)
    removed_keys: list[dict[str, Any]] = field(default_factory=list)
    changed_rows: list[ChangedRow] = field(default_factory=list)


@dataclass(frozen=True)
class SchemaDiff:
    """Columns added, removed and retyped (name -> [old type, new type]) from A to B."""

    added: dict[str, str] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    retyped: dict[str, list[str]] = field(default_factory=dict)

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.retyped)


@dataclass(frozen=True)
class VersionDiff:
    """The difference from version ``old`` to version ``new`` of ``product``."""

    product: str
    old: int
    new: int
    mode: str
    primary_key: list[str]
    files_added: list[str]
    files_removed: list[str]
    files_changed: list[str]
    files_unchanged: int
    rows: RowDiff
    schema: SchemaDiff

    @property
    def removed_meaning(self) -> str:
        """What ``removed`` counts, in words (it differs by capture mode)."""
        if self.mode == "incremental":
            return (
                f"keys of v{self.old} missing from v{self.new} in files both versions hold; rows of files "
                f"v{self.new} does not hold are counted as not carried (an incremental merge keeps them)"
            )
        return f"keys of v{self.old} missing from v{self.new} (a snapshot version holds every file)"

    def as_json(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["removed_meaning"] = self.removed_meaning
        return payload


def version_diff(
    services: Services, product: ProductConfig, old: int, new: int, sample: int = SAMPLE_KEYS
) -> VersionDiff:
    """The diff from ``old`` to ``new`` (see the module contract)."""
    key = list(product.table_schema.primary_key) if product.table_schema else []
    if not key:
        raise DiffRefused(
            f"{product.name} declares no primary key: rows cannot be matched between versions; "
            "declare schema.primary_key in platform.yaml"
        )
    for number in (old, new):
        _check_version(services, product.name, number)
    files_old = {item.key: item.sha256 for item in services.catalog.review_files(product.name, old)}
    files_new = {item.key: item.sha256 for item in services.catalog.review_files(product.name, new)}
    table = services.iceberg.load(services.iceberg.data_table(product.name))
    schema_old = _version_schema(services, table, product.name, old)
    schema_new = _version_schema(services, table, product.name, new)
    compared = [name for name in schema_new if name in schema_old and name not in key]
    missing = [name for name in key if name not in schema_old or name not in schema_new]
    if missing:
        raise DiffRefused(f"{product.name}: the key column(s) {missing} are missing from v{old} or v{new}'s schema")
    incremental = product.mode == "incremental"
    rows_old = scan_version(table, old, [*key, *compared, *([_FILE] if incremental else [])])
    rows_new = scan_version(table, new, [*key, *compared])
    held = sorted(files_new) if incremental else None
    return VersionDiff(
        product=product.name,
        old=old,
        new=new,
        mode=product.mode,
        primary_key=key,
        files_added=sorted(set(files_new) - set(files_old)),
        files_removed=sorted(set(files_old) - set(files_new)),
        files_changed=sorted(name for name in files_new if name in files_old and files_old[name] != files_new[name]),
        files_unchanged=sum(1 for name in files_new if name in files_old and files_old[name] == files_new[name]),
        rows=row_diff(rows_old, rows_new, key, compared, sample, held_files=held),
        schema=schema_diff(schema_old, schema_new),
    )


def baseline_version(services: Services, product: str, version: int) -> int | None:
    """The version a new one is compared with: the published one, else the newest processed one before it."""
    published = services.catalog.published_version(product)
    if published is not None and published != version:
        return published
    earlier = [
        record.number
        for record in services.catalog.versions(product)
        if record.number < version
        and record.processed_at is not None
        and record.status.value not in ("FAILED", "DELETED", "PURGED")
    ]
    return max(earlier) if earlier else None


def diff_against_baseline(services: Services, product: ProductConfig, version: int) -> VersionDiff | None:
    """The diff from :func:`baseline_version` to ``version``; None when there is no baseline.

    Raises :class:`DiffRefused` when the versions cannot be compared (no primary key, say).
    """
    baseline = baseline_version(services, product.name, version)
    return None if baseline is None else version_diff(services, product, baseline, version)


def _check_version(services: Services, product: str, number: int) -> None:
    if not services.catalog.has_version(product, number):
        newest = services.catalog.newest_captured(product)
        hint = f"; the newest captured version is {newest}" if newest else ""
        raise DiffRefused(
            f"{product} has no version {number}{hint}; list them with `platform-assets versions {product}`"
        )
    record = services.catalog.version(product, number)
    if record.status.value in ("PURGED", "DELETED"):
        raise DiffRefused(f"{product} v{number} is {record.status.value}: its rows are not available to compare")
    if record.processed_at is None:
        raise DiffRefused(
            f"{product} v{number} has not been processed ({record.status.value}): its rows are not in the table "
            f"yet; run `platform-assets process {product} --version {number}`"
        )


def scan_version(table: Table, version: int, columns: Sequence[str]) -> pa.Table:
    """The ``columns`` of version ``version``'s rows (its Iceberg partition)."""
    scan = table.scan(row_filter=EqualTo(term="_version", value=version), selected_fields=tuple(columns))
    return scan.to_arrow().select(list(columns))


def _version_schema(services: Services, table: Table, product: str, version: int) -> dict[str, str]:
    """Column name -> type text of the schema ``version`` was processed under (lineage excluded)."""
    record = services.catalog.schema_of_version(product, version)
    if record is not None:
        return record.column_types
    schema = table.schema()
    for marker in iceberg.commit_markers(table):
        if marker.kind == "append" and marker.version == version:
            snapshot = table.snapshot_by_id(marker.snapshot_id)
            if snapshot is not None and snapshot.schema_id is not None:
                schema = table.schemas().get(snapshot.schema_id, schema)
            break
    return {
        column.name: str(column.field_type)
        for column in schema.fields
        if not column.name.startswith("_") or column.name == "_rescued"
    }


def schema_diff(old: dict[str, str], new: dict[str, str]) -> SchemaDiff:
    return SchemaDiff(
        added={name: kind for name, kind in new.items() if name not in old},
        removed={name: kind for name, kind in old.items() if name not in new},
        retyped={name: [old[name], kind] for name, kind in new.items() if name in old and old[name] != kind},
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def row_diff(
    old: pa.Table,
    new: pa.Table,
    key: list[str],
    compared: list[str],
    sample: int = SAMPLE_KEYS,
    held_files: list[str] | None = None,
) -> RowDiff:
    """Added, removed, changed rows of ``new`` against ``old`` by ``key`` over ``compared`` columns.

    One full outer join in DuckDB keeps only the rows that differ (a few per
    cent, typically); counts and samples come from those. ``held_files``
    (incremental products): the files ``new`` holds; ``old`` then carries
    ``_source_file``, and a missing key of another file is ``not_carried``.
    """
    connection = _cursor()
    try:
        connection.register(_OLD, old)
        connection.register(_NEW, new)
        held = "TRUE"
        if held_files is not None:
            connection.register("__held", pa.table({"file": pa.array(held_files, pa.string())}))
            held = f"o.{_quote(_FILE)} IN (SELECT file FROM __held)"
        found = connection.execute(_diff_query(old, new, key, compared, held)).fetch_arrow_table()
    finally:
        connection.close()
    kinds = found.column("__kind")
    counts = {kind: int(pc.sum(pc.equal(kinds, kind)).as_py() or 0) for kind in _KINDS}
    return RowDiff(
        added=counts["added"],
        removed=counts["removed"],
        changed=counts["changed"],
        not_carried=counts["not_carried"],
        unchanged=new.num_rows - counts["added"] - counts["changed"],
        added_keys=_first(found, "added", key, sample).select(key).to_pylist(),
        removed_keys=_first(found, "removed", key, sample).select(key).to_pylist(),
        changed_rows=_changes(_first(found, "changed", key, sample), key, compared),
    )


_KINDS = ("added", "removed", "changed", "not_carried")
_DATABASE: list[duckdb.DuckDBPyConnection] = []  # one in-memory DuckDB per process, opened on first use
_DATABASE_LOCK = threading.Lock()


def _cursor() -> duckdb.DuckDBPyConnection:
    """A connection of its own (a cursor: its registrations are its own) to the process's in-memory DuckDB;
    opening a database costs about 0.1 s, a cursor nothing."""
    with _DATABASE_LOCK:
        if not _DATABASE:
            _DATABASE.append(duckdb.connect())
        return _DATABASE[0].cursor()


def _diff_query(old: pa.Table, new: pa.Table, key: list[str], compared: list[str], held: str) -> str:
    """One full outer join of the two scans that keeps the rows that differ: their kind, key, per compared
    column whether it differs and both values. Without NULL keys a missing side is told by its first key
    column (no marker column to project)."""
    plain_keys = all(table.column(name).null_count == 0 for table in (old, new) for name in key)
    if plain_keys:
        on = " AND ".join(f"o.{_quote(name)} = n.{_quote(name)}" for name in key)
        absent_old, absent_new = f"o.{_quote(key[0])} IS NULL", f"n.{_quote(key[0])} IS NULL"
        sides = f"{_OLD} o FULL OUTER JOIN {_NEW} n"
    else:
        on = " AND ".join(f"o.{_quote(name)} IS NOT DISTINCT FROM n.{_quote(name)}" for name in key)
        absent_old, absent_new = "o.__in IS NULL", "n.__in IS NULL"
        sides = f"(SELECT *, TRUE AS __in FROM {_OLD}) o FULL OUTER JOIN (SELECT *, TRUE AS __in FROM {_NEW}) n"
    tests = {name: _distinct(name, old.schema.field(name).type, new.schema.field(name).type) for name in compared}
    kind = (
        f"CASE WHEN {absent_old} THEN 'added' "
        f"WHEN {absent_new} THEN (CASE WHEN {held} THEN 'removed' ELSE 'not_carried' END) ELSE 'changed' END"
    )
    keys = [f"coalesce(o.{_quote(name)}, n.{_quote(name)}) AS {_quote(name)}" for name in key]
    marks = [f"({test}) AS {_quote('__d_' + name)}" for name, test in tests.items()]
    values = [
        f"o.{_quote(name)} AS {_quote('__o_' + name)}, n.{_quote(name)} AS {_quote('__n_' + name)}" for name in compared
    ]
    condition = " OR ".join([absent_old, absent_new, *tests.values()])
    columns = ", ".join([f"{kind} AS __kind", *keys, *marks, *values])
    return f"SELECT {columns} FROM {sides} ON {on} WHERE {condition}"


def _distinct(name: str, old_type: pa.DataType, new_type: pa.DataType) -> str:
    """SQL true where the column's old and new values differ (as text when the types are not comparable)."""
    left, right = f"o.{_quote(name)}", f"n.{_quote(name)}"
    numeric = all(
        pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind)
        for kind in (old_type, new_type)
    )
    if old_type != new_type and not numeric:
        left, right = f"CAST({left} AS VARCHAR)", f"CAST({right} AS VARCHAR)"
    return f"{left} IS DISTINCT FROM {right}"


def _first(found: pa.Table, kind: str, key: list[str], sample: int) -> pa.Table:
    """The first ``sample`` differing rows of ``kind``, in key order."""
    rows = found.filter(pc.equal(found.column("__kind"), kind))
    if rows.num_rows > sample:
        order = pc.select_k_unstable(rows, sample, [(name, "ascending") for name in key])
        rows = rows.take(order)
    return rows.sort_by([(name, "ascending") for name in key])


def _changes(rows: pa.Table, key: list[str], compared: list[str]) -> list[ChangedRow]:
    found = []
    for row in rows.to_pylist():
        changes = {name: [row["__o_" + name], row["__n_" + name]] for name in compared if row["__d_" + name]}
        found.append(ChangedRow({name: row[name] for name in key}, changes))
    return found


def diff_lines(diff: VersionDiff) -> list[str]:
    """The diff as text, one fact per line (``platform-assets diff``)."""
    rows, schema = diff.rows, diff.schema
    lines = [f"{diff.product}: v{diff.old} -> v{diff.new} ({diff.mode}; key {', '.join(diff.primary_key)})"]
    if not schema.is_empty:
        lines.append("schema: " + _schema_text(schema))
    lines.append(
        f"files: {len(diff.files_added)} added, {len(diff.files_removed)} removed, {len(diff.files_changed)} changed, "
        f"{diff.files_unchanged} unchanged"
    )
    for label, names in (("added", diff.files_added), ("removed", diff.files_removed), ("changed", diff.files_changed)):
        lines += [f"  {label} {name}" for name in names[:SAMPLE_KEYS]]
    carried = f", {rows.not_carried} not carried" if diff.mode == "incremental" else ""
    lines.append(
        f"rows: {rows.added} added, {rows.removed} removed, {rows.changed} changed{carried}, {rows.unchanged} unchanged"
    )
    lines.append(f"  removed means: {diff.removed_meaning}")
    lines += [f"  added {_key_text(key)}" for key in rows.added_keys]
    lines += [f"  removed {_key_text(key)}" for key in rows.removed_keys]
    for row in rows.changed_rows:
        changes = "; ".join(f"{name}: {_value(old)} -> {_value(new)}" for name, (old, new) in row.changes.items())
        lines.append(f"  changed {_key_text(row.key)}: {changes}")
    return lines


def diff_markdown(diff: VersionDiff) -> str:
    """The diff as compact markdown (counts, then the sample), for Dagster metadata."""
    rows, schema = diff.rows, diff.schema
    carried = f" | {rows.not_carried} not carried" if diff.mode == "incremental" else ""
    parts = [
        f"**v{diff.old} -> v{diff.new}** ({diff.mode})",
        "",
        "| | added | removed | changed |",
        "|---|---|---|---|",
        f"| files | {len(diff.files_added)} | {len(diff.files_removed)} | {len(diff.files_changed)} |",
        f"| rows | {rows.added} | {rows.removed} | {rows.changed} |",
        "",
        f"_removed_: {diff.removed_meaning}{carried}",
    ]
    if not schema.is_empty:
        parts += ["", "**schema**: " + _schema_text(schema)]
    sample = [f"- added `{_key_text(key)}`" for key in rows.added_keys]
    sample += [f"- removed `{_key_text(key)}`" for key in rows.removed_keys]
    for row in rows.changed_rows:
        changes = ", ".join(f"{name}: `{_value(old)}` -> `{_value(new)}`" for name, (old, new) in row.changes.items())
        sample.append(f"- changed `{_key_text(row.key)}`: {changes}")
    if sample:
        parts += ["", f"sample (up to {SAMPLE_KEYS} keys of each kind):", *sample]
    return "\n".join(parts)


def _schema_text(schema: SchemaDiff) -> str:
    found = [f"+{name} {kind}" for name, kind in schema.added.items()]
    found += [f"-{name} {kind}" for name, kind in schema.removed.items()]
    found += [f"{name} {old} -> {new}" for name, (old, new) in schema.retyped.items()]
    return ", ".join(found)


def _key_text(key: dict[str, Any]) -> str:
    return ", ".join(f"{name}={_value(value)}" for name, value in key.items())


def _value(value: Any) -> str:
    """A value as shown: NULL for None, strings quoted (so '' shows as '')."""
    if value is None:
        return "NULL"
    return repr(value) if isinstance(value, str) else str(value)
