"""The quarantine: remote records set aside at one stage with the reason and the raw value
(``sync/quarantine.py``), so one bad record no longer fails its page, pass or write-back.

Revision ID: sync_0006
Revises: sync_0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sync_0006"
down_revision = "sync_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=50), nullable=False),
        sa.Column("remote_id", sa.String(length=200), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.Text(), nullable=True),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("backend", "model", "remote_id", "stage", name="uq_quarantine_record"),
    )


def downgrade() -> None:
    op.drop_table("quarantine")
