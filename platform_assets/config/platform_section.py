"""``platform:`` and ``platforms:``: this platform's stores, parser, processing and discovery settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from platform_assets.config.audit import AuditSettings
from platform_assets.config.base import Strict, check_db_url, check_name, check_store_url


class S3Settings(Strict):
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = None


class SparkSettings(Strict):
    master: str | None = "local[*]"
    remote: str | None = None
    conf: dict[str, str] = Field(default_factory=dict)
    s3a_direct: bool = False

    @model_validator(mode="after")
    def _one_target(self) -> SparkSettings:
        if self.remote and self.master and self.master != "local[*]":
            raise ValueError("give either spark.master or spark.remote, not both")
        return self


MAX_LINE_BYTES_DEFAULT = 256 << 20
"""``platform.processing.max_line_bytes`` when it is not set: 256 MiB."""


MEMORY_BUDGET_MB_DEFAULT = 1024
"""``platform.processing.memory_budget_mb`` when it is not set: 1 GiB."""


class ProcessingSettings(Strict):
    """``platform.processing``: how files are claimed, retried and read.

    ``max_line_bytes`` (default 256 MiB, at least 1 KiB) bounds how far the Arrow
    engine's CSV reader grows its block: the reader starts with blocks of
    16 MiB (4 MiB when it reads one file on several threads) and doubles the
    block, up to ``max_line_bytes``, while a record (a line, or the lines of a
    quoted value that spans them) does not fit. A record of up to
    ``max_line_bytes`` bytes always parses; a file with a longer one that does
    not fit fails with a message that names the file, the record's line and
    this key. The block is memory the reader holds per file it reads at once.
    JSON lines are read line by line and the Spark parser reads lines of any
    length (see ``ingest/parsing/spark_parser.py``): neither needs the key.

    ``memory_budget_mb`` (default 1024, more than 0) is the memory the Arrow
    engine may use for the data of one claim batch: files (and groups of
    files) well under it are read whole; a larger file is read, cast and
    written in record batches sized from the budget, as several Parquet data
    files committed in one Iceberg commit, so its peak memory follows the
    budget, not the file's size (see ``ingest/parsing/budget.py``). Fractions
    of a MiB are allowed (tests use them to split small files into many batches).

    A claim takes ``claim_batch_size`` files (default 64), and more small
    files while the batch's raw bytes stay within ``claim_batch_bytes``
    (default 32 MiB; 0 turns this off), up to ``claim_batch_max_files``
    (default 5000): thousands of tiny files are parsed, written and committed
    a few batches at a time instead of 64 at a time.
    """

    claim_batch_size: int = Field(default=64, ge=1)
    claim_batch_bytes: int = Field(default=32 << 20, ge=0)
    claim_batch_max_files: int = Field(default=5000, ge=1)
    lease_seconds: int = Field(default=300, ge=5)
    max_retries: int = Field(default=3, ge=0)
    retry_backoff_seconds: float = Field(default=30.0, ge=0)
    snapshot_retention_seconds: int = Field(default=3600, ge=0)
    max_line_bytes: int = Field(default=MAX_LINE_BYTES_DEFAULT, ge=1 << 10)
    memory_budget_mb: float = Field(default=MEMORY_BUDGET_MB_DEFAULT, gt=0, le=1 << 20)

    @model_validator(mode="after")
    def _retention_covers_leases(self) -> ProcessingSettings:
        if self.snapshot_retention_seconds < self.lease_seconds:
            raise ValueError(
                f"snapshot_retention_seconds ({self.snapshot_retention_seconds}) must be at least lease_seconds "
                f"({self.lease_seconds}): "
                "a reclaimed file needs the commit markers of its lease window"
            )
        return self


class DiscoverySettings(Strict):
    tick_seconds_budget: float = Field(default=40.0, gt=0)
    page_size: int = Field(default=1000, ge=1, le=1000)


class PlatformSection(Strict):
    name: str
    state_db: str = "sqlite:///state.db"
    raw_zone: str = "file:///data/raw"
    warehouse: str = "file:///data/warehouse"
    merge_store: str = "sqlite:///merge.db"
    s3: S3Settings | None = None
    engine: Literal["arrow", "spark"] = "arrow"
    spark: SparkSettings = Field(default_factory=SparkSettings)
    processing: ProcessingSettings = Field(default_factory=ProcessingSettings)
    discovery: DiscoverySettings = Field(default_factory=DiscoverySettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)  # the scheduled audit trail verification

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "platform name")

    @field_validator("raw_zone", "warehouse")
    @classmethod
    def _store_url(cls, value: str) -> str:
        return check_store_url(value)

    @field_validator("state_db", "merge_store")
    @classmethod
    def _db_url(cls, value: str) -> str:
        return check_db_url(value)


class RemotePlatform(Strict):
    merge_store: str

    @field_validator("merge_store")
    @classmethod
    def _db_url(cls, value: str) -> str:
        return check_db_url(value)
