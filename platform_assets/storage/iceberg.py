"""The iceberg catalog and the product tables in it (``IcebergTables``).

Contract:
- The catalog is a pyiceberg SqlCatalog on the state database (SQLite or
  PostgreSQL) with the platform's warehouse; it is named after the platform
  and holds one namespace, the platform's name.
- ``<platform>.<product>`` holds the product's columns plus ``_version`` (int,
  the identity partition), ``_source_file``, ``_source_sha256``,
  ``_ingested_at`` and ``_source_line``; ``<platform>.<product>_rejects`` holds rejected rows with the
  same lineage plus line number, raw text and reason.
- Every append carries snapshot summary properties (:data:`MARKER_FILES` ...)
  naming the files and checksums it commits: the exactly-once marker.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from urllib.parse import urlsplit

import pyarrow as pa
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables as SqlCatalogRow
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    CommitFailedException,
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.expressions import EqualTo
from pyiceberg.manifest import DataFile
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema, assign_fresh_schema_ids
from pyiceberg.table import CommitTableResponse, Table, Transaction
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.table.update import TableRequirement, TableUpdate, _apply_table_update, _TableMetadataUpdateContext
from pyiceberg.table.update.snapshot import ExpireSnapshots
from pyiceberg.transforms import IdentityTransform
from sqlalchemy.exc import DBAPIError, IntegrityError

from platform_assets.config import S3Settings
from platform_assets.storage.sql import normalize_db_url, shared_engine

LINEAGE_FIELDS = (
    pa.field("_version", pa.int32(), nullable=False),
    pa.field("_source_file", pa.string(), nullable=False),
    pa.field("_source_sha256", pa.string(), nullable=False),
    pa.field("_ingested_at", pa.timestamp("us", tz="UTC"), nullable=False),
)
SOURCE_LINE_FIELD = pa.field("_source_line", pa.int64())
"""The row's line in its source file (see ``ingest.parsing.result``); data table only, optional: tables made
before it got it added on their next write, their older rows read NULL."""
REJECT_FIELDS = (
    pa.field("_line_number", pa.int64()),
    pa.field("_raw", pa.string()),
    pa.field("_reason", pa.string()),
)
REJECT_PREVIEW_COLUMNS = ("_source_file", "_line_number", "_reason", "_raw")
"""What a preview of rejected rows shows, in order."""
MARKER_KIND = "platform.kind"
MARKER_VERSION = "platform.version"
MARKER_GENERATION = "platform.generation"
MARKER_FILES = "platform.files"
MARKER_ROWS = "platform.rows"
MARKER_DRIFT = "platform.drift"
"""file id -> how its columns differed from the product's (``ingest.evolution.FileDrift``), when any did."""
TABLE_PROPERTIES = {
    "write.metadata.previous-versions-max": "10",
    "write.metadata.delete-after-commit.enabled": "true",
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "20",
    # No silent rebase-and-retry inside pyiceberg: with_commit_retries reloads and re-checks the markers.
    "commit.retry.num-retries": "0",
}
COMMIT_ATTEMPTS = 12


@dataclass(frozen=True)
class CommitMarker:
    """What one snapshot committed for the platform (from its summary properties)."""

    snapshot_id: int
    timestamp_ms: int
    kind: str
    version: int
    generation: int
    file_ids: frozenset[int]
    rows: dict[int, int]
    drift: dict[int, dict[str, list[str]]] = field(default_factory=dict)


class PlatformIcebergCatalog(SqlCatalog):
    """A SqlCatalog that parses each metadata file once.

    Iceberg metadata files are immutable, so the parsed metadata at a location
    is reused for as long as the iceberg catalog row points there; every load still
    reads the row, so other writers' commits are always seen.
    """

    CACHED_LOCATIONS = 16

    def __init__(self, name: str, **properties: str) -> None:
        super().__init__(name, **properties)
        self._parsed: OrderedDict[str, TableMetadata] = OrderedDict()
        self._parsed_lock = threading.Lock()

    def _convert_orm_to_iceberg(self, orm_table: SqlCatalogRow) -> Table:
        location = orm_table.metadata_location
        metadata = self._cached(location) if location else None
        if metadata is None or location is None:
            table = super()._convert_orm_to_iceberg(orm_table)
            self._remember(table.metadata_location, table.metadata)
            return table
        return Table(
            identifier=Catalog.identifier_to_tuple(orm_table.table_namespace) + (orm_table.table_name,),
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(metadata.properties, location),
            catalog=self,
        )

    def commit_table(
        self, table: Table, requirements: tuple[TableRequirement, ...], updates: tuple[TableUpdate, ...]
    ) -> CommitTableResponse:
        response = super().commit_table(table, requirements, updates)
        self._remember(response.metadata_location, response.metadata)
        return response

    def _cached(self, location: str) -> TableMetadata | None:
        with self._parsed_lock:
            metadata = self._parsed.get(location)
            if metadata is not None:
                self._parsed.move_to_end(location)
            return metadata

    def _remember(self, location: str, metadata: TableMetadata) -> None:
        with self._parsed_lock:
            self._parsed[location] = metadata
            while len(self._parsed) > self.CACHED_LOCATIONS:
                self._parsed.popitem(last=False)


def open_iceberg_catalog(
    platform_name: str, state_db_url: str, warehouse_url: str, s3: S3Settings | None = None
) -> SqlCatalog:
    """The platform's SqlCatalog, its engine swapped for one that is safe under concurrent writers."""
    url = normalize_db_url(state_db_url)
    properties = {"uri": url, "warehouse": warehouse_url, "init_catalog_tables": "true"}
    if urlsplit(warehouse_url).scheme == "s3" and s3 is not None:
        properties.update(_s3_properties(s3))
    try:
        iceberg_catalog = PlatformIcebergCatalog(platform_name, **properties)
    except DBAPIError:
        # Another process created the iceberg catalog tables between our check and our CREATE TABLE.
        iceberg_catalog = PlatformIcebergCatalog(platform_name, **properties)
    iceberg_catalog.engine.dispose()
    iceberg_catalog.engine = shared_engine(url)
    try:
        iceberg_catalog.create_namespace(platform_name)
    except (NamespaceAlreadyExistsError, IntegrityError):
        # pyiceberg checks, then inserts: a worker starting at the same moment gets the unique violation.
        if not iceberg_catalog.namespace_exists(platform_name):
            raise
    return iceberg_catalog


def _s3_properties(s3: S3Settings) -> dict[str, str]:
    properties = {"s3.region": s3.region}
    if s3.endpoint_url:
        properties["s3.endpoint"] = s3.endpoint_url
    if s3.access_key_id:
        properties["s3.access-key-id"] = s3.access_key_id
    if s3.secret_access_key:
        properties["s3.secret-access-key"] = s3.secret_access_key
    return properties


def product_arrow_schema(columns: pa.Schema) -> pa.Schema:
    """The product table's schema: the product's columns, then the lineage columns and ``_source_line``."""
    return pa.schema(list(columns) + list(LINEAGE_FIELDS) + [SOURCE_LINE_FIELD])


def rejects_arrow_schema() -> pa.Schema:
    return pa.schema(list(LINEAGE_FIELDS) + list(REJECT_FIELDS))


def ensure_table(iceberg_catalog: SqlCatalog, identifier: str, schema: pa.Schema) -> Table:
    """Load ``identifier``, creating it (partitioned by ``_version``) when absent.

    The table is created with its partition spec in one commit: a worker that
    loads it right after another one created it never sees it unpartitioned.
    """
    try:
        return iceberg_catalog.load_table(identifier)
    except NoSuchTableError:
        pass
    iceberg_schema, spec = _partitioned_by_version(schema)
    try:
        return iceberg_catalog.create_table(
            identifier, schema=iceberg_schema, partition_spec=spec, properties=TABLE_PROPERTIES
        )
    except TableAlreadyExistsError:
        return iceberg_catalog.load_table(identifier)


PARTITION_FIELD_ID = 1000
"""Iceberg's first partition field id (what ``update_spec().add_identity`` gives a table's first partition field)."""


def _partitioned_by_version(schema: pa.Schema) -> tuple[Schema, PartitionSpec]:
    """``schema`` as an Iceberg schema with field ids, and the identity partition spec on its ``_version`` column."""
    iceberg_schema = assign_fresh_schema_ids(Catalog._convert_schema_if_needed(schema))
    source = iceberg_schema.find_field("_version").field_id
    return iceberg_schema, PartitionSpec(
        PartitionField(source_id=source, field_id=PARTITION_FIELD_ID, transform=IdentityTransform(), name="_version")
    )


def commit_markers(table: Table) -> list[CommitMarker]:
    """Every platform marker among the table's retained snapshots, oldest first."""
    markers = []
    table_uuid = str(table.metadata.table_uuid)
    for snapshot in table.metadata.snapshots:
        key = (table_uuid, snapshot.snapshot_id)
        if key not in _MARKERS:
            if len(_MARKERS) >= _MARKERS_KEPT:
                _MARKERS.clear()
            _MARKERS[key] = _marker_of(snapshot)
        marker = _MARKERS[key]
        if marker is not None:
            markers.append(marker)
    return markers


# Parsed markers by (table uuid, snapshot id): a snapshot never changes, and tables keep their uuid.
_MARKERS: dict[tuple[str, int], CommitMarker | None] = {}
_MARKERS_KEPT = 65536


def _marker_of(snapshot: Snapshot) -> CommitMarker | None:
    summary = snapshot.summary.additional_properties if snapshot.summary else {}
    if MARKER_KIND not in summary:
        return None
    return CommitMarker(
        snapshot_id=snapshot.snapshot_id,
        timestamp_ms=snapshot.timestamp_ms,
        kind=summary[MARKER_KIND],
        version=int(summary[MARKER_VERSION]),
        generation=int(summary[MARKER_GENERATION]),
        file_ids=frozenset(int(item[0]) for item in json.loads(summary.get(MARKER_FILES, "[]"))),
        rows=decode_row_counts(summary.get(MARKER_ROWS, "{}")),
        drift={int(file_id): found for file_id, found in json.loads(summary.get(MARKER_DRIFT, "{}")).items()},
    )


def marker_properties(kind: str, version: int, generation: int, files: Iterable[tuple[int, str]]) -> dict[str, str]:
    """Snapshot summary properties naming the (file id, sha256) pairs a commit holds."""
    return {
        MARKER_KIND: kind,
        MARKER_VERSION: str(version),
        MARKER_GENERATION: str(generation),
        MARKER_FILES: json.dumps(sorted([file_id, sha] for file_id, sha in files), separators=(",", ":")),
    }


def encode_row_counts(rows: dict[int, int]) -> str:
    return json.dumps({str(file_id): count for file_id, count in sorted(rows.items())}, separators=(",", ":"))


def decode_row_counts(text: str) -> dict[int, int]:
    return {int(file_id): int(count) for file_id, count in json.loads(text).items()}


def committed_file_ids(table: Table, version: int, generation: int) -> set[int]:
    """Files of (version, generation) whose rows some retained snapshot already committed."""
    found: set[int] = set()
    for marker in commit_markers(table):
        if marker.kind == "append" and marker.version == version and marker.generation == generation:
            found |= marker.file_ids
    return found


def with_commit_retries(iceberg_catalog: SqlCatalog, identifier: str, attempt: Callable[[Table], None]) -> Table:
    """Run ``attempt`` on a freshly loaded table until its commit is not beaten by another writer."""
    for number in range(1, COMMIT_ATTEMPTS + 1):
        table = iceberg_catalog.load_table(identifier)
        try:
            attempt(table)
            return iceberg_catalog.load_table(identifier)
        except CommitFailedException:
            if number == COMMIT_ATTEMPTS:
                raise
            time.sleep(min(0.05 * 2**number, 2.0))
    raise AssertionError("unreachable")


class _Transaction(Transaction):
    """A pyiceberg Transaction that applies its staged updates once per change.

    pyiceberg's own re-applies every staged update and deep-copies the whole
    table metadata each time ``table_metadata`` is read, some twenty times per
    commit, so commit cost grew with the number of retained snapshots. The
    metadata is immutable, so the applied result is reused until the base
    metadata or the staged updates change, and is not deep-copied.
    """

    _applied: tuple[TableMetadata, tuple[TableUpdate, ...], TableMetadata] | None = None

    @property
    def table_metadata(self) -> TableMetadata:
        base, updates = self._table.metadata, self._updates
        if not updates:
            return base
        if self._applied is None or self._applied[0] is not base or self._applied[1] is not updates:
            self._applied = (base, updates, _apply_updates(base, updates))
        return self._applied[2]


def _apply_updates(base: TableMetadata, updates: tuple[TableUpdate, ...]) -> TableMetadata:
    """``updates`` applied to ``base`` as pyiceberg's ``update_table_metadata`` does, minus its deep copy.

    Each step builds new metadata objects and mutates none, so the copy only
    costs time (it grows with the retained snapshots). This is the staging view
    only: at commit the iceberg catalog applies the updates to the table's metadata
    again and validates the result.
    """
    context = _TableMetadataUpdateContext()
    metadata = base
    for update in updates:
        metadata = _apply_table_update(update, metadata, context)
    return metadata


def commit_files(
    table: Table,
    files: list[DataFile],
    properties: dict[str, str],
    expire: list[int] | None = None,
    schema_update: Callable[[Transaction], None] | None = None,
) -> None:
    """One append snapshot of ``files`` (possibly none: the markers still land) carrying ``properties``.

    The snapshots in ``expire`` are removed in the same commit, so expiry
    costs no commit of its own. ``schema_update`` stages a schema change in
    the transaction before the append, so both land in the same commit (see
    :mod:`platform_assets.storage.iceberg_schema`).
    """
    with _Transaction(table) as transaction:
        if schema_update is not None:
            schema_update(transaction)
        update = transaction.update_snapshot(snapshot_properties=properties)
        with update.merge_append() as append:
            for data_file in files:
                append.append_data_file(data_file)
        if expire:
            ExpireSnapshots(transaction=transaction).by_ids(expire).commit()


def delete_files(table: Table, files: list[DataFile]) -> None:
    """Remove written but never committed data files."""
    for data_file in files:
        table.io.delete(data_file.file_path)


def reset_version(iceberg_catalog: SqlCatalog, identifier: str, version: int, generation: int) -> None:
    """Delete the version's rows once for ``generation``, never after that generation began appending.

    Safe to call from several workers: a worker that finds the generation's
    reset or any of its appends already committed does nothing; a concurrent
    commit in between makes the delete's commit fail and be retried.
    """

    def attempt(table: Table) -> None:
        for marker in commit_markers(table):
            if marker.version == version and marker.generation == generation and marker.kind in ("reset", "append"):
                return
        table.delete(
            EqualTo(term="_version", value=version),
            snapshot_properties=marker_properties("reset", version, generation, []),
        )

    with_commit_retries(iceberg_catalog, identifier, attempt)


def expirable_snapshots(
    table: Table, retention: timedelta, keep: Callable[[CommitMarker], bool], now: datetime | None = None
) -> list[int]:
    """Snapshots older than ``retention`` at ``now`` (default: now), except the current one and those whose marker
    ``keep`` protects."""
    cutoff_ms = int(((now or datetime.now(UTC)) - retention).timestamp() * 1000)
    current = table.current_snapshot()
    protected = {marker.snapshot_id for marker in commit_markers(table) if keep(marker)}
    protected |= {ref.snapshot_id for ref in table.metadata.refs.values()}  # tags (``published``) keep theirs
    return [
        snapshot.snapshot_id
        for snapshot in table.metadata.snapshots
        if snapshot.timestamp_ms < cutoff_ms
        and snapshot.snapshot_id not in protected
        and (current is None or snapshot.snapshot_id != current.snapshot_id)
    ]


@dataclass(frozen=True)
class TableView:
    """A product table as the UI shows it: its schema, current snapshot and the first rows of one version."""

    identifier: str
    schema: pa.Schema
    snapshot_id: int | None
    preview: pa.Table


class IcebergTables:
    """The platform's Iceberg tables: per product ``<platform>.<product>`` and ``<platform>.<product>_rejects``.

    The iceberg catalog (a SqlCatalog on the state database) is opened on first
    use, after ``before_open`` (the state catalog creates and migrates the
    database they share).
    """

    def __init__(
        self,
        platform_name: str,
        state_db_url: str,
        warehouse_url: str,
        s3: S3Settings | None = None,
        before_open: Callable[[], None] | None = None,
    ) -> None:
        self.namespace = platform_name
        self._state_db_url = state_db_url
        self._warehouse_url = warehouse_url
        self._s3 = s3
        self._before_open = before_open

    @cached_property
    def iceberg_catalog(self) -> SqlCatalog:
        if self._before_open is not None:
            self._before_open()
        return open_iceberg_catalog(self.namespace, self._state_db_url, self._warehouse_url, self._s3)

    def data_table(self, product_name: str) -> str:
        """The identifier of the product's table."""
        return f"{self.namespace}.{product_name}"

    def rejects_table(self, product_name: str) -> str:
        """The identifier of the table of the product's rejected rows."""
        return f"{self.namespace}.{product_name}_rejects"

    def load(self, identifier: str) -> Table:
        return self.iceberg_catalog.load_table(identifier)

    def version_rows(self, product_name: str, version: int, columns: list[str] | None) -> pa.Table:
        """Version ``version``'s rows of the product's table: ``columns``, else every non-lineage column."""
        table = self.load(self.data_table(product_name))
        selected = tuple(columns) if columns else ("*",)
        rows = table.scan(row_filter=EqualTo(term="_version", value=version), selected_fields=selected).to_arrow()
        if columns:
            return rows.select(columns)
        return rows.drop_columns([name for name in rows.column_names if name.startswith("_")])

    def rejected_rows(self, product_name: str, version: int, limit: int) -> pa.Table:
        """Up to ``limit`` rejected rows of ``version`` (file, line, reason, raw text), sorted by file and line.

        The scan stops at ``limit`` rows (in the table's order, which is the
        order files were appended), so a large version costs no more than its
        preview. Empty when the product has no rejects table yet.
        """
        try:
            table = self.load(self.rejects_table(product_name))
        except NoSuchTableError:
            return pa.table({name: pa.array([], pa.string()) for name in REJECT_PREVIEW_COLUMNS})
        scan = table.scan(
            row_filter=EqualTo(term="_version", value=version), selected_fields=REJECT_PREVIEW_COLUMNS, limit=limit
        )
        rows = scan.to_arrow().select(list(REJECT_PREVIEW_COLUMNS))
        return rows.sort_by([("_source_file", "ascending"), ("_line_number", "ascending")])

    def view(self, product_name: str, version: int, preview_rows: int) -> TableView:
        """The product table's schema, current snapshot and first ``preview_rows`` rows of ``version``."""
        identifier = self.data_table(product_name)
        table = self.load(identifier)
        preview = table.scan(row_filter=EqualTo(term="_version", value=version), limit=preview_rows).to_arrow()
        snapshot = table.current_snapshot()
        return TableView(identifier, table.schema().as_arrow(), snapshot.snapshot_id if snapshot else None, preview)
