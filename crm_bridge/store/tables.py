"""Core tables: the canonical records and each ticket's domain events.

Addons define their own tables on the same ``Base`` (``sync/tables.py``) and ship their
own Alembic migrations; ``crm-bridge db upgrade`` applies all of them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from crm_bridge.store.types import UTCDateTime

__all__ = ["AgentRow", "AttachmentRow", "Base", "ContactRow", "CustomerRow", "MailRow", "NoteRow", "TeamRow", "TicketEventRow", "TicketRow", "core_table", "utcnow"]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class _Stamped:
    created: Mapped[datetime] = mapped_column(default=utcnow)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CustomerRow(_Stamped, Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    full_name: Mapped[str | None] = mapped_column(String(1000))
    tax_id: Mapped[str | None] = mapped_column(String(20), index=True)
    tax_reason_code: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    segment: Mapped[str | None] = mapped_column(String(100))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class ContactRow(_Stamped, Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    position: Mapped[str | None] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    preferred_channel: Mapped[str | None] = mapped_column(String(20))
    language: Mapped[str | None] = mapped_column(String(10))
    timezone: Mapped[str | None] = mapped_column(String(64))
    telegram_chat_id: Mapped[str | None] = mapped_column(String(100))
    notify_frequency: Mapped[str | None] = mapped_column(String(20))
    mailing_opt_out: Mapped[bool | None] = mapped_column(Boolean)


class TeamRow(_Stamped, Base):
    __tablename__ = "teams"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)


class AgentRow(_Stamped, Base):
    __tablename__ = "agents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(500))
    email: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))


class TicketRow(_Stamped, Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(100), index=True)
    subject: Mapped[str] = mapped_column(String(1000), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(50))
    priority: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(20))
    source: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"), index=True)
    co_executors: Mapped[list[int]] = mapped_column(JSON, default=list)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"))
    contract: Mapped[str | None] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    first_response_due: Mapped[datetime | None]
    resolution_due: Mapped[datetime | None] = mapped_column(index=True)
    sla_policy: Mapped[str | None] = mapped_column(String(200))
    sla_state: Mapped[str | None] = mapped_column(String(30))
    sla_breached: Mapped[bool] = mapped_column(Boolean, default=False)
    csat_score: Mapped[int | None] = mapped_column(Integer)
    csat_comment: Mapped[str | None] = mapped_column(Text)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class NoteRow(Base):
    """A note in a request's history (``crm_bridge.model.Note``). ``source_key`` is the
    identity of what wrote it here (notify: the notification's Message-ID): a second write
    with the same key finds the first, so a retried delivery never notes twice."""

    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    channel: Mapped[str] = mapped_column(String(50), default="note")
    text: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime]
    author: Mapped[str | None] = mapped_column(String(500))
    about: Mapped[str] = mapped_column(String(50), default="ticket")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    source_key: Mapped[str | None] = mapped_column(String(500), unique=True)
    updated: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class MailRow(Base):
    """A letter about a request written in the CRM (``crm_bridge.model.Mail``): imported."""

    __tablename__ = "mails"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    direction: Mapped[str] = mapped_column(String(20), default="outgoing")
    subject: Mapped[str] = mapped_column(String(1000), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    sent: Mapped[datetime]
    author_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    about: Mapped[str] = mapped_column(String(50), default="ticket")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class AttachmentRow(Base):
    """A file attached to a request (``crm_bridge.model.Attachment``). ``source_key`` is the
    identity of what wrote it here (intake: the message and the part): a second write with
    the same key finds the first, so a message decided again never attaches twice."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    filename: Mapped[str] = mapped_column(String(500))
    name: Mapped[str] = mapped_column(String(500), default="")
    extension: Mapped[str] = mapped_column(String(50), default="")
    content_type: Mapped[str] = mapped_column(String(200), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    source_key: Mapped[str | None] = mapped_column(String(500), unique=True)


class TicketEventRow(Base):
    """A ticket's history as domain events: created, status_changed, priority_changed, ..."""

    __tablename__ = "ticket_events"
    __table_args__ = (Index("ix_ticket_events_ticket_at", "ticket_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    kind: Mapped[str] = mapped_column(String(50))
    at: Mapped[datetime]
    origin: Mapped[str] = mapped_column(String(100))  # "remote:<backend>" or the addon that decided
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    recorded: Mapped[datetime] = mapped_column(default=utcnow)


def core_table(row: type[Base]) -> Table:
    """The Core table of a mapped row class, for bulk statements that need no row objects
    (``session.execute(insert(core_table(SlaEventRow)), rows)``: one executemany)."""
    return cast(Table, row.__table__)
