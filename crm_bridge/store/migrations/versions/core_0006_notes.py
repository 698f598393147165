"""Notes in a request's history (``notes``): notify's ``crm_note`` channel writes one per
notification (unique ``source_key``: a retried delivery finds its note), the sync outbox
creates it in the CRM (``create_remote: [note]``).

Revision ID: core_0006
Revises: core_0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0006"
down_revision = "core_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("author", sa.String(length=500), nullable=True),
        sa.Column("about", sa.String(length=50), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("source_key", sa.String(length=500), nullable=True),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_notes_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notes")),
        sa.UniqueConstraint("source_key", name=op.f("uq_notes_source_key")),
    )
    op.create_index(op.f("ix_notes_ticket_id"), "notes", ["ticket_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_notes_ticket_id"), table_name="notes")
    op.drop_table("notes")
