"""versions: origin, review decision and publication columns; raw_files: a reviewer's rejection

New version statuses (AWAITING_REVIEW, APPROVED, REJECTED, PUBLISHED, SUPERSEDED)
are text in the existing column. A version merged before this revision stays
PROCESSED: the platform reads it as not published yet.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("versions") as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=16), nullable=False, server_default="source"))
        batch_op.add_column(sa.Column("awaiting_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decision", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("decided_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decision_notes", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("published_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("raw_files") as batch_op:
        batch_op.add_column(sa.Column("rejected_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("raw_files") as batch_op:
        batch_op.drop_column("rejected_reason")
    with op.batch_alter_table("versions") as batch_op:
        for name in ("published_at", "decision_notes", "decided_at", "decided_by", "decision", "awaiting_since"):
            batch_op.drop_column(name)
        batch_op.drop_column("origin")
