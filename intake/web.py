"""The form and API channels, mounted into the web addon (usage ``web.router``).

Both only *store*: a submission becomes a message (``intake.submission``) committed to the
inbox by ``store_message``, and the answer (the thanks page, the API's 201) is given only
after that commit, with the registration reference. ``intake.process``, the sync outbox
and ``intake.confirm`` register it in the CRM exactly as they do a mail; the CRM's number
then shows on the thanks page and in ``GET /api/intake/requests/{reference}``.

* ``GET/POST /request`` — the public form (``intake.form``): CSRF, honeypot, rate limit.
* ``POST /api/intake/requests``, ``GET /api/intake/requests/{reference}`` — the JSON API
  (``intake.api``): bearer tokens from ``intake.api.tokens``, ``Idempotency-Key``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crm_bridge.store.tables import TicketRow
from intake.inbox import Stored, store_message
from intake.submission import Submission, new_message_id, reference_of, to_message
from intake.tables import InboxRow

if TYPE_CHECKING:
    from fastapi import FastAPI

    from crm_bridge.app import App
    from web.site import Site

__all__ = ["TEMPLATES", "State", "mount", "state_of", "submit"]

TEMPLATES = Path(__file__).parent / "templates"
#: the inbox's states as a caller sees them
SHOWN = {"new": "stored", "registered": "stored", "threaded": "attached", "review": "in_review",
         "ignored": "ignored", "failed": "stored"}  # failed: a person retries it; the caller need not act


@dataclass(frozen=True)
class State:
    reference: str
    state: str  # stored | registered | attached | in_review | ignored
    crm_number: str | None
    channel: str
    source: str
    received_at: datetime
    caller: str | None


def submit(app: App, sub: Submission, *, channel: str, source: str, via: str, message_id: str | None = None,
           **facts: str) -> Stored:
    """Store `sub` as a message of `channel` (``web_form``, ``api``); returns after the commit."""
    now = app.clock()
    mid = message_id or new_message_id(via)
    raw = to_message(sub, message_id=mid, now=now, channel_name=channel)
    return store_message(app.store, raw, via=via, now=now, channel=channel, facts=sub.facts(source, **facts))


def state_of(app: App, inbox_id: int) -> State | None:
    """What became of a stored submission; the CRM's number once ``intake.confirm`` read it."""
    with app.store.transaction() as s:
        row = s.get(InboxRow, inbox_id)
        if row is None:
            return None
        facts: dict[str, Any] = (row.decision or {}).get("submitted") or {}
        number = None
        if row.ticket_id is not None:
            number = s.scalar(select(TicketRow.number).where(TicketRow.id == row.ticket_id)) or None
        state = SHOWN.get(row.state, "stored")
        if row.state == "registered" and number and row.announced_at is not None:
            state = "registered"
        elif row.state == "registered":
            number = None  # not confirmed by the CRM yet
        return State(reference_of(row.id), state, number, row.channel, str(facts.get("source", "external")),
                     row.received_at, facts.get("caller"))


def mount(api: FastAPI, site: Site) -> None:
    """Add the form's and the API's routes (called by ``web.server.create_app``)."""
    from intake.api import mount_api
    from intake.form import mount_form

    site.pages.add_folder(TEMPLATES)
    mount_form(api, site)
    mount_api(api, site)
