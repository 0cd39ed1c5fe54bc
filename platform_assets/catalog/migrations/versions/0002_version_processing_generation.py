"""versions: processing generation and reset flag (reprocessing replaces a version's rows)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("versions") as batch_op:
        batch_op.add_column(sa.Column("process_generation", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("reset_pending", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("versions") as batch_op:
        batch_op.drop_column("reset_pending")
        batch_op.drop_column("process_generation")
