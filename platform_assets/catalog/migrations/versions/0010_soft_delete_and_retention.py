"""versions: soft delete (deleted_at, deleted_by, delete_reason, status_before_delete) and retention's purge
(purge_started_at, purge_rule, purged_at, purged_by)

New version statuses (DELETED, PURGED) are text in the existing column; raw_files of a purged version turn
DELETED (a status reserved since 0001).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = (
    ("deleted_at", sa.DateTime(timezone=True)),
    ("deleted_by", sa.String(length=128)),
    ("delete_reason", sa.Text()),
    ("status_before_delete", sa.String(length=16)),
    ("purge_started_at", sa.DateTime(timezone=True)),
    ("purge_rule", sa.Text()),
    ("purged_at", sa.DateTime(timezone=True)),
    ("purged_by", sa.String(length=128)),
)


def upgrade() -> None:
    with op.batch_alter_table("versions") as batch_op:
        for name, type_ in COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("versions") as batch_op:
        for name, _ in reversed(COLUMNS):
            batch_op.drop_column(name)
