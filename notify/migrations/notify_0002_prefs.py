"""Notify: per-contact preferences and opt-outs (notify/prefs_store.py), rate limits' token
buckets (notify/ratelimit.py).

Revision ID: notify_0002_prefs
Revises: notify_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "notify_0002_prefs"
down_revision = "notify_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_prefs",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=True),
        sa.Column("events", sa.JSON(), nullable=True),
        sa.Column("frequency", sa.String(length=20), nullable=True),
        sa.Column("digest_at", sa.String(length=5), nullable=True),
        sa.Column("quiet", sa.String(length=11), nullable=True),
        sa.Column("language", sa.String(length=10), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("telegram", sa.String(length=100), nullable=True),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("updated", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_notify_prefs_contact_id_contacts")),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_notify_prefs")),
    )
    op.create_table(
        "notify_opt_outs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name=op.f("fk_notify_opt_outs_contact_id_contacts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notify_opt_outs")),
        sa.UniqueConstraint("channel", "address", name="uq_notify_opt_outs_channel"),
    )
    op.create_index("ix_notify_opt_outs_contact_id", "notify_opt_outs", ["contact_id"])
    op.create_table(
        "notify_rate_buckets",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_notify_rate_buckets")),
    )


def downgrade() -> None:
    op.drop_table("notify_rate_buckets")
    op.drop_index("ix_notify_opt_outs_contact_id", table_name="notify_opt_outs")
    op.drop_table("notify_opt_outs")
    op.drop_table("notify_prefs")
