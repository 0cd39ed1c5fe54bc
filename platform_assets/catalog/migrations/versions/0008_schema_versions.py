"""schema_versions: each schema a product's data was processed under; versions.schema_version: which one a version was

A product's first processed version records schema version 1; every processing
that commits a changed schema (a declared change, or columns a file added or
widened) records the next number. Versions processed before this revision have
no schema_version: the catalog reads them as processed under the newest schema
introduced at or before them.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schema_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("product_id", sa.Integer(), sa.ForeignKey("products.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("primary_key", sa.JSON(), nullable=False),
        sa.Column("introduced_by", sa.Integer(), nullable=False),
        sa.Column("change", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("product_id", "number", name="uq_schema_versions_product_number"),
    )
    with op.batch_alter_table("versions") as batch_op:
        batch_op.add_column(sa.Column("schema_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("versions") as batch_op:
        batch_op.drop_column("schema_version")
    op.drop_table("schema_versions")
