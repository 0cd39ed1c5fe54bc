"""Review and publication rules: who may approve, reject or re-publish a version, and in which order.

Contract:
- Only a product under review (``review.required``) has reviews; only holders of
  its ``approver_role`` decide; with ``four_eyes`` nobody approves a version they
  registered, captured or processed. A refusal is :class:`ReviewRefused` (exit 1)
  naming the rule and who may act, and nothing changes.
- Approving version v: in snapshot mode the older versions still awaiting review
  become SUPERSEDED (v is a full snapshot); in incremental mode an older version
  awaiting review refuses it (its changes would be lost): decide it first.
- A version with files a reviewer rejected (``reject-file``) is approved by
  creating its child: a new version (``parent`` = v) carrying v's other
  processed files by reference, approved with v's decision; v becomes
  SUPERSEDED. The caller processes the child and merges it.
- ``publish --version N`` (rollback) re-publishes an earlier published
  snapshot-mode version: a child of N (origin rollback) carries N's files, is
  processed and merges as a new batch. Refused in incremental mode.
- Each step changes the catalog (with its audit events) first and the merge
  store's batch log after; ``merge/versions.py`` heals a crash in between.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from platform_assets.catalog.states import REMOVED_STATES, Decision, VersionOrigin, VersionStatus
from platform_assets.config import ProductConfig
from platform_assets.errors import NothingToDo, UserError
from platform_assets.failpoints import failpoint
from platform_assets.merge import exclude_batch

if TYPE_CHECKING:
    from platform_assets.services import Services


class ReviewRefused(UserError):
    """A review action the rules do not allow (role, four-eyes, state, order); nothing changed."""


@dataclass(frozen=True)
class ReviewOptions:
    """Who may decide (the holders of the product's approver role) and the decision's notes or reason."""

    approvers: tuple[str, ...] = ()
    notes: str | None = None


@dataclass(frozen=True)
class DecisionResult:
    """What a decision did: the version's new status, a child to process and merge, versions superseded."""

    product: str
    version: int
    decision: str
    actor: str
    status: VersionStatus
    notes: str | None = None
    child: int | None = None
    carried_files: int = 0
    superseded: list[int] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _holders(product: ProductConfig, options: ReviewOptions) -> str:
    return ", ".join(options.approvers) or "nobody"


def check_approver(services: Services, product: ProductConfig, options: ReviewOptions, action: str) -> None:
    """The product is under review and the actor holds its approver role; ReviewRefused otherwise."""
    if not product.under_review:
        raise ReviewRefused(
            f"{product.name} is audit-only (review.required is not set): its versions publish when they merge; "
            f"there is nothing to {action}"
        )
    if services.actor not in options.approvers:
        raise ReviewRefused(
            f"rule approver_role: only holders of the role {product.review.approver_role!r} may {action} versions of "
            f"{product.name} ({_holders(product, options)}); {services.actor!r} does not hold it"
        )


def _awaiting(services: Services, product: ProductConfig, version: int, action: str) -> None:
    record = services.catalog.version(product.name, version)
    if record.status in REMOVED_STATES:
        raise ReviewRefused(f"rule state: {record.removal(product.name)}; it cannot be {action}")
    if record.status is not VersionStatus.AWAITING_REVIEW:
        raise ReviewRefused(
            f"rule state: version {version} of {product.name} is {record.status}, not AWAITING_REVIEW; only a "
            f"version awaiting review can be {action}"
        )


def approve(services: Services, product: ProductConfig, version: int, options: ReviewOptions) -> DecisionResult:
    """Approve ``version`` (see the module contract for the rules and what follows)."""
    check_approver(services, product, options, "approve")
    _awaiting(services, product, version, "approved")
    catalog = services.catalog
    if product.review.four_eyes:
        creators = catalog.creators(product.name, version)
        if services.actor in creators:
            others = [person for person in options.approvers if person not in creators] or ["nobody"]
            raise ReviewRefused(
                f"rule four_eyes: {services.actor!r} registered, captured or processed version {version} of "
                f"{product.name} and may not approve it; another holder of {product.review.approver_role!r} may: "
                + ", ".join(others)
            )
    records = catalog.versions(product.name)
    older = [r.number for r in records if r.number < version and r.status is VersionStatus.AWAITING_REVIEW]
    incremental = product.mode == "incremental"
    if incremental and older:
        raise ReviewRefused(
            f"rule order (incremental mode): version {older[0]} of {product.name} awaits review and comes first; "
            f"approving {version} before it would lose its changes. Decide version {older[0]} first "
            f"(approve or reject), then {version}"
        )
    files = catalog.review_files(product.name, version)
    rejected = [file.key for file in files if file.rejected_reason is not None]
    if rejected:
        return _approve_with_child(services, product, version, options, records, len(files) - len(rejected))
    result = catalog.decide(product.name, version, Decision.APPROVED, services.actor, options.notes)
    superseded = [] if incremental else _supersede_older(services, product, version)
    return DecisionResult(
        product.name, version, "approved", services.actor, result.status, options.notes, superseded=superseded
    )


def _approve_with_child(
    services: Services,
    product: ProductConfig,
    version: int,
    options: ReviewOptions,
    records: list[Any],
    carried: int,
) -> DecisionResult:
    newer = [record.number for record in records if record.number > version]
    if product.mode == "incremental" and newer:
        raise ReviewRefused(
            f"rule order (incremental mode): version {version} has rejected files, so approving it creates a new "
            f"version after {newer[-1]}, which would undo the changes of {newer[0]}..{newer[-1]}; reject version "
            f"{version} instead and let the source deliver the fixed files"
        )
    if carried == 0:
        raise ReviewRefused(
            f"rule files: every processed file of version {version} is rejected; reject the version instead"
        )
    child = services.catalog.approve_with_child(
        product.name, version, VersionOrigin.REVIEW, services.actor, options.notes
    )
    _exclude_in_batch_log(services, product, child.superseded)
    superseded = list(child.superseded)
    if product.mode != "incremental":
        superseded += _supersede_older(services, product, child.number)
    return DecisionResult(
        product.name,
        version,
        "approved",
        services.actor,
        VersionStatus.SUPERSEDED,
        options.notes,
        child=child.number,
        carried_files=child.files,
        superseded=sorted(set(superseded)),
    )


def _supersede_older(services: Services, product: ProductConfig, version: int) -> list[int]:
    superseded = services.catalog.supersede_older(product.name, version, services.actor)
    _exclude_in_batch_log(services, product, superseded)
    return superseded


def _exclude_in_batch_log(services: Services, product: ProductConfig, numbers: list[int]) -> None:
    for number in numbers:
        exclude_batch(services.merge_store, product, number, "superseded: out of the merge order")


def reject(services: Services, product: ProductConfig, version: int, options: ReviewOptions) -> DecisionResult:
    """Reject ``version`` with a reason: REJECTED, out of the merge order."""
    _require_reason(options, "rejected")
    check_approver(services, product, options, "reject")
    _awaiting(services, product, version, "rejected")
    record = services.catalog.decide(product.name, version, Decision.REJECTED, services.actor, options.notes)
    failpoint("review.before_batch_log")
    exclude_batch(services.merge_store, product, version, f"rejected: {options.notes}")
    return DecisionResult(product.name, version, "rejected", services.actor, record.status, options.notes)


def reject_file(
    services: Services, product: ProductConfig, version: int, key: str, options: ReviewOptions
) -> DecisionResult:
    """Reject one processed file of a version awaiting review; approving the version then makes a child."""
    _require_reason(options, "rejected")
    check_approver(services, product, options, "reject files of")
    _awaiting(services, product, version, "reviewed")
    services.catalog.reject_file(product.name, version, key, options.notes or "", services.actor)
    return DecisionResult(
        product.name, version, "file_rejected", services.actor, VersionStatus.AWAITING_REVIEW, options.notes
    )


def rollback(services: Services, product: ProductConfig, version: int, options: ReviewOptions) -> DecisionResult:
    """Re-publish an earlier published snapshot-mode version as a new version (a child of it) to process and merge."""
    if product.mode == "incremental":
        raise ReviewRefused(
            f"rule mode: {product.name} is incremental: version {version} holds only the changes of its sync, so "
            "merging its rows again would not bring the table back to it; publish refuses rollbacks in incremental "
            "mode (exclude or fix forward with a new version)"
        )
    if product.under_review:
        check_approver(services, product, options, "re-publish")
    catalog = services.catalog
    record = catalog.version(product.name, version)
    if record.status is VersionStatus.PUBLISHED:
        raise NothingToDo(f"version {version} of {product.name} is the published version already")
    if record.status in REMOVED_STATES:
        raise ReviewRefused(f"rule state: {record.removal(product.name)}; it cannot be re-published")
    if record.published_at is None:
        raise ReviewRefused(
            f"rule state: version {version} of {product.name} is {record.status} and was never published; "
            "publish re-publishes a version that was published before"
        )
    child = catalog.approve_with_child(product.name, version, VersionOrigin.ROLLBACK, services.actor, options.notes)
    superseded = _supersede_older(services, product, child.number)
    return DecisionResult(
        product.name,
        version,
        "republished",
        services.actor,
        record.status,
        options.notes,
        child=child.number,
        carried_files=child.files,
        superseded=superseded,
    )


def _require_reason(options: ReviewOptions, what: str) -> None:
    if not (options.notes or "").strip():
        raise ReviewRefused(f"a reason is required: --reason TEXT says why it is {what}")
