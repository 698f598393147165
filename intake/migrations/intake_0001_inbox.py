"""Intake: the inbox of inbound messages.

Revision ID: intake_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "intake_0001"
down_revision = None
branch_labels = ("intake",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "intake_inbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("sender", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("decision", sa.JSON(), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_intake_inbox_ticket_id_tickets")),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name=op.f("fk_intake_inbox_customer_id_customers")),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_intake_inbox_contact_id_contacts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_inbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_intake_inbox_message_id")),
    )
    op.create_index("ix_intake_inbox_state", "intake_inbox", ["state", "id"])
    op.create_index("ix_intake_inbox_sender", "intake_inbox", ["sender", "received_at"])
    op.create_index(op.f("ix_intake_inbox_ticket_id"), "intake_inbox", ["ticket_id"])


def downgrade() -> None:
    op.drop_table("intake_inbox")
