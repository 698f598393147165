"""SLA event ledger and clocks.

Revision ID: sla_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sla_0001"
down_revision = None
branch_labels = ("sla",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "sla_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=30), nullable=False),
        sa.Column("cycle", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("business_seconds", sa.Float(), nullable=False),
        sa.Column("calendar_seconds", sa.Float(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("recorded", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_sla_events_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sla_events")),
    )
    op.create_index("ix_sla_events_ticket", "sla_events", ["ticket_id", "generation", "id"], unique=False)
    op.create_table(
        "sla_clocks",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("policy", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=30), nullable=True),
        sa.Column("next_check", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_sla_clocks_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_sla_clocks")),
    )
    op.create_index(op.f("ix_sla_clocks_next_check"), "sla_clocks", ["next_check"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sla_clocks_next_check"), table_name="sla_clocks")
    op.drop_table("sla_clocks")
    op.drop_index("ix_sla_events_ticket", table_name="sla_events")
    op.drop_table("sla_events")
