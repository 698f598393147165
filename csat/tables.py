"""The surveys: one row per (request, resolution) the planner looked at.

A request resolved, reopened and resolved again has two resolutions (``resolved_at``
differs), so two rows at most — the unique key, enforced by the database, makes a
planner run twice decide once. ``state``: ``sent`` (handed to notify, ``expires_at`` the
end of its window), ``suppressed`` (an internal request, nobody to ask), ``capped`` (the
contact had enough surveys in the period) or ``withdrawn`` (no message carried it: the
request reopened before it went, the contact opted out); ``reason`` says which.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.store.tables import Base

__all__ = ["SurveyRow"]


class SurveyRow(Base):
    __tablename__ = "csat_surveys"
    __table_args__ = (
        UniqueConstraint("ticket_id", "resolved_at", name="uq_csat_surveys_resolution"),
        Index("ix_csat_surveys_contact", "contact_key", "state", "planned_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    resolved_at: Mapped[datetime]
    contact_key: Mapped[str | None] = mapped_column(String(50))  # contact:7, else customer:3: whom the cap counts
    state: Mapped[str] = mapped_column(String(20))  # sent | suppressed | capped | withdrawn
    reason: Mapped[str | None] = mapped_column(Text)
    planned_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    rated_at: Mapped[datetime | None]
    changes: Mapped[int] = mapped_column(Integer, default=0)  # ratings after the first
