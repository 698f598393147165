"""Routing tables: the queue of requests waiting for an agent, the round-robin pointers,
the agents' availability and the assignment log.

* ``routing_queue`` — an import queues each new request here (in the import's
  transaction); ``routing.tick`` assigns it, or leaves it with the reason nobody could
  take it and since when, and assigns it once someone can.
* ``routing_pointers`` — one row per rule: where its round robin starts next; stored, so
  the rotation is fair across restarts and workers.
* ``routing_credits`` — method ``weighted``: each agent's credit per rule (see
  ``routing.weighted``); stored, so the shares hold across restarts and workers.
* ``routing_agents`` — an agent's availability (``available``/``away``/``offline``), set
  with ``crm-bridge routing agent set-status``; the row is also the agent's lock: an
  assignment locks it (``SELECT … FOR UPDATE`` on PostgreSQL) and counts the agent's
  load again under the lock, so two workers never push an agent past capacity.
* ``routing_log`` — every move with its reason (assigned, queued, manual, kept,
  reassigned, raise_priority, notify_supervisor); append-only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.store.tables import Base, TicketRow, utcnow

__all__ = ["RoutingAgentRow", "RoutingCreditRow", "RoutingLogRow", "RoutingPointerRow", "RoutingQueueRow"]


class RoutingQueueRow(Base):
    __tablename__ = "routing_queue"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    queued: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(String(1000))  # why it still waits (None: not tried yet)
    tried: Mapped[datetime | None]


class RoutingPointerRow(Base):
    __tablename__ = "routing_pointers"
    rule: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class RoutingCreditRow(Base):
    __tablename__ = "routing_credits"
    rule: Mapped[str] = mapped_column(String(200), primary_key=True)
    agent: Mapped[str] = mapped_column(String(500), primary_key=True)  # the configuration's key
    credit: Mapped[float] = mapped_column(Float, default=0.0)


class RoutingAgentRow(Base):
    __tablename__ = "routing_agents"
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="available")
    since: Mapped[datetime] = mapped_column(default=utcnow)


class RoutingLogRow(Base):
    __tablename__ = "routing_log"
    __table_args__ = (Index("ix_routing_log_ticket", "ticket_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    at: Mapped[datetime]
    action: Mapped[str] = mapped_column(String(30))
    rule: Mapped[str | None] = mapped_column(String(200))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the agents considered, the SLA event


#: covers ``routing.roster.count_load`` (migration routing_0003): the per-chunk load count
#: reads this index alone, not every ticket row
LOAD_INDEX = Index("ix_routing_tickets_load", TicketRow.assignee_id, TicketRow.status, TicketRow.type, TicketRow.deleted)
