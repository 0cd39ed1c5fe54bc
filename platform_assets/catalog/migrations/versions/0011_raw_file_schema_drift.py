"""raw_files: schema_drift, how a processed file's columns differed from the product's (JSON text)

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("raw_files") as batch_op:
        batch_op.add_column(sa.Column("schema_drift", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("raw_files") as batch_op:
        batch_op.drop_column("schema_drift")
