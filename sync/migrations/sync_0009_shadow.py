"""Shadow mode: the decision's words on each outbox row, and the writes a backend in
shadow mode would have made (``sync/shadow.py``).

Revision ID: sync_0009
Revises: sync_0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "sync_0009"
down_revision = "sync_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("why", sa.JSON(), nullable=True))
    op.create_table(
        "shadow_writes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=100), nullable=False),
        sa.Column("model", sa.String(length=50), nullable=False),
        sa.Column("local_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=100), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=200), nullable=False),
        sa.Column("holds", sa.JSON(), nullable=False),
        sa.Column("sends", sa.JSON(), nullable=False),
        sa.Column("needed", sa.Boolean(), nullable=False),
        sa.Column("why", sa.Text(), nullable=False),
        sa.Column("decided", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shadow_writes")),
    )
    op.create_index("ix_shadow_writes_field", "shadow_writes", ["backend", "model", "local_id", "field", "id"])
    op.create_index("ix_shadow_writes_outbox", "shadow_writes", ["outbox_id", "digest"])


def downgrade() -> None:
    op.drop_index("ix_shadow_writes_outbox", table_name="shadow_writes")
    op.drop_index("ix_shadow_writes_field", table_name="shadow_writes")
    op.drop_table("shadow_writes")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("why")
