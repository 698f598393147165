"""What a customer's signed link shows: their open requests, and nothing of anybody else's.

A ``contact:<id>`` link shows that contact's open requests; a ``request:<id>`` link that one
request. People see the CRM's number, the status, the resolution due date in the
customer's zone (their segment's, as notify writes to them) and the assignee's first name
only. Reads only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from crm_bridge.app import App
from crm_bridge.links import Link
from crm_bridge.store.tables import AgentRow, ContactRow, CustomerRow, TicketRow

# notify's preferences decide a customer's zone in one place: the contact's own, else
# their segment's, else the defaults
from notify.prefs_store import Target, effective_many
from web.dashboard import OPEN

__all__ = ["cabinet", "first_name"]


def first_name(full: str | None) -> str | None:
    """The given name of an agent: 1C writes ``Фамилия Имя Отчество`` (the second word), other
    names are ``Given Family`` (the first). A customer sees no more of the person."""
    words = (full or "").split()
    if not words:
        return None
    cyrillic = any("а" <= ch.lower() <= "я" or ch.lower() == "ё" for ch in full or "")
    return words[1] if cyrillic and len(words) >= 2 else words[0]


def cabinet(app: App, link: Link, now: datetime) -> dict[str, Any]:
    """The requests `link` (verified, purpose ``cabinet``) opens: ``{"contact", "zone", "requests"}``.
    A subject that names nothing in the store shows no request."""
    with app.store.transaction() as s:
        query = (select(TicketRow, AgentRow.name).outerjoin(AgentRow, AgentRow.id == TicketRow.assignee_id)
                 .where(TicketRow.deleted.is_(False)))
        ident = int(link.ident) if link.ident.isdigit() else -1
        if link.kind == "contact":
            query = query.where(TicketRow.contact_id == ident, TicketRow.status.in_(OPEN))
        else:
            query = query.where(TicketRow.id == ident)
        rows = s.execute(query.order_by(TicketRow.created_at.desc(), TicketRow.number)).all()
        contact_id = ident if link.kind == "contact" else (rows[0][0].contact_id if rows else None)
        contact = s.get(ContactRow, contact_id) if contact_id else None
        customer_id = contact.customer_id if contact else (rows[0][0].customer_id if rows else None)
        customer = s.get(CustomerRow, customer_id) if customer_id else None
        email = (contact.email if contact else None) or (customer.email if customer else None)
        zone = effective_many(s, app.config.section("notify"), app.config.timezone,
                              {0: Target(contact, customer, email)})[0].timezone
    requests = [{"number": t.number, "subject": t.subject, "status": t.status, "due": t.resolution_due,
                 "assignee": first_name(agent)} for t, agent in rows]
    return {"contact": contact.name if contact else None, "zone": zone, "requests": requests, "now": now}
