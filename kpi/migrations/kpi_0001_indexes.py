"""KPI: indexes for reading one period — tickets by opening and resolution instant, the
SLA ledger by kind and instant.

Revision ID: kpi_0001
Revises:
"""

from __future__ import annotations

from alembic import op

revision = "kpi_0001"
down_revision = None
branch_labels = ("kpi",)
depends_on = ("core_0001", "sla_0001")


def upgrade() -> None:
    op.create_index("ix_kpi_tickets_created_at", "tickets", ["created_at"])
    op.create_index("ix_kpi_tickets_resolved_at", "tickets", ["resolved_at"])
    op.create_index("ix_kpi_sla_events_kind_at", "sla_events", ["kind", "at"])


def downgrade() -> None:
    op.drop_index("ix_kpi_sla_events_kind_at", table_name="sla_events")
    op.drop_index("ix_kpi_tickets_resolved_at", table_name="tickets")
    op.drop_index("ix_kpi_tickets_created_at", table_name="tickets")
