"""The asset check ``audit_chain_intact`` on each product's ``<product>/raw_files``: is its audit trail intact?

Contract:
- One multi-asset check (one walk of the chains for every product it checks):
  each result covers the product's chain and the platform chain; failed with
  severity ERROR when either is broken, with the first bad event of each.
- A run that only checks (the ``audit_verify`` job, or "Execute check" in the
  UI) verifies now and records the result in the catalog. A run that also
  materializes raw_files (a version's capture run includes the check, see
  ``defs/ingest/jobs.py``) reports the newest recorded verification instead of
  walking the chains (it verifies now only when none was ever recorded).
- Metadata: ``events_checked``, ``chains_checked``, ``first_bad_event``,
  ``breach``, ``verified_at``, ``verified_now``.
"""

from collections.abc import Iterator
from datetime import UTC, datetime

import dagster as dg

from platform_assets.catalog.audit_chain import AuditVerification
from platform_assets.config import ProductConfig
from platform_assets.defs.actors import run_actor
from platform_assets.defs.audit.jobs import AUDIT_JOB
from platform_assets.defs.partitions import asset_key
from platform_assets.defs.resources import PlatformResource
from platform_assets.defs.results import scrubbed_step
from platform_assets.versions.audit_trail import finding_text, product_chains

AUDIT_CHECK = "audit_chain_intact"
DESCRIPTION = (
    "The product's audit trail (its hash chain and the platform's) is intact: no event edited, deleted or "
    "inserted out of order. The audit_verify job verifies every chain on its schedule; a run that also "
    "materializes raw_files reports the newest verification."
)


def build_audit_check(products: list[ProductConfig]) -> dg.AssetChecksDefinition:
    """``audit_chain_intact`` on the raw_files of ``products`` (one op for all, subsettable)."""
    specs = [
        dg.AssetCheckSpec(AUDIT_CHECK, asset=asset_key(product, "raw_files"), description=DESCRIPTION)
        for product in products
    ]

    @dg.multi_asset_check(specs=specs, can_subset=True, name=AUDIT_CHECK, description=DESCRIPTION)
    @scrubbed_step
    def audit_chain_intact(
        context: dg.AssetCheckExecutionContext, platform: PlatformResource
    ) -> Iterator[dg.AssetCheckResult]:
        result, verified_at, now = verification(context, platform)
        for key in sorted(context.selected_asset_check_keys, key=lambda key: key.asset_key.to_user_string()):
            yield check_result(key.asset_key, key.asset_key.path[0], result, verified_at, now)

    return audit_chain_intact


def verification(
    context: dg.AssetCheckExecutionContext, platform: PlatformResource
) -> tuple[AuditVerification, datetime, bool]:
    """The verification to report (see the contract), when it ran, and whether this run ran it."""
    services = platform.services().acting_as(run_actor(context.run.tags)).in_run(context.run.run_id)
    catalog = services.catalog
    run = context.run
    checks_only = run.job_name == AUDIT_JOB or (not run.asset_selection and bool(run.asset_check_selection))
    if not checks_only:  # the run materializes assets (a capture): report the newest verification
        recorded = catalog.last_audit_verification()
        if recorded is not None:
            return recorded.result, recorded.at, False
    result = catalog.verify_audit()
    catalog.record_audit_verification(result, services.actor)
    return result, datetime.now(UTC), True


def check_result(
    asset: dg.AssetKey, product: str, result: AuditVerification, verified_at: datetime, now: bool
) -> dg.AssetCheckResult:
    """The check's result for ``product``: its chain and the platform's."""
    view = product_chains(result, product)
    first = view.findings[0] if view.findings else None
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=AUDIT_CHECK,
        passed=view.intact,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None if first is None else finding_text(first),
        metadata={
            "events_checked": dg.MetadataValue.int(view.events),
            "chains_checked": dg.MetadataValue.int(result.chains),
            "first_bad_event": dg.MetadataValue.text("; ".join(finding_text(f) for f in view.findings) or "none"),
            "breach": dg.MetadataValue.text(first.breach.value if first else "none"),
            "verified_at": dg.MetadataValue.timestamp(verified_at),
            "verified_now": dg.MetadataValue.bool(now),
        },
    )
