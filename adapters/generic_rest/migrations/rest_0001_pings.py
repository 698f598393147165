"""Webhook pings waiting to be read again: one row per (backend, resource, key), so a
burst of pings about one record is one read.

Revision ID: rest_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "rest_0001"
down_revision = None
branch_labels = ("generic_rest",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rest_pings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=100), nullable=False),
        sa.Column("resource", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rest_pings")),
        sa.UniqueConstraint("backend", "resource", "key", name="uq_rest_pings_record"),
    )


def downgrade() -> None:
    op.drop_table("rest_pings")
