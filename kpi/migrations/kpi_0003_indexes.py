"""KPI: two indexes for reading one period of a store that keeps years.

* ``ix_kpi_tickets_closed_at`` — tickets by closing instant, then resolution instant and
  status: with opening and resolution (kpi_0001) and status, every request the period's
  counts and backlog can concern is found by an index instead of a pass over every request
  the store ever held; the second and third columns answer "never finished, not cancelled"
  from the index alone (a CRM that fills no closing date puts every request under one NULL).
* ``ix_kpi_sla_events_kind_at`` widened: after kind and instant it carries what the
  report reads of a fulfilment — metric, cycle, request, generation and both durations — so
  the period's first responses and clock ends are read from the index, not fetched row by
  row from a ledger of millions (0.45 of 3.8 CPU seconds at 1,000,000 requests on SQLite).
  It replaces the narrower one: the SLA engine's writes keep the same number of indexes.

Revision ID: kpi_0003
Revises: kpi_0002
"""

from __future__ import annotations

from alembic import op

revision = "kpi_0003"
down_revision = "kpi_0002"
branch_labels = None
depends_on = None

LEDGER_READ = ["kind", "at", "metric", "cycle", "ticket_id", "generation", "business_seconds", "calendar_seconds"]


def upgrade() -> None:
    op.create_index("ix_kpi_tickets_closed_at", "tickets", ["closed_at", "resolved_at", "status"])
    op.drop_index("ix_kpi_sla_events_kind_at", table_name="sla_events")
    op.create_index("ix_kpi_sla_events_kind_at", "sla_events", LEDGER_READ)


def downgrade() -> None:
    op.drop_index("ix_kpi_sla_events_kind_at", table_name="sla_events")
    op.create_index("ix_kpi_sla_events_kind_at", "sla_events", ["kind", "at"])
    op.drop_index("ix_kpi_tickets_closed_at", table_name="tickets")
