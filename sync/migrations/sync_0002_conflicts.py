"""Three-way merge base on bindings; the conflict queue.

Revision ID: sync_0002
Revises: sync_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sync_0002"
down_revision = "sync_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("bindings") as batch:
        batch.add_column(sa.Column("base", sa.JSON(), nullable=True))
    op.create_table(
        "conflicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=50), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("remote_id", sa.String(length=200), nullable=False),
        sa.Column("field", sa.String(length=100), nullable=False),
        sa.Column("base", sa.JSON(), nullable=False),
        sa.Column("local", sa.JSON(), nullable=False),
        sa.Column("remote", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conflicts")),
    )
    op.create_index("ix_conflicts_open", "conflicts", ["state", "backend"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_conflicts_open", table_name="conflicts")
    op.drop_table("conflicts")
    with op.batch_alter_table("bindings") as batch:
        batch.drop_column("base")
