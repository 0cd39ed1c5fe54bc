"""Checks of a version's capture and processing: each checks its own step, says which version, runs on its own.

Contract:
- Checks are partitioned like their asset: a check run on partition v checks
  version v (a run over a range checks each version of it), reading the state
  catalog, so it can be executed alone from the UI at any time.
- ``<product>/raw_files`` ``all_files_captured`` (blocking): no file of the version failed
  at capture (a vanished object, an unsafe key); processing failures are not
  its business.
- ``<product>/staged`` ``no_failed_files`` (blocking): no file of the version
  failed at processing.
- Each result carries ``version`` (the last version checked), ``versions``
  (every version checked), ``failed_files`` and a ``failures`` table.
"""

from collections.abc import Callable

import dagster as dg

from platform_assets.catalog.records import FailedFile
from platform_assets.catalog.states import CAPTURE_ERROR_TYPES
from platform_assets.config import ProductConfig
from platform_assets.defs.metadata import markdown_table
from platform_assets.defs.partitions import asset_key, versions_of
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import scrubbed_step

CAPTURED_CHECK = "all_files_captured"
PROCESSED_CHECK = "no_failed_files"
PREVIEW_FAILURES = 50


def build_version_checks(
    product: ProductConfig, partitions: dg.DynamicPartitionsDefinition
) -> list[dg.AssetChecksDefinition]:
    """``all_files_captured`` on raw_files and ``no_failed_files`` on staged."""
    return [
        _version_check(
            product,
            partitions,
            "raw_files",
            CAPTURED_CHECK,
            "Every file of the version reached the raw zone (capture failures only).",
            lambda file: file.error_type in CAPTURE_ERROR_TYPES,
            blocking=True,  # a version whose capture failed is not processed in the same run
        ),
        _version_check(
            product,
            partitions,
            "staged",
            PROCESSED_CHECK,
            "No file of the version FAILED at processing.",
            lambda file: file.error_type not in CAPTURE_ERROR_TYPES,
            blocking=True,
        ),
    ]


def _version_check(
    product: ProductConfig,
    partitions: dg.DynamicPartitionsDefinition,
    asset: str,
    name: str,
    description: str,
    counts: Callable[[FailedFile], bool],
    *,
    blocking: bool,
) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=asset_key(product, asset),
        name=name,
        description=description,
        blocking=blocking,
        partitions_def=partitions,
    )
    @scrubbed_step
    def check(context: dg.AssetCheckExecutionContext, platform: PlatformResource) -> dg.AssetCheckResult:
        versions = versions_of(context.partition_keys)
        failed = [file for file in platform.services().catalog.failed_files(product.name, versions) if counts(file)]
        return failed_files_result(product, versions, failed)

    return check


def failed_files_result(product: ProductConfig, versions: list[int], failed: list[FailedFile]) -> dg.AssetCheckResult:
    """Passed when ``failed`` is empty; which versions were checked, and each failed file with its reason."""
    named = ", ".join(f"v{version}" for version in versions)
    rows = [(file.version, file.key, file.error_type, file.attempts, file.error_message) for file in failed]
    return dg.AssetCheckResult(
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{product.name} {named}: "
        + (
            f"{len(failed)} failed file(s): " + "; ".join(f"{f.key}: {f.error_message}" for f in failed[:3])
            if failed
            else "no failed file"
        ),
        metadata={
            "version": dg.MetadataValue.int(versions[-1]),
            "versions": dg.MetadataValue.text(named),
            "failed_files": dg.MetadataValue.int(len(failed)),
            "failures": dg.MetadataValue.md(
                markdown_table(["version", "key", "error", "attempts", "message"], rows[:PREVIEW_FAILURES])
                if rows
                else "none"
            ),
        },
    )
