"""SLA tables: the append-only event ledger and each request's current clock.

``sla_events`` is never updated or deleted from. When a policy or calendar edit changes a
request's past, ``crm-bridge sla recalc`` appends a ``recalculate`` event and the new
story under the next *generation*; the current state reads the newest generation.
``sla_clocks`` caches that state, with ``next_check`` indexed so the scheduler tick finds
requests that need a look (a warning, a breach, an escalation) without scanning them all.
``sla_queue`` holds the requests an import changed, until ``sla.tick`` plans them: the
import's transaction only queues (a row per request, a new random ``token`` each time),
so a page of 1,000 requests does not wait for 1,000 plans while it holds the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.store.tables import Base, utcnow

__all__ = ["SlaCalendarRow", "SlaClockRow", "SlaEventRow", "SlaQueueRow"]


class SlaEventRow(Base):
    __tablename__ = "sla_events"
    __table_args__ = (Index("ix_sla_events_ticket", "ticket_id", "generation", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    generation: Mapped[int] = mapped_column(Integer, default=1)
    metric: Mapped[str] = mapped_column(String(30))
    cycle: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(30))
    at: Mapped[datetime]
    business_seconds: Mapped[float] = mapped_column(Float)
    calendar_seconds: Mapped[float] = mapped_column(Float)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    recorded: Mapped[datetime] = mapped_column(default=utcnow)


class SlaClockRow(Base):
    __tablename__ = "sla_clocks"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    policy: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str | None] = mapped_column(String(30))
    next_check: Mapped[datetime | None] = mapped_column(index=True)
    notes: Mapped[list[str] | None] = mapped_column(JSON)  # e.g. "computed beyond ru-production's data (ends 2027-12-31)"
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SlaQueueRow(Base):
    __tablename__ = "sla_queue"
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)  # drawn anew at each queueing: a plan of an older token keeps the row
    queued: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str | None] = mapped_column(String(500))  # recorded in the ledger when the plan changes


class SlaCalendarRow(Base):
    """A configured calendar's working periods per local day around today, as the plans
    last saw them (``sla.fingerprint``): a change re-plans the open requests it touches."""

    __tablename__ = "sla_calendars"
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    days: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
