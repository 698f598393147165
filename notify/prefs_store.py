"""Customer preferences, stored: one row per contact (``notify_prefs``) and the opt-outs
(``notify_opt_outs``), with who set each value (``crm``, ``cli``, ``web``).

Tables in ``notify.tables``.

* ``effective_many`` reads both for the outbox and hands ``notify.prefs.effective`` the layers;
* ``change`` is what ``notify prefs set`` and the customer's page (web addon) do; ``save``
  writes a contact's choice; a value a person set (CLI, page) is never
  overwritten by an import (``source="crm"``): ``on_contact_imported`` seeds from the
  canonical contact fields an integrator maps (``preferred_channel``, ``language``, ...);
* an opt-out is kept per (channel, address) and per contact, with when and how (link,
  cli, web, crm); only ``opt_in`` from the CLI or the page lifts it, never an import;
* ``unsubscribe(app, token)`` is what the one-click link (RFC 8058) does: the web addon's
  endpoint calls it, ``crm-bridge notify unsubscribe TOKEN`` too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, time
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_bridge.app import App
from crm_bridge.errors import BridgeError
from crm_bridge.events import DomainEvent, Unit
from crm_bridge.links import LinkExpired, LinkRefused
from crm_bridge.store.records import in_chunks, rows_by_id
from crm_bridge.store.tables import ContactRow, CustomerRow
from notify.compose import token_address
from notify.prefs import (
    CHANNELS,
    CUSTOMER_EVENTS,
    FREQUENCIES,
    PERSONAL,
    Effective,
    OptOut,
    Stored,
    effective,
)
from notify.settings import LANGUAGES, NotifyConfig, QuietHours, wall_time
from notify.tables import ContactPrefsRow, OptOutRow

__all__ = ["FIELDS", "BadToken", "Target", "change", "check_choice", "contact_prefs", "effective_many", "on_contact_imported", "opt_in",
           "opt_out", "save", "stored_of", "unsubscribe"]

log = logging.getLogger(__name__)
#: what a contact may choose, as ``save`` takes it
FIELDS = ("channels", "events", "frequency", "digest_at", "quiet", "language", "timezone", "email", "phone", "telegram")


class BadToken(BridgeError):
    """An unsubscribe token that this installation did not sign (or was cut short)."""


def stored_of(row: ContactPrefsRow | None) -> Stored | None:
    """The pure core's view of a stored row."""
    if row is None:
        return None
    return Stored(channels=tuple(row.channels) if row.channels is not None else None,
                  events=tuple(row.events) if row.events is not None else None, frequency=row.frequency,
                  digest_at=time.fromisoformat(row.digest_at) if row.digest_at else None,
                  quiet=QuietHours.parse(row.quiet) if row.quiet else None, language=row.language,
                  timezone=row.timezone, email=row.email, phone=row.phone, telegram=row.telegram,
                  sources=dict(row.sources or {}))


@dataclass(frozen=True)
class Target:
    """Whom a customer notification is for: the contact (if any), the customer, the e-mail
    address the outbox found (the contact's, else the customer's)."""

    contact: ContactRow | None
    customer: CustomerRow | None
    email: str | None


def effective_many(session: Session, config: NotifyConfig, default_zone: str,
                   targets: Mapping[int, Target]) -> dict[int, Effective]:
    """Each target's effective preferences (keyed as `targets`), in three queries."""
    contact_ids = {t.contact.id for t in targets.values() if t.contact is not None}
    stored: dict[int, ContactPrefsRow] = {}
    for chunk in in_chunks(sorted(contact_ids)):
        stored.update((r.contact_id, r) for r in session.scalars(
            select(ContactPrefsRow).where(ContactPrefsRow.contact_id.in_(chunk))))
    addresses: dict[int, dict[str, str | None]] = {}
    for key, t in targets.items():
        phone = (t.contact.phone if t.contact is not None else None) or (t.customer.phone if t.customer else None)
        addresses[key] = {"email": _norm(t.email), "sms": phone}
    mine = {_norm(a) for adr in addresses.values() for a in adr.values() if a}
    mine |= {_norm(r.email) for r in stored.values() if r.email} | {_norm(r.phone) for r in stored.values() if r.phone}
    mine |= {_norm(r.telegram) for r in stored.values() if r.telegram}
    outs = _opt_outs(session, {a for a in mine if a}, contact_ids)
    result: dict[int, Effective] = {}
    for key, t in targets.items():
        row = stored.get(t.contact.id) if t.contact is not None else None
        prefs = effective(config.customer, segment=t.customer.segment if t.customer else None, stored=stored_of(row),
                          quiet=config.quiet_hours, default_zone=default_zone, addresses=addresses[key], opt_outs={})
        gone = {}
        for channel, address in prefs.addresses.items():
            hit = outs.get((channel, _norm(address) or "")) or (outs.get((channel, t.contact.id)) if t.contact else None)
            if hit is not None:
                gone[channel] = hit
        result[key] = replace(prefs, opt_outs=gone)
    return result


def _opt_outs(session: Session, addresses: set[str], contact_ids: set[int]) -> dict[tuple[str, object], OptOut]:
    if not addresses and not contact_ids:
        return {}
    found: dict[tuple[str, object], OptOut] = {}
    for row in session.scalars(select(OptOutRow).where(or_(OptOutRow.address.in_(sorted(addresses)),
                                                           OptOutRow.contact_id.in_(sorted(contact_ids))))):
        out = OptOut(row.channel, row.at, row.via)
        found[(row.channel, row.address)] = out
        if row.contact_id is not None:
            found.setdefault((row.channel, row.contact_id), out)
    return found


def check_choice(name: str, value: object) -> object:
    """`value` as stored for field `name`; ValueError saying what is valid."""
    if value is None:
        return None
    if name in ("channels", "events"):
        known = CHANNELS if name == "channels" else CUSTOMER_EVENTS
        items = [str(v).strip() for v in (value if isinstance(value, list | tuple) else str(value).split(","))]
        wrong = [v for v in items if v not in known]
        if wrong or not items:
            msg = f"{name}: {', '.join(wrong) or 'none given'} — choose from {', '.join(known)}"
            raise ValueError(msg)
        return list(dict.fromkeys(items))
    text = str(value).strip()
    checks: dict[str, tuple[bool, str]] = {
        "frequency": (text in FREQUENCIES, f"one of {', '.join(FREQUENCIES)}"),
        "language": (text in LANGUAGES, f"one of {', '.join(LANGUAGES)}"),
        "timezone": (text in available_timezones(), "an IANA zone such as Europe/London"),
    }
    if name in checks and not checks[name][0]:
        msg = f"{name}: {text!r} is not {checks[name][1]}"
        raise ValueError(msg)
    if name == "digest_at":
        try:
            return wall_time(text).strftime("%H:%M")
        except ValueError as exc:
            msg = f"digest_at: {exc}"
            raise ValueError(msg) from None
    if name == "quiet":
        return str(QuietHours.parse(text))
    if name in ("email", "phone", "telegram"):
        return _norm(text)
    return text


def save(session: Session, contact_id: int, changes: Mapping[str, object], *, source: str,
         now: datetime) -> dict[str, object]:
    """Store `changes` (FIELDS, already checked by ``check_choice``) for a contact, noting
    `source` per field; an import (``crm``) skips fields a person set. Returns what changed."""
    row = session.get(ContactPrefsRow, contact_id)
    if row is None:
        row = ContactPrefsRow(contact_id=contact_id, sources={})
        session.add(row)
    sources = dict(row.sources or {})
    changed: dict[str, object] = {}
    for name, value in changes.items():
        if source == "crm" and sources.get(name) in PERSONAL:
            continue
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed[name] = value
        if value is not None:
            sources[name] = source
        else:
            sources.pop(name, None)
    row.sources, row.updated = sources, now
    return changed


def contact_prefs(session: Session, config: NotifyConfig, default_zone: str, contact: ContactRow) -> Effective:
    """One contact's effective preferences (what ``notify prefs show`` and the page show)."""
    customer = session.get(CustomerRow, contact.customer_id) if contact.customer_id else None
    email = contact.email or (customer.email if customer is not None else None)
    return effective_many(session, config, default_zone, {0: Target(contact, customer, email)})[0]


def change(session: Session, config: NotifyConfig, default_zone: str, contact: ContactRow, given: Mapping[str, object], *,
           source: str, opt_outs: Iterable[str] = (), opt_ins: Iterable[str] = (), now: datetime) -> list[str]:
    """What ``notify prefs set`` and the customer's page do: check `given` (``FIELDS``; None:
    unchanged), store it marked `source` (``cli``, ``web``), lift `opt_ins` and record
    `opt_outs` (channels). Returns what changed, opt-outs as ``opt_out:<channel>``.

    Raises:
        ValueError: a value, a channel, or telegram without a chat id — nothing stored; the
            message says what is valid.
    """
    changes = {name: check_choice(name, value) for name, value in given.items() if value is not None}
    outs, ins = list(opt_outs), list(opt_ins)
    for name in [*outs, *ins]:
        if name not in CHANNELS:
            msg = f"no channel {name!r}: choose from {', '.join(CHANNELS)}"
            raise ValueError(msg)
    before = contact_prefs(session, config, default_zone, contact)
    chosen = changes.get("channels") or before.channels
    if "telegram" in chosen and not (changes.get("telegram") or before.addresses.get("telegram")):  # type: ignore[operator]
        msg = "telegram needs a chat id (the chat the bot writes to), e.g. --chat-id 123456789"
        raise ValueError(msg)
    changed = sorted(save(session, contact.id, changes, source=source, now=now)) if changes else []
    after = contact_prefs(session, config, default_zone, contact)
    for name in ins:
        if opt_in(session, name, contact, [before.addresses.get(name), after.addresses.get(name)]):
            changed.append(f"opt_in:{name}")
    for name in outs:
        if opt_out(session, name, after.addresses.get(name), contact.id, via=source, now=now):
            changed.append(f"opt_out:{name}")
    return changed


def opt_out(session: Session, channel: str, address: str | None, contact_id: int | None, *, via: str,
            now: datetime) -> bool:
    """Record an opt-out of `channel` (idempotent: the first one's date and way stay); False
    when it was already there."""
    key = _norm(address) or f"contact:{contact_id}"
    if session.scalar(select(OptOutRow.id).where(OptOutRow.channel == channel, OptOutRow.address == key)) is not None:
        return False
    session.add(OptOutRow(channel=channel, address=key, contact_id=contact_id, at=now, via=via))
    session.flush()
    return True


def opt_in(session: Session, channel: str, contact: ContactRow, addresses: Iterable[str | None]) -> int:
    """Lift the contact's opt-outs of `channel` (the CLI and the page do; an import never). Rows lifted."""
    keys = {_norm(a) for a in addresses if a} | {f"contact:{contact.id}"}
    rows = list(session.scalars(select(OptOutRow).where(OptOutRow.channel == channel, or_(
        OptOutRow.address.in_(sorted(k for k in keys if k)), OptOutRow.contact_id == contact.id))))
    for row in rows:
        session.delete(row)
    return len(rows)


def unsubscribe(app: App, token: str, *, now: datetime | None = None) -> dict[str, Any]:
    """What the one-click unsubscribe link does: the token's address opts out of e-mail (for
    every contact holding it). Idempotent. The web addon's endpoint calls this.

    Raises:
        BadToken: the token was not signed with this ``links.secret`` (or ``link_secret``),
            is cut short or has expired.
    """
    config: NotifyConfig = app.config.section("notify")
    at = now or app.clock()
    try:
        address = token_address(config, token, at, links=app.config.section("links"))
    except LinkRefused as exc:
        why = "it has expired" if isinstance(exc, LinkExpired) else \
            "cut short, or signed with another links.secret / link_secret"
        msg = (f"this unsubscribe link is not valid ({why}); open the link from the newest mail, or run "
               "crm-bridge notify prefs set CONTACT --opt-out email")
        raise BadToken(msg) from exc
    with app.store.transaction() as session:
        contacts = list(session.scalars(select(ContactRow.id).where(ContactRow.email.is_not(None))
                                        .where(ContactRow.email.ilike(address))))
        new = opt_out(session, "email", address, contacts[0] if len(contacts) == 1 else None, via="link", now=at)
    log.info("unsubscribed by link (%d contacts)", len(contacts), extra={"event": "notify.prefs.unsubscribed"})
    return {"address": address, "channel": "email", "contacts": len(contacts), "already": not new}


def on_contact_imported(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``contact.imported``: seed the contact's preferences from the mapped CRM
    fields (batched per page)."""
    if unit.config.section("notify").enabled:
        unit.defer("notify.prefs.seed", event, _seed)


_FROM_CRM = {"preferred_channel": "channels", "language": "language", "timezone": "timezone",
             "telegram_chat_id": "telegram", "notify_frequency": "frequency"}


def _seed(unit: Unit, events: list[DomainEvent]) -> None:
    session = unit.session
    session.flush()
    contacts = rows_by_id(session, ContactRow, {e.local_id for e in events})
    for contact in contacts.values():
        changes: dict[str, object] = {}
        for column, name in _FROM_CRM.items():
            value = getattr(contact, column)
            if value in (None, ""):
                continue
            try:
                changes[name] = check_choice(name, [value] if name == "channels" else value)
            except ValueError as exc:
                log.warning("contact %d: CRM field %s not taken: %s", contact.id, column, exc,
                            extra={"event": "notify.prefs.crm_value", "local_id": contact.id})
        if changes:
            save(session, contact.id, changes, source="crm", now=unit.now)
        if contact.mailing_opt_out:
            opt_out(session, "email", contact.email, contact.id, via="crm", now=unit.now)


def _norm(address: str | None) -> str | None:
    return address.strip().lower() if address else None
