"""The notification outbox: one row per (event, recipient, channel).

A row is written by the event handlers in the transaction of the domain event that
caused it (a rolled-back import leaves none) and sent by ``notify.dispatch``. The unique
key (``event_key``, ``recipient``, ``channel``) — enforced by the database — makes a
repeated event (a retried job, the same SLA warning announced twice) one row. The
Message-ID is drawn when the row is written, so every attempt sends the same one.

States: ``pending`` (due at ``next_attempt_at``; ``reason`` says why it waits: quiet
hours, the due dates not planned yet, the last 4xx), ``sent``, ``parked`` (a permanent
failure, with the reason), ``withdrawn`` (its cause was gone at send time, with the reason).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.store.tables import Base, utcnow

__all__ = ["ContactPrefsRow", "NotificationRow", "OptOutRow", "RateBucketRow"]


class NotificationRow(Base):
    __tablename__ = "notify_outbox"
    __table_args__ = (
        UniqueConstraint("event_key", "recipient", "channel", name="uq_notify_outbox_key"),
        Index("ix_notify_outbox_due", "state", "next_attempt_at"),
        Index("ix_notify_outbox_ticket", "ticket_id", "recipient", "id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(300))  # the cause, e.g. ack/42 or sla.breach/42/resolution/1/0
    event: Mapped[str] = mapped_column(String(50))  # the template: acknowledgement, status_changed, sla_breach, ...
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"))
    recipient: Mapped[str] = mapped_column(String(320))  # the address, lower-cased
    recipient_name: Mapped[str | None] = mapped_column(String(500))
    audience: Mapped[str] = mapped_column(String(20))  # customer | staff
    channel: Mapped[str] = mapped_column(String(20), default="email")
    language: Mapped[str] = mapped_column(String(10))
    timezone: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    thread_root: Mapped[str | None] = mapped_column(String(300))  # Message-ID of the recipient's first mail of the request
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the event's facts (status from/to, SLA metric, level)
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(1000))  # as sent
    created: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class ContactPrefsRow(Base):
    __tablename__ = "notify_prefs"
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True)
    channels: Mapped[list[str] | None] = mapped_column(JSON)
    events: Mapped[list[str] | None] = mapped_column(JSON)
    frequency: Mapped[str | None] = mapped_column(String(20))
    digest_at: Mapped[str | None] = mapped_column(String(5))  # HH:MM, the contact's zone
    quiet: Mapped[str | None] = mapped_column(String(11))  # HH:MM-HH:MM
    language: Mapped[str | None] = mapped_column(String(10))
    timezone: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    telegram: Mapped[str | None] = mapped_column(String(100))
    sources: Mapped[dict[str, Any]] = mapped_column(default=dict)  # field -> crm | cli | web
    updated: Mapped[datetime] = mapped_column(default=utcnow)


class OptOutRow(Base):
    __tablename__ = "notify_opt_outs"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_notify_opt_outs_channel"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(320))  # lower-cased; "contact:<id>" when the contact had none
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    at: Mapped[datetime]
    via: Mapped[str] = mapped_column(String(20))  # link | cli | web | crm


class RateBucketRow(Base):
    """A rate limit's token bucket (``notify.ratelimit``): per recipient and channel, or per channel."""

    __tablename__ = "notify_rate_buckets"
    key: Mapped[str] = mapped_column(String(400), primary_key=True)  # recipient:email:a@b.ru | channel:email
    tokens: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime]
