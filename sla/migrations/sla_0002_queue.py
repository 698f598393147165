"""Requests waiting to be planned: an import queues them, ``sla.tick`` plans them.

Revision ID: sla_0002
Revises: sla_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sla_0002"
down_revision = "sla_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sla_queue",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("queued", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_sla_queue_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_sla_queue")),
    )


def downgrade() -> None:
    op.drop_table("sla_queue")
