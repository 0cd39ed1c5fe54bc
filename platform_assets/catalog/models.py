"""State catalog tables (SQLAlchemy 2.0 typed models).

The schema is owned by the Alembic migrations in ``catalog/migrations``; these
models must stay equal to what they create (a test compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from platform_assets.catalog.states import (
    CaptureMode,
    Decision,
    FileChange,
    FileStatus,
    RunKind,
    RunStatus,
    VersionOrigin,
    VersionStatus,
)


def utc_now() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on the way in and out, also on SQLite (which stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the catalog stores timezone-aware UTC only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _stored_as_text(enum_class: type[StrEnum]) -> Enum:
    """A column type for ``enum_class`` that stores each member's value as plain text (no CHECK, no native enum)."""
    return Enum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        FileStatus: _stored_as_text(FileStatus),
        VersionStatus: _stored_as_text(VersionStatus),
        FileChange: _stored_as_text(FileChange),
        CaptureMode: _stored_as_text(CaptureMode),
        RunKind: _stored_as_text(RunKind),
        RunStatus: _stored_as_text(RunStatus),
        VersionOrigin: _stored_as_text(VersionOrigin),
        Decision: _stored_as_text(Decision),
    }


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    last_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class Version(Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("product_id", "number", name="uq_versions_product_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    number: Mapped[int] = mapped_column(Integer)
    mode: Mapped[CaptureMode]
    status: Mapped[VersionStatus] = mapped_column(default=VersionStatus.DISCOVERED)
    parent_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    file_count: Mapped[int] = mapped_column(Integer, default=0)
    byte_count: Mapped[int] = mapped_column(BigInteger, default=0)
    new_count: Mapped[int] = mapped_column(Integer, default=0)
    changed_count: Mapped[int] = mapped_column(Integer, default=0)
    removed_count: Mapped[int] = mapped_column(Integer, default=0)
    process_generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    reset_pending: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    excluded: Mapped[bool] = mapped_column(Boolean, default=False)
    exclude_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # why it is in its status, where known
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    captured_at: Mapped[datetime | None] = mapped_column(nullable=True)
    processed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
    # Review and publication (migration 0004).
    origin: Mapped[VersionOrigin] = mapped_column(default=VersionOrigin.SOURCE, server_default="source")
    awaiting_since: Mapped[datetime | None] = mapped_column(nullable=True)
    decision: Mapped[Decision | None] = mapped_column(nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
    decision_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    published_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Schema versions (migration 0008): the schema_versions.number the version was processed under.
    schema_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Soft delete and retention (migration 0010).
    deleted_at: Mapped[datetime | None] = mapped_column(nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    delete_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_before_delete: Mapped[VersionStatus | None] = mapped_column(nullable=True)  # what restore returns to
    purge_started_at: Mapped[datetime | None] = mapped_column(nullable=True)  # a purge's intent, before any delete
    purge_rule: Mapped[str | None] = mapped_column(Text, nullable=True)
    purged_at: Mapped[datetime | None] = mapped_column(nullable=True)
    purged_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class RawFile(Base):
    __tablename__ = "raw_files"
    __table_args__ = (
        UniqueConstraint("product_id", "version", "key", name="uq_raw_files_product_version_key"),
        Index("ix_raw_files_version_status", "product_id", "version", "status"),
        Index("ix_raw_files_status_lease", "status", "lease_expires_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    version: Mapped[int] = mapped_column(Integer)
    key: Mapped[str] = mapped_column(Text)
    raw_location: Mapped[str | None] = mapped_column(Text, nullable=True)
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str | None] = mapped_column(String(128), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    source_last_modified: Mapped[datetime | None] = mapped_column(nullable=True)
    change: Mapped[FileChange] = mapped_column(default=FileChange.NEW)
    is_empty: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[FileStatus] = mapped_column(default=FileStatus.DISCOVERED)
    error_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    retry_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    rows_written: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    rows_rejected: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now, onupdate=utc_now)
    captured_at: Mapped[datetime | None] = mapped_column("ingested_at", nullable=True)  # column name kept
    processed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    rejected_reason: Mapped[str | None] = mapped_column(Text, nullable=True)  # a reviewer rejected the file
    schema_drift: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON: how its columns differed (0011)


class SourceObject(Base):
    """The catalog's picture of the source as of the newest version: what a new listing is diffed against."""

    __tablename__ = "source_objects"

    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    etag: Mapped[str | None] = mapped_column(String(128), nullable=True)
    size: Mapped[int] = mapped_column(BigInteger)
    last_modified: Mapped[datetime | None] = mapped_column(nullable=True)
    last_version: Mapped[int] = mapped_column(Integer)


class ListingPage(Base):
    """Objects of a source listing that spans several sensor ticks, kept until the listing completes."""

    __tablename__ = "listing_pages"
    __table_args__ = (Index("ix_listing_pages_scan", "product_id", "scan_id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    scan_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(Text)
    etag: Mapped[str | None] = mapped_column(String(128), nullable=True)
    size: Mapped[int] = mapped_column(BigInteger)
    last_modified: Mapped[datetime | None] = mapped_column(nullable=True)


class SchemaVersion(Base):
    """One schema a product's data was processed under: its columns (name, type) in order, key, and origin."""

    __tablename__ = "schema_versions"
    __table_args__ = (UniqueConstraint("product_id", "number", name="uq_schema_versions_product_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    number: Mapped[int] = mapped_column(Integer)
    columns: Mapped[list[list[str]]] = mapped_column(JSON)  # [[name, type], ...] in order
    primary_key: Mapped[list[str]] = mapped_column(JSON)
    introduced_by: Mapped[int] = mapped_column(Integer)  # the version whose processing committed it
    change: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utc_now)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_product_version_kind", "product_id", "version", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[RunKind]
    status: Mapped[RunStatus]
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    dagster_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)


class Worker(Base):
    """A processing worker: the process behind a lease owner, to tell a dead holder from a live one."""

    __tablename__ = "workers"
    __table_args__ = (UniqueConstraint("name", name="uq_workers_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128))  # raw_files.lease_owner of its files
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    pid_namespace: Mapped[str] = mapped_column(String(64))  # '' where the platform has none to read
    process_token: Mapped[str] = mapped_column(String(128))  # boot id and start ticks: tells a reused pid
    process_started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    advisory_lock: Mapped[bool] = mapped_column(Boolean)  # holds a PostgreSQL session lock while it lives
    started_at: Mapped[datetime] = mapped_column(default=utc_now)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utc_now)
    stopped_at: Mapped[datetime | None] = mapped_column(nullable=True)
    stop_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditEvent(Base):
    """One audit event, a link of its chain (see :mod:`platform_assets.catalog.audit_chain`; migration 0009)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_entity", "entity_type", "entity_id"),
        UniqueConstraint("chain", "seq", name="uq_audit_events_chain_seq"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utc_now)
    change: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    dagster_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the run that made the change
    chain: Mapped[str] = mapped_column(String(64))  # the product's name, or '_platform'
    seq: Mapped[int] = mapped_column(BigInteger)  # 1, 2, 3, ... within the chain
    prev_hash: Mapped[str] = mapped_column(String(64))  # the hash of the chain's event before it
    hash: Mapped[str] = mapped_column(String(64))  # sha256 of its canonical content (with prev_hash)


class AuditChain(Base):
    """The head of one audit chain: its last event's seq and hash (locked while a transaction appends)."""

    __tablename__ = "audit_chains"

    chain: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


def table_of(model: type[Base]) -> Table:
    """The Core table of ``model``, for bulk statements that bypass the ORM."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
