"""``crm-bridge notify prefs``: a contact's notification preferences — see, change, list —
and ``crm-bridge notify unsubscribe TOKEN`` (what the one-click link does).

A contact is named by e-mail, phone or its code in the CRM; values set here are marked
``cli`` and an import from the CRM never overwrites them."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crm_bridge.cli.common import console, console_err, emit_json, open_app

if TYPE_CHECKING:  # imported where used: `crm-bridge notify prefs --help` loads no SQLAlchemy
    from sqlalchemy.orm import Session

    from crm_bridge.store.tables import ContactRow
    from notify.prefs import Effective

__all__ = ["prefs_app", "unsubscribe_command"]

prefs_app = typer.Typer(help="A contact's channels, events, frequency, quiet hours and opt-outs.\n\n"
                             "Example: crm-bridge notify prefs set m.ivanova@romashka.example --frequency daily --at 09:00",
                        no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]
ContactArg = Annotated[str, typer.Argument(help="The contact's e-mail, phone (+79161234567) or code in the CRM.")]


def find_contact(session: Session, who: str) -> ContactRow:
    """The one contact `who` names (e-mail, phone, CRM code); exits 1 saying what was tried."""
    from sqlalchemy import column, func, select, table

    from crm_bridge.store.tables import ContactRow

    text = who.strip()
    if "@" in text:
        found = list(session.scalars(select(ContactRow).where(func.lower(ContactRow.email) == text.lower())))
    else:
        digits = re.sub(r"\D", "", text)
        found = [c for c in session.scalars(select(ContactRow).where(ContactRow.phone.is_not(None)))
                 if digits and re.sub(r"\D", "", c.phone or "") == digits] if len(digits) >= 7 else []
        if not found:  # the CRM's code: the sync addon's binding of the contact (read, not imported)
            bindings = table("bindings", column("model"), column("remote_id"), column("local_id"))
            ids = list(session.scalars(select(bindings.c.local_id).where(bindings.c.model == "contact",
                                                                       bindings.c.remote_id == text)))
            found = list(session.scalars(select(ContactRow).where(ContactRow.id.in_(ids)))) if ids else []
    live = [c for c in found if not c.deleted] or found
    if len(live) == 1:
        return live[0]
    if live:
        console_err.print(f"[red]{len(live)} contacts match {escape(who)!r}[/red]: "
                          f"{escape(', '.join(sorted(c.name for c in live)))}; give the e-mail or the CRM code",
                          highlight=False)
    else:
        console_err.print(f"[red]no contact {escape(who)!r}[/red]: give an e-mail (m.ivanova@romashka.example), a phone "
                          "(+79161234567) or the contact's code in the CRM", highlight=False)
    raise typer.Exit(1)


def _effective(session: Session, bridge: Any, contact: ContactRow) -> Effective:
    from notify.prefs_store import contact_prefs

    return contact_prefs(session, bridge.config.section("notify"), bridge.config.timezone, contact)


def _as_data(contact: ContactRow, prefs: Effective, segment: str | None) -> dict[str, Any]:
    return {"contact": {"name": contact.name, "email": contact.email, "phone": contact.phone, "segment": segment},
            "channels": list(prefs.channels), "events": sorted(prefs.events), "frequency": prefs.frequency,
            "digest_at": f"{prefs.digest_at:%H:%M}", "quiet": str(prefs.quiet) if prefs.quiet else None,
            "language": prefs.language, "timezone": prefs.timezone, "addresses": dict(prefs.addresses),
            "sources": dict(prefs.sources),
            "opt_outs": [{"channel": o.channel, "at": o.at.isoformat(), "via": o.via} for o in prefs.opt_outs.values()]}


def _print(data: dict[str, Any]) -> None:
    c = data["contact"]
    console.print(f"[bold]{escape(c['name'])}[/bold] {escape(c['email'] or '')} {escape(c['phone'] or '')}"
                  + (f" (segment {escape(c['segment'])})" if c["segment"] else ""), highlight=False)
    table = Table("preference", "value", "set by")
    src = data["sources"]
    freq = data["frequency"] + (f" at {data['digest_at']}" if data["frequency"] == "daily" else "")
    for label, value, key in (("channels", ", ".join(data["channels"]), "channels"), ("frequency", freq, "frequency"),
                              ("events", ", ".join(data["events"]), "events"), ("quiet hours", data["quiet"] or "—", "quiet"),
                              ("language", data["language"], "language"), ("time zone", data["timezone"], "timezone"),
                              ("telegram chat", data["addresses"].get("telegram") or "—", "telegram")):
        table.add_row(label, escape(str(value)), src.get(key, "default"))
    for out in data["opt_outs"]:
        table.add_row(f"opted out of {out['channel']}", out["at"][:10], out["via"])
    console.print(table)


@prefs_app.command("show")
def show(contact: ContactArg, *, as_json: JsonOpt = False) -> None:
    """A contact's effective preferences and who set each (default, segment, crm, cli, web).

    Example: crm-bridge notify prefs show m.ivanova@romashka.example --json
    """
    from crm_bridge.store.tables import CustomerRow

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            row = find_contact(s, contact)
            customer = s.get(CustomerRow, row.customer_id) if row.customer_id else None
            data = _as_data(row, _effective(s, bridge, row), customer.segment if customer else None)
    finally:
        bridge.close()
    if as_json:
        emit_json(data)
    else:
        _print(data)


@prefs_app.command("set")
def set_command(
    contact: ContactArg,
    channel: Annotated[list[str] | None, typer.Option("--channel", help="email, sms or telegram; repeat for several.")] = None,
    chat_id: Annotated[str | None, typer.Option("--chat-id", help="The Telegram chat id (for --channel telegram).")] = None,
    phone: Annotated[str | None, typer.Option("--phone", help="The number SMS go to (default: the CRM's).")] = None,
    email: Annotated[str | None, typer.Option("--email", help="The address mail goes to (default: the CRM's).")] = None,
    frequency: Annotated[str | None, typer.Option("--frequency", help="immediately, hourly or daily.")] = None,
    at: Annotated[str | None, typer.Option("--at", help="The daily digest's time, HH:MM in the contact's zone.")] = None,
    quiet: Annotated[str | None, typer.Option("--quiet", help="Quiet hours, HH:MM-HH:MM (may span midnight).")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="ru or en.")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="The contact's IANA time zone (Europe/London).")] = None,
    events: Annotated[str | None, typer.Option("--events", help="Comma-separated: acknowledgement, assigned, "
                                                                 "status_changed, resolved, closed.")] = None,
    opt_out: Annotated[list[str] | None, typer.Option("--opt-out", help="Stop a channel (email, sms, telegram).")] = None,
    opt_in: Annotated[list[str] | None, typer.Option("--opt-in", help="Lift an opt-out of a channel.")] = None,
    *,
    as_json: JsonOpt = False,
) -> None:
    """Change a contact's preferences (marked `cli`: an import never overwrites them).

    Example: crm-bridge notify prefs set m.ivanova@romashka.example --channel telegram --chat-id 123456789
    --frequency daily --at 09:00 --quiet 22:00-08:00 --lang en --events resolved,assigned
    """
    from crm_bridge.store.tables import CustomerRow
    from notify.prefs_store import change

    given = {"channels": channel or None, "telegram": chat_id, "phone": phone, "email": email, "frequency": frequency,
             "digest_at": at, "quiet": quiet, "language": lang, "timezone": tz, "events": events}
    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            row = find_contact(s, contact)
            try:
                changed = change(s, bridge.config.section("notify"), bridge.config.timezone, row, given, source="cli",
                                 opt_outs=opt_out or (), opt_ins=opt_in or (), now=bridge.clock())
            except ValueError as exc:
                console_err.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
                raise typer.Exit(2) from exc
            customer = s.get(CustomerRow, row.customer_id) if row.customer_id else None
            data = _as_data(row, _effective(s, bridge, row), customer.segment if customer else None)
    finally:
        bridge.close()
    data["changed"] = changed
    if as_json:
        emit_json(data)
        return
    console.print(f"changed: {', '.join(data['changed']) or 'nothing'}", highlight=False)
    _print(data)


@prefs_app.command("list")
def list_command(
    segment: Annotated[str | None, typer.Option("--segment", help="Only contacts of customers of this segment.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many contacts.", min=1)] = 200,
    *,
    as_json: JsonOpt = False,
) -> None:
    """Contacts with preferences of their own or an opt-out (with --segment: every contact
    of that segment, with the segment's defaults where they chose nothing).

    Example: crm-bridge notify prefs list --segment international --json
    """
    from sqlalchemy import select

    from crm_bridge.store.tables import ContactRow, CustomerRow
    from notify.tables import ContactPrefsRow, OptOutRow

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            query = select(ContactRow, CustomerRow.segment).outerjoin(CustomerRow, CustomerRow.id == ContactRow.customer_id)
            if segment is not None:
                query = query.where(CustomerRow.segment == segment)
            else:
                mine = select(ContactPrefsRow.contact_id).union(
                    select(OptOutRow.contact_id).where(OptOutRow.contact_id.is_not(None)))
                query = query.where(ContactRow.id.in_(mine))
            rows = [_as_data(c, _effective(s, bridge, c), seg)
                    for c, seg in s.execute(query.where(ContactRow.deleted.is_(False)).order_by(ContactRow.name).limit(limit))]
    finally:
        bridge.close()
    if as_json:
        emit_json({"contacts": rows})
        return
    if not rows:
        console.print("no contact has preferences of their own yet" if segment is None else f"no contact in {segment}")
        return
    table = Table("contact", "e-mail", "channels", "frequency", "quiet", "lang", "opted out")
    for r in rows:
        freq = r["frequency"] + (f" {r['digest_at']}" if r["frequency"] == "daily" else "")
        table.add_row(escape(r["contact"]["name"]), escape(r["contact"]["email"] or "—"), ", ".join(r["channels"]), freq,
                      r["quiet"] or "—", r["language"], ", ".join(o["channel"] for o in r["opt_outs"]) or "—")
    console.print(table)


def unsubscribe_command(
    token: Annotated[str, typer.Argument(help="The token of an unsubscribe link (the part after /unsubscribe/).")],
    *,
    as_json: JsonOpt = False,
) -> None:
    """Do what a mail's one-click unsubscribe link does (the web addon's page calls the same).

    Example: crm-bridge notify unsubscribe bS5pdmFub3ZhQHJvbWFzaGthLmV4YW1wbGU.3f2a...
    """
    from notify.prefs_store import unsubscribe

    bridge = open_app()
    try:
        result = unsubscribe(bridge, token)
    finally:
        bridge.close()
    if as_json:
        emit_json(result)
        return
    state = "was already opted out of" if result["already"] else "opted out of"
    console.print(f"{escape(result['address'])} {state} e-mail ({result['contacts']} contact(s))", highlight=False)
