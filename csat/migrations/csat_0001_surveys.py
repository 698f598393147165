"""CSAT: the surveys (csat/tables.py).

Revision ID: csat_0001
Depends on: core_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "csat_0001"
down_revision = None
branch_labels = ("csat",)
depends_on = "core_0001"  # the tickets table; the rating columns (core_0005) are not needed here


def upgrade() -> None:
    op.create_table(
        "csat_surveys",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("contact_key", sa.String(length=50), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("planned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changes", sa.Integer(), nullable=False, server_default="0"),
        sa.UniqueConstraint("ticket_id", "resolved_at", name="uq_csat_surveys_resolution"),
    )
    op.create_index("ix_csat_surveys_ticket_id", "csat_surveys", ["ticket_id"])
    op.create_index("ix_csat_surveys_contact", "csat_surveys", ["contact_key", "state", "planned_at"])


def downgrade() -> None:
    op.drop_table("csat_surveys")
