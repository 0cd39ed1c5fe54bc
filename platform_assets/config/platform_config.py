"""The whole platform.yaml as one model, and the checks that span its sections."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from platform_assets import secrets
from platform_assets.config.base import Strict, check_name
from platform_assets.config.platform_section import PlatformSection, RemotePlatform
from platform_assets.config.product import ProductConfig
from platform_assets.config.review import check_roles
from platform_assets.errors import ConfigError
from platform_assets.urls import MASK, mask_url


class PlatformConfig(Strict):
    """platform.yaml: ``platform``, ``platforms``, ``products`` and ``roles`` (role -> the people who hold it)."""

    platform: PlatformSection
    platforms: dict[str, RemotePlatform] = Field(default_factory=dict)
    products: list[ProductConfig] = Field(default_factory=list)
    roles: dict[str, list[str]] = Field(default_factory=dict)
    source_path: str | None = None

    @field_validator("roles")
    @classmethod
    def _roles(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for role in value:
            check_name(role, "role name under roles")
        return check_roles(value)

    @model_validator(mode="after")
    def _consistent(self) -> PlatformConfig:
        names = [product.name for product in self.products]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"product names must be unique; repeated: {duplicated}")
        for platform_name in self.platforms:
            check_name(platform_name, "platform name under platforms")
        known = set(self.platforms) | {self.platform.name}
        for product in self.products:
            unknown = [name for name in product.primary_platforms if name not in known]
            if unknown:
                raise ValueError(
                    f"product {product.name!r}: primary_platforms {unknown} are neither this platform "
                    f"({self.platform.name!r}) nor listed under platforms: {sorted(self.platforms)}"
                )
            if product.table_schema is None and self.is_replica(product):
                raise ValueError(f"product {product.name!r} is replicated here and needs a declared schema")
            self._check_review(product)
        return self

    def _check_review(self, product: ProductConfig) -> None:
        role = product.review.approver_role
        if role is None:
            return
        if role not in self.roles:
            known = ", ".join(sorted(self.roles)) or "none"
            raise ValueError(
                f"product {product.name!r}: review.approver_role {role!r} is not a role under roles: (roles: {known})"
            )
        if not self.roles[role]:
            raise ValueError(
                f"product {product.name!r}: nobody holds review.approver_role {role!r}; list its holders under "
                f"roles.{role}, or no version of {product.name} could ever be approved"
            )

    def holders(self, role: str | None) -> list[str]:
        """The people who hold ``role`` (nobody for None or a role not under ``roles``)."""
        return list(self.roles.get(role, [])) if role else []

    def product(self, name: str) -> ProductConfig:
        """The product called ``name``; ConfigError listing the known ones otherwise."""
        for product in self.products:
            if product.name == name:
                return product
        known = ", ".join(product.name for product in self.products) or "none"
        raise ConfigError(f"no product {name!r} in the config; products: {known}")

    def is_primary(self, product: ProductConfig) -> bool:
        """True where this platform ingests ``product`` from its source.

        An empty ``primary_platforms`` means every platform ingests it itself.
        """
        return not product.primary_platforms or self.platform.name in product.primary_platforms

    def is_replica(self, product: ProductConfig) -> bool:
        return not self.is_primary(product)

    def parser_name(self, product: ProductConfig) -> str:
        """The parser the product uses: its own `engine` key, else the platform's ("arrow" or "spark")."""
        return product.engine or self.platform.engine

    def masked(self) -> dict[str, Any]:
        """The config as a dict with every password in a URL masked."""
        return mask_tree(self.model_dump(by_alias=True, exclude={"source_path"}))


def mask_tree(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: (MASK if secrets.is_secret_key(key) and item not in (None, "") else mask_tree(item))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_tree(item) for item in value]
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value
