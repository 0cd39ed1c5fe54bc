"""One platform, assembled from its validated config: its services, and the steps the CLI and Dagster call.

:class:`Platform` is the top of the domain: it builds the typed
:class:`~platform_assets.services.Services` (catalog, raw zone, sources,
Iceberg tables, merge store, parsers) once, and runs a step on a product by
name. Nothing below it imports this module.
"""

from __future__ import annotations

from functools import cached_property

from platform_assets.catalog import Catalog, default_actor
from platform_assets.catalog.records import RegisteredVersion
from platform_assets.catalog.states import FileStatus
from platform_assets.config import PlatformConfig, ProductConfig, load_config
from platform_assets.ingest.capture import CaptureResult, capture_version
from platform_assets.ingest.discovery import sync_source
from platform_assets.ingest.parsing import Parser
from platform_assets.ingest.processing import ProcessOptions, ProcessReport, process_version
from platform_assets.merge import BatchResult
from platform_assets.merge.versions import merge_version
from platform_assets.services import Services, build_services
from platform_assets.storage.stores import S3ClientFactory
from platform_assets.versions import review
from platform_assets.versions.exclusion import exclude_version
from platform_assets.versions.review_report import AwaitingVersion, ReviewMetrics, review_metrics, review_queue
from platform_assets.versions.skipping import skip_file


class Platform:
    """The platform ``config`` describes, acting for ``actor`` (default ``$PLATFORM_ACTOR``, else the OS user).

    ``s3_client`` gives the S3 stores their client (the Dagster layer passes its
    S3 resource's); without it they use ``platform.s3`` and boto3's standard chain.
    """

    def __init__(
        self, config: PlatformConfig, actor: str | None = None, s3_client: S3ClientFactory | None = None
    ) -> None:
        self.config = config
        self.actor = actor or default_actor()
        self._s3_client = s3_client

    @classmethod
    def from_path(cls, path: str | None = None, actor: str | None = None) -> Platform:
        return cls(load_config(path), actor)

    @property
    def name(self) -> str:
        return self.config.platform.name

    def product(self, name: str) -> ProductConfig:
        return self.config.product(name)

    @cached_property
    def services(self) -> Services:
        """The platform's stores and helpers (each opens its connection on first use)."""
        return build_services(self.config, self.actor, self._s3_client)

    @property
    def catalog(self) -> Catalog:
        return self.services.catalog

    def sync(self, product_name: str) -> RegisteredVersion | None:
        """List the whole source now and register a version if anything changed."""
        product = self.product(product_name)
        return sync_source(self.catalog, product, self.services.sources.of(product), self.actor)

    def capture(self, product_name: str, version: int) -> CaptureResult:
        return capture_version(self.services, self.product(product_name), version)

    def process(
        self,
        product_name: str,
        version: int,
        *,
        retry_failed: bool = False,
        reprocess: bool = False,
        parser: Parser | None = None,
        worker: str | None = None,
    ) -> ProcessReport:
        """Process the version; ``parser`` replaces the product's own (Arrow, or Spark on the platform's session)."""
        services = self.services
        if parser is not None:
            services = services.with_parsers(services.parsers.only(parser))
        options = ProcessOptions(retry_failed=retry_failed, reprocess=reprocess, worker=worker)
        return process_version(services, self.product(product_name), version, options)

    def merge(self, product_name: str, version: int) -> BatchResult:
        return merge_version(self.services, self.product(product_name), version)

    def skip(self, product_name: str, version: int, key: str, reason: str) -> FileStatus:
        """Give up on one file of the version; returns its previous status."""
        return skip_file(self.services, self.product(product_name), version, key, reason)

    def exclude(self, product_name: str, version: int, reason: str) -> None:
        """Take the version out of the merge order."""
        exclude_version(self.services, self.product(product_name), version, reason)

    # Review and publication (rules: versions/review.py).

    def review_options(self, product_name: str, notes: str | None = None) -> review.ReviewOptions:
        """The holders of the product's approver role, and the notes or reason of a decision."""
        role = self.product(product_name).review.approver_role
        return review.ReviewOptions(tuple(self.config.holders(role)), notes)

    def approve(self, product_name: str, version: int, notes: str | None = None) -> review.DecisionResult:
        options = self.review_options(product_name, notes)
        return review.approve(self.services, self.product(product_name), version, options)

    def reject(self, product_name: str, version: int, reason: str) -> review.DecisionResult:
        options = self.review_options(product_name, reason)
        return review.reject(self.services, self.product(product_name), version, options)

    def reject_file(self, product_name: str, version: int, key: str, reason: str) -> review.DecisionResult:
        options = self.review_options(product_name, reason)
        return review.reject_file(self.services, self.product(product_name), version, key, options)

    def rollback(self, product_name: str, version: int, notes: str | None = None) -> review.DecisionResult:
        options = self.review_options(product_name, notes)
        return review.rollback(self.services, self.product(product_name), version, options)

    def review_queue(self, product_name: str) -> list[AwaitingVersion]:
        return review_queue(self.services, self.product(product_name))

    def review_metrics(self, product_name: str) -> ReviewMetrics:
        return review_metrics(self.services, self.product(product_name))
