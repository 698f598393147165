"""The stream a sync run covered (a model, a key-range partition, an outbox shard), so
``crm-bridge status`` shows the last run of every stream in worker mode, where streams run
side by side and the newest row of a backend is usually one still running.

Revision ID: sync_0010
Revises: sync_0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sync_0010"
down_revision = "sync_0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("stream", sa.String(length=100), nullable=True))
    op.create_index("ix_sync_runs_last", "sync_runs", ["backend", "kind", "stream", "id"])


def downgrade() -> None:
    op.drop_index("ix_sync_runs_last", table_name="sync_runs")
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("stream")
