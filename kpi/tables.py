"""The indexes the KPI reports read by, on the core and SLA tables (created by
``kpi/migrations``; declared here so the models and the migrations describe one schema).

A report reads one period of a store that keeps years: by opening and resolution instant
(``tickets``; with the closing instant and the status, every request the backlog can
concern) and by the ledger's kind and instant (``sla_events``: the first responses and
clock ends of the period; ``ticket_events``: the ``message`` events intake marked as
repeat contacts), instead of every row.
"""

from __future__ import annotations

from sqlalchemy import Index

from crm_bridge.store.tables import TicketEventRow, TicketRow
from sla.tables import SlaEventRow

__all__ = ["INDEXES"]

INDEXES = (
    Index("ix_kpi_tickets_created_at", TicketRow.created_at),
    Index("ix_kpi_tickets_resolved_at", TicketRow.resolved_at),
    Index("ix_kpi_tickets_closed_at", TicketRow.closed_at, TicketRow.resolved_at, TicketRow.status),
    Index("ix_kpi_sla_events_kind_at", SlaEventRow.kind, SlaEventRow.at, SlaEventRow.metric, SlaEventRow.cycle,
          SlaEventRow.ticket_id, SlaEventRow.generation, SlaEventRow.business_seconds, SlaEventRow.calendar_seconds),
    Index("ix_kpi_ticket_events_kind_at", TicketEventRow.kind, TicketEventRow.at),
)
