"""The cabinet's notification preferences form: what it shows and what a POST of it stores.

The web addon keeps no preferences of its own: the form shows notify's effective values
(``notify.prefs_store.contact_prefs``, each with the layer it comes from) and a POST goes
through ``notify.prefs_store.change(..., source="web")`` — the same checks and storage as
``crm-bridge notify prefs set``, so ``notify prefs show`` then names the source ``web``.

A ``contact:<id>`` link edits that contact; a ``request:<id>`` link its request's contact.
A channel ticked that the contact had opted out of (an unsubscribe link) is opted in again:
ticking it is the customer's own choice. Clearing both quiet-hour fields removes the
contact's own quiet hours (their segment's or the defaults apply again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_bridge.app import App
from crm_bridge.links import Link
from crm_bridge.store.tables import ContactRow, TicketRow
from notify.prefs import CHANNELS, CUSTOMER_EVENTS, FREQUENCIES
from notify.prefs_store import change, contact_prefs, save
from notify.settings import LANGUAGES

__all__ = ["FormProblem", "prefs_view", "save_prefs"]

_ADDRESS_FIELD = {"email": "email", "sms": "phone", "telegram": "telegram"}


class FormProblem(ValueError):
    """A value the customer must correct: ``key`` names the message in ``web.i18n``."""

    def __init__(self, key: str, detail: str = "") -> None:
        super().__init__(detail or key)
        self.key, self.detail = key, detail


def _contact_id(session: Session, link: Link) -> int | None:
    ident = int(link.ident) if link.ident.isdigit() else -1
    if link.kind == "contact":
        return ident
    return session.scalar(select(TicketRow.contact_id).where(TicketRow.id == ident, TicketRow.deleted.is_(False)))


def prefs_view(app: App, link: Link) -> dict[str, Any] | None:
    """What the form shows for the contact `link` opens, or None (no contact: a request of a
    customer without one)."""
    with app.store.transaction() as s:
        contact_id = _contact_id(s, link)
        contact = s.get(ContactRow, contact_id) if contact_id else None
        if contact is None or contact.deleted:
            return None
        prefs = contact_prefs(s, app.config.section("notify"), app.config.timezone, contact)
    return {"channels": [c for c in prefs.channels if c not in prefs.opt_outs], "events": sorted(prefs.events),
            "frequency": prefs.frequency, "digest_at": prefs.digest_at.strftime("%H:%M"),
            "quiet_from": prefs.quiet.from_.strftime("%H:%M") if prefs.quiet else "",
            "quiet_to": prefs.quiet.to.strftime("%H:%M") if prefs.quiet else "",
            "language": prefs.language, "timezone": prefs.timezone,
            "addresses": {c: prefs.addresses.get(c) or "" for c in CHANNELS},
            "opted_out": {c: out.at for c, out in prefs.opt_outs.items()},
            "all_channels": CHANNELS, "all_events": CUSTOMER_EVENTS, "frequencies": FREQUENCIES, "languages": LANGUAGES}


def _one(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or [""]
    return values[-1].strip()


def save_prefs(app: App, link: Link, form: Mapping[str, Sequence[str]], now: datetime) -> list[str]:
    """Store the posted form (field name → values) for the contact `link` opens; what changed.

    Raises:
        FormProblem: a value to correct (nothing stored), or no contact behind the link.
    """
    channels = [c for c in form.get("channels", []) if c in CHANNELS]
    events = [e for e in form.get("events", []) if e in CUSTOMER_EVENTS]
    if not channels:
        raise FormProblem("prefs_need_channel")
    if not events:
        raise FormProblem("prefs_need_event")
    if "telegram" in channels and not _one(form, "telegram"):
        raise FormProblem("prefs_need_chat")
    quiet_from, quiet_to = _one(form, "quiet_from"), _one(form, "quiet_to")
    if bool(quiet_from) != bool(quiet_to):
        raise FormProblem("prefs_quiet_both")
    given: dict[str, object] = {"channels": channels, "events": events, "frequency": _one(form, "frequency") or None,
                                "digest_at": _one(form, "digest_at") or None, "language": _one(form, "language") or None,
                                "quiet": f"{quiet_from}-{quiet_to}" if quiet_from else None}
    config = app.config.section("notify")
    with app.store.transaction() as s:
        contact_id = _contact_id(s, link)
        contact = s.get(ContactRow, contact_id) if contact_id else None
        if contact is None or contact.deleted:
            raise FormProblem("prefs_no_contact")
        before = contact_prefs(s, config, app.config.timezone, contact)
        for channel in channels:  # an address typed for a channel ticked; the one shown (the CRM's) is not pinned
            typed = _one(form, _ADDRESS_FIELD[channel])
            given[_ADDRESS_FIELD[channel]] = typed if typed and typed != before.addresses.get(channel) else None
        try:
            changed = change(s, config, app.config.timezone, contact, given, source="web",
                             opt_ins=[c for c in channels if c in before.opt_outs], now=now)
        except ValueError as exc:
            s.rollback()
            raise FormProblem("prefs_invalid", str(exc)) from exc
        if not quiet_from and before.sources.get("quiet") in ("web", "cli", "crm"):  # the contact's own
            changed += list(save(s, contact.id, {"quiet": None}, source="web", now=now))
    return changed
