"""The intake inbox: every inbound message, stored before anything is done with it.

A message is a row the moment its channel hands it over (the SMTP receiver answers 250
only after the commit; the IMAP poller flags or moves it only after the commit). The
unique Message-ID makes a second delivery of the same message (an IMAP re-read after a
crash, an SMTP retry) the same row. ``intake.process`` then decides, in one transaction
per message: states ``new`` → ``registered`` (a new request), ``threaded`` (attached to
an open request: a reply or a repeat contact), ``review`` (who wrote is ambiguous: a
person decides with ``crm-bridge intake review``), ``ignored`` (auto-reply, bounce,
refused: never answered, the reason kept). ``decision`` records every rule that decided.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm_bridge.store.tables import Base, utcnow

__all__ = ["InboxRow"]


class InboxRow(Base):
    __tablename__ = "intake_inbox"
    __table_args__ = (Index("ix_intake_inbox_state", "state", "id"),
                      Index("ix_intake_inbox_sender", "sender", "received_at"))  # the flood count
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    channel: Mapped[str] = mapped_column(String(20), default="email")
    via: Mapped[str] = mapped_column(String(20))  # smtp | imap | cli
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    sender: Mapped[str] = mapped_column(String(320), default="")
    subject: Mapped[str] = mapped_column(String(1000), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(20), default="new")
    reason: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    decision: Mapped[dict[str, Any]] = mapped_column(default=dict)
    processed_at: Mapped[datetime | None]
    announced_at: Mapped[datetime | None]  # registered: when the CRM's number was read back and the request announced
