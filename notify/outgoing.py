"""A notification claimed and rendered, ready for its channel: alone as its own message,
or as one line of a digest."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from typing import Any

from notify.channels.smtp import build_message
from notify.settings import EmailChannel
from notify.templates import Rendered

__all__ = ["Outgoing"]


@dataclass(frozen=True)
class Outgoing:
    """A row claimed and rendered: what its message (or its line in a digest) says.

    ``message_id`` was drawn when the row was written: every attempt carries the same
    one (the mail's Message-ID, the webhook's delivery id), so a receiver folds a copy.
    ``facts`` are the request and the event as data (what a webhook posts)."""

    row_id: int
    recipient: str
    recipient_name: str | None
    audience: str
    event: str
    language: str
    timezone: str
    message_id: str
    thread_root: str | None
    rendered: Rendered
    unsubscribe: str | None
    channel: str = "email"
    facts: dict[str, Any] = field(default_factory=dict)

    def message(self, channel: EmailChannel, now: datetime) -> EmailMessage:
        return build_message(channel, self.rendered, to=self.recipient, to_name=self.recipient_name,
                             message_id=self.message_id, thread_root=self.thread_root, date=now,
                             unsubscribe=self.unsubscribe)
