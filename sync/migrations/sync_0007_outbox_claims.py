"""Outbox rows carry a claim (owner token, expiry): a row is taken for sending in one
short transaction and its result recorded in another, so no transaction is open while
1C is waited on (``sync/claim.py``).

Revision ID: sync_0007
Revises: sync_0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sync_0007"
down_revision = "sync_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(120), nullable=True))
        batch.add_column(sa.Column("claim_expires", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claim_expires")
        batch.drop_column("claimed_by")
