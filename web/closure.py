"""The customer's answer to the ``resolved`` mail: confirm the closure, or reopen the request.

Each link (``crm_bridge.links``, purpose ``close`` or ``reopen``, subject ``request:<id>``)
acts on its request only, by POST from the confirm page its GET shows. The change is made
as any engine's decision is:

* the request's status in the store (``closed``; reopened: ``web.reopen_status``,
  default ``in_progress``);
* ``record.changed`` with the status — the sync outbox writes it back to the CRM, with the
  note (``why``) saying the customer did it from the link;
* ``ticket.imported`` with ``before.status`` (origin ``web``), the event the importer
  publishes when a status changes in the CRM: the request's history gets the
  ``status_changed`` entry, the SLA addon re-plans (a reopened request starts a new
  resolution cycle, as for a request reopened in the CRM) and notify tells the customer
  as for any status change.

A closure of a request no longer resolved (reopened meanwhile, or never resolved) is not
made: the page says so. A second click changes nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Literal

from crm_bridge.app import App
from crm_bridge.events import DomainEvent
from crm_bridge.links import Link
from crm_bridge.model import TicketStatus
from crm_bridge.store.tables import TicketRow

__all__ = ["Outcome", "answer", "request_of"]

log = logging.getLogger(__name__)

#: done: the status changed; already: it was so; refused: not from this status
Outcome = Literal["done", "already", "refused"]
_CLOSE_FROM = (TicketStatus.RESOLVED.value,)
_REOPEN_FROM = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)


def request_of(app: App, link: Link) -> dict[str, Any] | None:
    """The request a close/reopen link names, as the confirm page shows it (number, subject,
    status), or None when the store has no such request."""
    ident = int(link.ident) if link.kind == "request" and link.ident.isdigit() else -1
    with app.store.transaction() as s:
        ticket = s.get(TicketRow, ident)
        if ticket is None or ticket.deleted:
            return None
        return {"number": ticket.number, "subject": ticket.subject, "status": ticket.status}


def answer(app: App, link: Link, action: Literal["close", "reopen"], now: datetime) -> tuple[Outcome, dict[str, Any] | None]:
    """Carry out the customer's `action` on the request of `link` (verified for that purpose)."""
    ident = int(link.ident) if link.kind == "request" and link.ident.isdigit() else -1
    target = TicketStatus.CLOSED.value if action == "close" else app.config.section("web").reopen_status
    allowed = _CLOSE_FROM if action == "close" else _REOPEN_FROM
    with app.store.transaction() as s:
        ticket = s.get(TicketRow, ident, with_for_update=True)
        if ticket is None or ticket.deleted:
            return "refused", None
        shown = {"number": ticket.number, "subject": ticket.subject, "status": ticket.status}
        if ticket.status == target:
            return "already", shown
        if ticket.status not in allowed:
            return "refused", shown
        before = ticket.status
        ticket.status = target
        note = ("the customer confirmed the closure from the link in the resolved mail" if action == "close" else
                "the customer reopened the request from the link in the resolved mail: the problem remains")
        unit = app.bus.unit(s, now, app.config)
        unit.publish(DomainEvent("record.changed", "ticket", ticket.id, "web",
                                 {"fields": {"status": target}, "why": {"status": note}}))
        unit.publish(DomainEvent("ticket.imported", "ticket", ticket.id, "web",
                                 {"created": False, "changed": ["status"], "before": {"status": before}}))
        unit.complete()
        shown["status"] = target
    log.info("request %s: %s -> %s by the customer's link", shown["number"], before, target,
             extra={"event": f"web.request.{action}", "number": shown["number"], "local_id": ident})
    return "done", shown
