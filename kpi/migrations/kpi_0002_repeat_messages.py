"""KPI: an index for the period's repeat contacts intake recorded — history events by kind
and instant (``message`` events dated in the period), instead of every history row.

Revision ID: kpi_0002
Revises: kpi_0001
"""

from __future__ import annotations

from alembic import op

revision = "kpi_0002"
down_revision = "kpi_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_kpi_ticket_events_kind_at", "ticket_events", ["kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_kpi_ticket_events_kind_at", table_name="ticket_events")
