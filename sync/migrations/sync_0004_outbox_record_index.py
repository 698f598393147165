"""Outbox rows are found by record: the merge of a new decision into a row still waiting,
the exporter's look-ups. Without this index each decision scanned every pending row.

Revision ID: sync_0004
Revises: sync_0003
"""

from __future__ import annotations

from alembic import op

revision = "sync_0004"
down_revision = "sync_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_record", "outbox", ["model", "local_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_outbox_record", table_name="outbox")
