"""Routing: the queue, round-robin pointers, agent availability and the assignment log.

Revision ID: routing_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "routing_0001"
down_revision = None
branch_labels = ("routing",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "routing_queue",
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("queued", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=True),
        sa.Column("tried", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_routing_queue_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_routing_queue")),
    )
    op.create_table(
        "routing_pointers",
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("rule", name=op.f("pk_routing_pointers")),
    )
    op.create_table(
        "routing_agents",
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_routing_agents_agent_id_agents")),
        sa.PrimaryKeyConstraint("agent_id", name=op.f("pk_routing_agents")),
    )
    op.create_table(
        "routing_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("action", sa.String(length=30), nullable=False),
        sa.Column("rule", sa.String(length=200), nullable=True),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("previous_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_routing_log_ticket_id_tickets")),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_routing_log_agent_id_agents")),
        sa.ForeignKeyConstraint(["previous_id"], ["agents.id"], name=op.f("fk_routing_log_previous_id_agents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_routing_log")),
    )
    op.create_index("ix_routing_log_ticket", "routing_log", ["ticket_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_routing_log_ticket", table_name="routing_log")
    op.drop_table("routing_log")
    op.drop_table("routing_agents")
    op.drop_table("routing_pointers")
    op.drop_table("routing_queue")
