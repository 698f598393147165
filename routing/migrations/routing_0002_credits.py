"""Routing: the weighted method's credits per rule and agent.

Revision ID: routing_0002_credits
Revises: routing_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "routing_0002_credits"
down_revision = "routing_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "routing_credits",
        sa.Column("rule", sa.String(length=200), nullable=False),
        sa.Column("agent", sa.String(length=500), nullable=False),
        sa.Column("credit", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("rule", "agent", name=op.f("pk_routing_credits")),
    )


def downgrade() -> None:
    op.drop_table("routing_credits")
