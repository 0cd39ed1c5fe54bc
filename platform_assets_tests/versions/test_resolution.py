"""Version resolution: the newest captured, unprocessed version; clear errors otherwise."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from platform_assets.catalog.db import transaction
from platform_assets.catalog.errors import UnknownProduct, VersionNotFound
from platform_assets.catalog.models import Version
from platform_assets.platform import Platform
from platform_assets.versions.resolution import NothingToProcess, resolve_version
from platform_assets_tests.conftest import write_csv


def _make_versions(platform: Platform, statuses: list[str]) -> None:
    landing = platform.product("customers").source.url.removeprefix("file://")
    from pathlib import Path

    for index, status in enumerate(statuses, start=1):
        write_csv(Path(landing) / f"{index}.csv", [(str(index), "n", "1.00", "2026-01-01")])
        registered = platform.sync("customers")
        assert registered is not None and registered.number == index
        with transaction(platform.catalog.engine) as session:
            session.execute(update(Version).where(Version.number == index).values(status=status))


def _resolve(platform: Platform, requested: int | None) -> int:
    return resolve_version(platform.catalog, "customers", requested)


def test_newest_captured_unprocessed_version_wins(local_platform: Platform) -> None:
    _make_versions(local_platform, ["PROCESSED", "CAPTURED", "CAPTURED", "DISCOVERED"])
    assert _resolve(local_platform, None) == 3, "v4 is not captured yet; v3 is the newest captured"


def test_a_failed_processing_counts_as_not_yet_successful(local_platform: Platform) -> None:
    _make_versions(local_platform, ["FAILED", "PROCESSED"])
    assert _resolve(local_platform, None) == 1


def test_excluded_versions_are_not_chosen(local_platform: Platform) -> None:
    _make_versions(local_platform, ["CAPTURED", "CAPTURED"])
    with transaction(local_platform.catalog.engine) as session:
        session.execute(update(Version).where(Version.number == 2).values(excluded=True))
    assert _resolve(local_platform, None) == 1


def test_explicit_version_that_exists_is_used_even_if_processed(local_platform: Platform) -> None:
    _make_versions(local_platform, ["PROCESSED", "PROCESSED"])
    assert _resolve(local_platform, 1) == 1


def test_explicit_missing_version_names_the_newest_captured(local_platform: Platform) -> None:
    _make_versions(local_platform, ["PROCESSED", "CAPTURED", "DISCOVERED"])
    with pytest.raises(VersionNotFound) as refused:
        _resolve(local_platform, 7)
    assert str(refused.value) == (
        "customers has no version 7; the newest captured version is v2: process v2 (materialize customers/staged "
        "partition v2, or `platform-assets process customers --version 2`)"
    ), "the message names the UI's action as well as the command"


def test_nothing_to_process_says_why(local_platform: Platform) -> None:
    _make_versions(local_platform, ["PROCESSED", "PROCESSED"])
    with pytest.raises(NothingToProcess, match=r"every captured version is processed \(newest: 2\)"):
        _resolve(local_platform, None)


def test_no_captured_version_yet(local_platform: Platform) -> None:
    _make_versions(local_platform, ["DISCOVERED"])
    with pytest.raises(NothingToProcess, match="has no captured version yet"):
        _resolve(local_platform, None)


def test_unknown_product_in_catalog(local_platform: Platform) -> None:
    local_platform.catalog.engine  # noqa: B018 - migrate the catalog
    with pytest.raises(UnknownProduct, match="run `platform-assets sync customers` first"):
        _resolve(local_platform, None)
