"""What ``crm-bridge demo`` shows of per-contact preferences: one customer who, after the
first cycle, chooses in their cabinet a daily digest by Telegram (``choose``), and what
that customer got for the changes that followed (``told``). The demo (adapters/onec/cli.py)
finds both by registration (usage ``demo.customer``), so the adapter imports no notify."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_bridge.app import App
from crm_bridge.store.tables import ContactRow, TicketRow
from notify.prefs_store import change
from notify.tables import NotificationRow

__all__ = ["DEMO_CHAT", "DemoCustomer"]

DEMO_CHAT = "700100200"  # the chat the demo's local Bot API takes as the customer's


class DemoCustomer:
    """The demo's customer on a daily Telegram digest."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.contact_id: int | None = None
        self.since = 0  # notify_outbox ids after this were written once the choice was made

    def choose(self) -> list[int]:
        """Give the first contact with an open request the choice a customer makes in their
        cabinet: Telegram only, a daily digest at 09:00 their time. Returns the ids of their
        open requests (the demo's 1C user then changes them), or [] when there is none."""
        config = self.app.config.section("notify")
        if config.telegram is None:
            return []
        with self.app.store.transaction() as s:
            found = s.execute(select(ContactRow, TicketRow.id).join(TicketRow, TicketRow.contact_id == ContactRow.id)
                              .where(TicketRow.status.in_(("new", "in_progress")), ~TicketRow.deleted,
                                     ContactRow.email.is_not(None))
                              .order_by(ContactRow.id, TicketRow.id)).all()
            if not found:
                return []
            contact = found[0][0]
            change(s, config, self.app.config.timezone, contact,
                   {"channels": ["telegram"], "telegram": DEMO_CHAT, "frequency": "daily", "digest_at": "09:00"},
                   source="web", now=self.app.clock())
            self.contact_id = contact.id
            self.since = s.scalar(select(NotificationRow.id).order_by(NotificationRow.id.desc()).limit(1)) or 0
            return [ticket_id for row_contact, ticket_id in found if row_contact.id == contact.id]

    def told(self) -> dict[str, Any]:
        """What the customer's notifications since the choice became: by channel and state,
        and the reason the waiting ones give (``notify log`` says the same)."""
        if self.contact_id is None:
            return {}
        with self.app.store.transaction() as s:
            contact = s.get(ContactRow, self.contact_id)
            rows = s.scalars(select(NotificationRow).join(TicketRow, TicketRow.id == NotificationRow.ticket_id).where(
                TicketRow.contact_id == self.contact_id, NotificationRow.audience == "customer",
                NotificationRow.id > self.since)).all()
            by: dict[str, int] = {}
            for row in rows:
                by[f"{row.channel} {row.state}"] = by.get(f"{row.channel} {row.state}", 0) + 1
            reasons = sorted({row.reason for row in rows if row.state == "pending" and row.reason})
            return {"contact": contact.name if contact else None, "email": contact.email if contact else None,
                    "chat": DEMO_CHAT, "rows": by, "waiting_because": reasons}
