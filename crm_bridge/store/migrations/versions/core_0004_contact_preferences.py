"""Contacts carry optional notification preferences an integrator maps from CRM fields
(preferred channel, language, time zone, Telegram chat, frequency, a "no mail" flag);
notify seeds each contact's preferences from them.

Revision ID: core_0004
Revises: core_0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0004"
down_revision = "core_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("preferred_channel", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("language", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("telegram_chat_id", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("notify_frequency", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("mailing_opt_out", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        for column in ("mailing_opt_out", "notify_frequency", "telegram_chat_id", "timezone", "language",
                       "preferred_channel"):
            batch.drop_column(column)
