"""A notification claimed and rendered, ready for the mailer: alone as its own mail, or
as one line of a digest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from notify.settings import EmailChannel
from notify.smtp import build_message
from notify.templates import Rendered

__all__ = ["Outgoing"]


@dataclass(frozen=True)
class Outgoing:
    """A row claimed and rendered: what its mail (or its line in a digest) says."""

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

    def message(self, channel: EmailChannel, now: datetime) -> EmailMessage:
        return build_message(channel, self.rendered, to=self.recipient, to_name=self.recipient_name,
                             message_id=self.message_id, thread_root=self.thread_root, date=now,
                             unsubscribe=self.unsubscribe)
