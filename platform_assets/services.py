"""What a step of the platform works with: one typed container of its stores and helpers.

Contract: every step on a version takes the same shape,
``step(services, product, version, options) -> result`` (capture, process,
merge), and reaches the state catalog, the raw zone, the sources, the Iceberg
tables, the merge store and the parsers only through :class:`Services`.
:class:`platform_assets.platform.Platform` assembles it from the config; the
stores open their connections on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from platform_assets.catalog import Catalog
from platform_assets.config import PlatformConfig, ProcessingSettings, ProductConfig, S3Settings
from platform_assets.ingest.parsing import ArrowParser, Parser
from platform_assets.merge.store import MergeStore
from platform_assets.storage.iceberg import IcebergTables
from platform_assets.storage.object_store import ObjectStore
from platform_assets.storage.stores import S3ClientFactory, open_store

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SourceStores:
    """Each product's source store, opened once."""

    def __init__(self, s3: S3Settings | None, s3_client: S3ClientFactory | None = None) -> None:
        self._s3 = s3
        self._s3_client = s3_client
        self._stores: dict[str, ObjectStore] = {}
        self._lock = threading.Lock()

    def of(self, product: ProductConfig) -> ObjectStore:
        with self._lock:
            store = self._stores.get(product.name)
            if store is None:
                store = open_store(product.source.url, self._s3, self._s3_client)
                self._stores[product.name] = store
            return store


class Parsers:
    """The parser of each product: Arrow in process, or Spark on the session ``spark_session`` gives.

    Without ``spark_session`` a Spark product gets the platform's own session
    (``platform.spark``); ``only`` makes every product use that one parser.
    """

    def __init__(
        self,
        config: PlatformConfig,
        spark_session: Callable[[], SparkSession] | None = None,
        only: Parser | None = None,
    ) -> None:
        self._config = config
        self._spark_session = spark_session
        self._only = only

    def for_product(self, product: ProductConfig) -> Parser:
        if self._only is not None:
            return self._only
        if self._config.parser_name(product) == "arrow":
            settings = self._config.platform.processing
            return ArrowParser(max_line_bytes=settings.max_line_bytes, memory_budget_mb=settings.memory_budget_mb)
        from platform_assets.ingest.parsing import SparkParser

        return SparkParser(self._session())

    def _session(self) -> SparkSession:
        if self._spark_session is not None:
            return self._spark_session()
        from platform_assets.ingest.spark_session import get_spark_session

        return get_spark_session(self._config.platform.spark.model_dump())

    def with_spark(self, spark_session: Callable[[], SparkSession]) -> Parsers:
        """These parsers with Spark products on the session ``spark_session`` gives (a Dagster resource's)."""
        return Parsers(self._config, spark_session, self._only)

    def only(self, parser: Parser) -> Parsers:
        """Parsers that give ``parser`` to every product."""
        return Parsers(self._config, self._spark_session, parser)


@dataclass(frozen=True)
class Services:
    """One platform's stores and helpers, as steps use them; ``actor`` is who the steps act for."""

    catalog: Catalog
    raw_zone: ObjectStore
    sources: SourceStores
    iceberg: IcebergTables
    merge_store: MergeStore
    parsers: Parsers
    processing: ProcessingSettings
    actor: str

    def with_parsers(self, parsers: Parsers) -> Services:
        return replace(self, parsers=parsers)

    def acting_as(self, actor: str) -> Services:
        return replace(self, actor=actor)

    def in_run(self, dagster_run_id: str | None) -> Services:
        """These services working for the Dagster run ``dagster_run_id`` (see :meth:`Catalog.in_run`)."""
        return replace(self, catalog=self.catalog.in_run(dagster_run_id))


def build_services(config: PlatformConfig, actor: str, s3_client: S3ClientFactory | None = None) -> Services:
    """The services of the platform ``config`` describes (connections open on first use).

    S3 stores get their client from ``s3_client`` when given, else from
    ``platform.s3`` and boto3's standard credential chain.
    """
    platform = config.platform
    catalog = Catalog(platform.state_db)
    return Services(
        catalog=catalog,
        raw_zone=open_store(platform.raw_zone, platform.s3, s3_client),
        sources=SourceStores(platform.s3, s3_client),
        iceberg=IcebergTables(platform.name, platform.state_db, platform.warehouse, platform.s3, catalog.ready),
        merge_store=MergeStore(platform.merge_store),
        parsers=Parsers(config),
        processing=platform.processing,
        actor=actor,
    )
