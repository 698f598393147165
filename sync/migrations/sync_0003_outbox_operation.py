"""Outbox rows say whether they update or create a remote record.

Revision ID: sync_0003
Revises: sync_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sync_0003"
down_revision = "sync_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("operation", sa.String(length=10), nullable=False, server_default="update"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("operation")
