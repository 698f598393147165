"""Deletions applied and allowed per backend and model, for the mass-delete guard that
every deletion path shares (``sync/deletes.py``).

Revision ID: sync_0008
Revises: sync_0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sync_0008"
down_revision = "sync_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deletions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=50), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletions")),
    )
    op.create_index("ix_deletions_model", "deletions", ["backend", "model", "at"])


def downgrade() -> None:
    op.drop_index("ix_deletions_model", table_name="deletions")
    op.drop_table("deletions")
