"""audit_events: chain, seq, prev_hash, hash (a hash chain per product and one for the platform); audit_chains

The events that exist are chained here, per chain in the order of their ids
(the order they were written in), with the canonical content of
:mod:`platform_assets.catalog.audit_chain`; each chain's head goes to
``audit_chains``. Downgrade drops the links (the events stay).

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from platform_assets.catalog.audit_chain import GENESIS, chain_of, link

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BATCH = 5000
_EVENTS = sa.table(
    "audit_events",
    sa.column("id", sa.BigInteger()),
    sa.column("entity_type", sa.String()),
    sa.column("entity_id", sa.Text()),
    sa.column("action", sa.String()),
    sa.column("actor", sa.String()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("change", sa.JSON()),
    sa.column("dagster_run_id", sa.String()),
    sa.column("chain", sa.String()),
    sa.column("seq", sa.BigInteger()),
    sa.column("prev_hash", sa.String()),
    sa.column("hash", sa.String()),
)
_CHAINS = sa.table(
    "audit_chains", sa.column("chain", sa.String()), sa.column("seq", sa.BigInteger()), sa.column("hash")
)


def upgrade() -> None:
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.add_column(sa.Column("chain", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_chains",
        sa.Column("chain", sa.String(length=64), primary_key=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
    )
    heads = _chain_existing_events(op.get_bind())
    if heads:
        op.bulk_insert(_CHAINS, [{"chain": c, "seq": s, "hash": h} for c, (s, h) in sorted(heads.items())])
    with op.batch_alter_table("audit_events") as batch_op:
        for name in ("chain", "prev_hash", "hash"):
            batch_op.alter_column(name, existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_unique_constraint("uq_audit_events_chain_seq", ["chain", "seq"])


def _chain_existing_events(connection: sa.Connection) -> dict[str, tuple[int, str]]:
    """Link every event, per chain in id order; the head (seq, hash) of each chain."""
    heads: dict[str, tuple[int, str]] = {}
    update = (
        sa.update(_EVENTS)
        .where(_EVENTS.c.id == sa.bindparam("b_id"))
        .values(
            chain=sa.bindparam("b_chain"),
            seq=sa.bindparam("b_seq"),
            prev_hash=sa.bindparam("b_prev"),
            hash=sa.bindparam("b_hash"),
        )
    )
    for batch in _batches(connection):
        for row in batch:
            seq, prev = heads.get(row["chain"], (0, GENESIS))
            heads[row["chain"]] = link([row], seq, prev)
        connection.execute(
            update,
            [
                {
                    "b_id": r["id"],
                    "b_chain": r["chain"],
                    "b_seq": r["seq"],
                    "b_prev": r["prev_hash"],
                    "b_hash": r["hash"],
                }
                for r in batch
            ],
        )
    return heads


def _batches(connection: sa.Connection) -> Iterator[list[dict[str, Any]]]:
    """The events in id order, ``_BATCH`` at a time (keyset pages: the updates do not disturb the reads)."""
    columns = [_EVENTS.c[name] for name in ("id", "entity_type", "entity_id", "action", "actor", "at", "change")]
    last = 0
    while True:
        query = sa.select(*columns, _EVENTS.c.dagster_run_id).where(_EVENTS.c.id > last).order_by(_EVENTS.c.id)
        rows = [dict(row._mapping) for row in connection.execute(query.limit(_BATCH))]
        if not rows:
            return
        for row in rows:
            row["chain"] = chain_of(row["entity_type"], row["entity_id"])
        last = rows[-1]["id"]
        yield rows


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch_op:
        batch_op.drop_constraint("uq_audit_events_chain_seq", type_="unique")
        for name in ("hash", "prev_hash", "seq", "chain"):
            batch_op.drop_column(name)
    op.drop_table("audit_chains")
