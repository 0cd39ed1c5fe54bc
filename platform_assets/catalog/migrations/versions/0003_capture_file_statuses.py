"""raw_files: the file statuses INGESTING / INGESTED are called CAPTURING / CAPTURED

"Ingest" names the package of discovery, capture and processing only; a file in
the raw zone is captured, as its version is.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

RENAMED = {"INGESTING": "CAPTURING", "INGESTED": "CAPTURED"}
raw_files = sa.table("raw_files", sa.column("status", sa.String(16)))


def _rename(names: dict[str, str]) -> None:
    for old, new in names.items():
        op.execute(raw_files.update().where(raw_files.c.status == old).values(status=new))


def upgrade() -> None:
    _rename(RENAMED)


def downgrade() -> None:
    _rename({new: old for old, new in RENAMED.items()})
