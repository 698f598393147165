"""Storing an inbound message durably, once: what every channel calls before it answers.

``store_message`` commits the raw bytes under the message's Message-ID and returns only
after the commit; a second delivery of the same message finds its row and stores nothing
(the database's unique constraint decides, not a check in code). Channels acknowledge
(SMTP ``250``, IMAP ``\\Seen`` or a move) only after it returned.

Example::

    stored = store_message(app.store, raw, via="smtp")
    stored.inbox_id, stored.new          # 17, True (False: the same Message-ID came before)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_bridge.store.engine import Store
from crm_bridge.store.tables import utcnow
from intake.parse import parse_envelope
from intake.tables import InboxRow

__all__ = ["Stored", "store_message"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stored:
    inbox_id: int
    message_id: str
    new: bool


def store_message(store: Store, raw: bytes, *, via: str, now: datetime | None = None, channel: str = "email",
                  facts: dict[str, Any] | None = None) -> Stored:
    """Commit `raw` to the inbox (state ``new``); the same Message-ID twice is one row.

    `channel` (``email``, ``web``, ``api``) and `facts` (``source``, the form's fields) are
    kept on the row for ``intake.process``: a form or an API call is stored as a message
    built from its fields, so every channel is decided by the same job."""
    inbound = parse_envelope(raw)  # headers only: the job parses the body
    try:
        with store.transaction() as session:  # one transaction: one commit per message
            known = session.scalar(select(InboxRow.id).where(InboxRow.message_id == inbound.message_id))
            if known is not None:
                return Stored(known, inbound.message_id, new=False)
            row = InboxRow(message_id=inbound.message_id, via=via, raw=raw, sender=inbound.sender[:320], channel=channel,
                           subject=inbound.subject[:1000], received_at=now or utcnow(), state="new",
                           decision={"submitted": facts} if facts else {})
            session.add(row)
            session.flush()
            inbox_id = row.id
    except IntegrityError:  # delivered twice at once: the other delivery stored it
        with store.transaction() as session:
            inbox_id = session.scalars(select(InboxRow.id).where(InboxRow.message_id == inbound.message_id)).one()
        return Stored(inbox_id, inbound.message_id, new=False)
    log.info("stored inbound message %s from %s via %s", inbound.message_id, inbound.sender or "?", via,
             extra={"event": "intake.inbox.stored", "inbox_id": inbox_id, "via": via})
    return Stored(inbox_id, inbound.message_id, new=True)
