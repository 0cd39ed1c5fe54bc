"""One platform's stores and services, built lazily from its validated config.

The CLI and the Dagster layer both go through :class:`Platform`, so they share
one way to reach the catalog, the object stores and the merge store.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from platform_assets.catalog.audit import default_actor
from platform_assets.catalog.db import open_catalog
from platform_assets.config import PlatformConfig, ProductConfig, load_config
from platform_assets.ingest.capture import CaptureResult, capture_version
from platform_assets.ingest.discovery import RegisteredVersion, register_version, scan_source
from platform_assets.storage.iceberg import open_iceberg_catalog
from platform_assets.storage.object_store import ObjectStore, open_store

if TYPE_CHECKING:
    from platform_assets.ingest.parsing import ParsingEngine
    from platform_assets.ingest.processing import ProcessReport, ProcessTarget


class Platform:
    """Services of the platform described by ``config``; engines and stores are created on first use."""

    def __init__(self, config: PlatformConfig, actor: str | None = None) -> None:
        self.config = config
        self.actor = actor or default_actor()
        self._source_stores: dict[str, ObjectStore] = {}

    @classmethod
    def from_path(cls, path: str | None = None, actor: str | None = None) -> Platform:
        return cls(load_config(path), actor)

    @property
    def name(self) -> str:
        return self.config.platform.name

    def product(self, name: str) -> ProductConfig:
        return self.config.product(name)

    @cached_property
    def state_engine(self) -> Engine:
        """The state catalog, migrated on first use."""
        return open_catalog(self.config.platform.state_db)

    @cached_property
    def raw_zone(self) -> ObjectStore:
        return open_store(self.config.platform.raw_zone, self.config.platform.s3)

    def source_store(self, product: ProductConfig) -> ObjectStore:
        store = self._source_stores.get(product.name)
        if store is None:
            store = open_store(product.source.url, self.config.platform.s3)
            self._source_stores[product.name] = store
        return store

    def sync(self, product_name: str) -> RegisteredVersion | None:
        """List the whole source now and register a version if anything changed."""
        product = self.product(product_name)
        progress = scan_source(
            self.state_engine, product, self.source_store(product), None, None, budget_seconds=float("inf")
        )
        return register_version(self.state_engine, product, progress.objects, self.actor)

    def capture(self, product_name: str, version: int) -> CaptureResult:
        product = self.product(product_name)
        return capture_version(
            self.state_engine, product.name, version, self.source_store(product), self.raw_zone, self.actor
        )

    @cached_property
    def iceberg_catalog(self) -> Any:
        """The pyiceberg SqlCatalog on the state database (created after the catalog migrations)."""
        self.state_engine  # noqa: B018 - the state DB must exist and be migrated first
        platform = self.config.platform
        return open_iceberg_catalog(platform.name, platform.state_db, platform.warehouse, platform.s3)

    @cached_property
    def merge_store(self) -> Any:
        """This platform's merge store (tables are created per product on first merge)."""
        from platform_assets.merge import MergeStore

        return MergeStore(self.config.platform.merge_store)

    def process_target(self, product_name: str) -> ProcessTarget:
        from platform_assets.ingest.processing import ProcessTarget, table_identifiers

        table, rejects = table_identifiers(self.name, product_name)
        return ProcessTarget(self.iceberg_catalog, table, rejects)

    def parser_for(self, product: ProductConfig, spark_session: Callable[[], Any] | None = None) -> ParsingEngine:
        """The product's engine: Arrow in process, or Spark on the session ``spark_session`` gives."""
        from platform_assets.ingest.parsing import ArrowEngine

        if self.config.engine_for(product) == "arrow":
            return ArrowEngine(max_line_bytes=self.config.platform.processing.max_line_bytes)
        from platform_assets.ingest.parsing import SparkEngine
        from platform_assets.ingest.spark_session import get_spark_session

        session = spark_session() if spark_session else get_spark_session(self.config.platform.spark.model_dump())
        return SparkEngine(session)

    def process(
        self,
        product_name: str,
        version: int,
        *,
        retry_failed: bool = False,
        reprocess: bool = False,
        parser: ParsingEngine | None = None,
        worker: str | None = None,
    ) -> ProcessReport:
        from platform_assets.ingest.processing import process_version

        product = self.product(product_name)
        return process_version(
            self.state_engine,
            self.process_target(product_name),
            self.raw_zone,
            product,
            version,
            parser or self.parser_for(product),
            self.config.platform.processing,
            worker=worker,
            retry_failed=retry_failed,
            reprocess=reprocess,
            actor=self.actor,
        )

    def skip(self, product_name: str, version: int, key: str, reason: str) -> str:
        from platform_assets.ingest.processing import settle_version
        from platform_assets.versions.skipping import skip_file

        previous = skip_file(self.state_engine, product_name, version, key, reason, self.actor)
        settle_version(self.state_engine, product_name, version, self.actor)
        return previous
