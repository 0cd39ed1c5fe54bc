"""One entry of ``products:``."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from platform_assets.config.base import OWNER_EMAIL, Strict, check_name
from platform_assets.config.reconcile import ReconcileSettings
from platform_assets.config.retention import RetentionSettings
from platform_assets.config.review import ReviewSettings
from platform_assets.config.schema import SchemaSettings
from platform_assets.config.source import SourceSettings


class ReplicationSettings(Strict):
    chunk_size: int = Field(default=50_000, ge=1)
    max_batches_per_sync: int = Field(default=100, ge=1)
    max_lag_batches: int = Field(default=5, ge=0)


class FreshnessSettings(Strict):
    """``freshness``: ``<product>/merge`` should have merged a version within ``max_lag_minutes`` (Dagster's
    freshness policy: failing after that, warning after ``warn_lag_minutes`` when given)."""

    max_lag_minutes: int = Field(ge=1)
    warn_lag_minutes: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _warn_before_fail(self) -> FreshnessSettings:
        if self.warn_lag_minutes is not None and self.warn_lag_minutes >= self.max_lag_minutes:
            raise ValueError("warn_lag_minutes must be below max_lag_minutes")
        return self


class AutomationSettings(Strict):
    """``automation``: whether the product's sensors start running (Dagster's default sensor status), so files
    that land are captured, processed and merged with no hand on the wheel; ``minimum_interval_seconds`` is how
    often discovery lists the source. Off by default: production turns it on deliberately."""

    enabled: bool = False
    minimum_interval_seconds: int = Field(default=30, ge=1, le=86_400)


class ProductConfig(Strict):
    """One product. Besides its data keys: ``description`` (shown with each of its Dagster assets), ``owners``
    (Dagster owners of its assets: emails or ``team:<name>``) and ``freshness`` (see FreshnessSettings)."""

    name: str
    description: str | None = None
    owners: list[str] = Field(default_factory=list)
    freshness: FreshnessSettings | None = None
    source: SourceSettings
    schema_: SchemaSettings | None = Field(default=None, alias="schema")
    mode: Literal["snapshot", "incremental"] = "snapshot"
    milestone: Literal["forensic", "live_only"] = "forensic"
    primary_platforms: list[str] = Field(default_factory=list)
    engine: Literal["arrow", "spark"] | None = None
    max_bad_row_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    max_delete_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    replication: ReplicationSettings = Field(default_factory=ReplicationSettings)
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    automation: AutomationSettings = Field(default_factory=AutomationSettings)
    reconcile: ReconcileSettings = Field(default_factory=ReconcileSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "product name")

    @field_validator("owners")
    @classmethod
    def _owners(cls, value: list[str]) -> list[str]:
        for owner in value:
            team = owner.startswith("team:") and len(owner) > len("team:")
            if not team and not OWNER_EMAIL.fullmatch(owner):
                raise ValueError(f"owner {owner!r} must be an email address or a team as team:<name>")
        if len(set(value)) != len(value):
            raise ValueError("owners lists someone twice")
        return value

    @property
    def under_review(self) -> bool:
        """Versions wait for an approver before they merge (``review.required``)."""
        return self.review.required

    @property
    def table_schema(self) -> SchemaSettings | None:
        """The declared schema (``schema`` in YAML), or None to infer it."""
        return self.schema_
