"""``roles:`` (platform level) and a product's ``review:``: who may approve its versions, and how.

A product whose ``review.required`` is false (or that has no ``review:``) is
audit-only: its versions publish when they merge. Otherwise a version waits in
AWAITING_REVIEW until a holder of ``approver_role`` approves or rejects it
(see ``platform_assets/versions/review.py``).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from platform_assets.config.base import Strict


class ReviewSettings(Strict):
    """``review:``: ``required``; ``approver_role`` (a key of ``roles:``); ``four_eyes`` (the approver is
    not whoever captured or processed the version); ``sla_hours`` (a version waiting longer warns)."""

    required: bool = False
    approver_role: str | None = None
    four_eyes: bool = False
    sla_hours: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _role_when_required(self) -> ReviewSettings:
        if self.required and not self.approver_role:
            raise ValueError("review.required needs approver_role: the role (under roles:) whose holders approve")
        return self


def check_roles(roles: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every role lists its holders once; a holder is a non-empty name."""
    for role, people in roles.items():
        if any(not person.strip() for person in people):
            raise ValueError(f"roles.{role}: a holder's name is empty")
        if len(set(people)) != len(people):
            raise ValueError(f"roles.{role} lists someone twice")
    return roles
