"""``crm-bridge notify``: what a request's mail would say, what was sent and why not, and
the contacts' preferences (``notify prefs``, ``notify unsubscribe``: ``notify.prefs_cli``).
People see the CRM's numbers, never local ids."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from crm_bridge.cli.common import console, console_err, emit_json, open_app
from crm_bridge.errors import did_you_mean
from notify.channels import CHANNELS  # names only: loads no channel
from notify.events import EVENTS
from notify.prefs_cli import prefs_app, unsubscribe_command

if TYPE_CHECKING:  # imported where used: `crm-bridge notify --help` loads no SQLAlchemy, no Jinja2
    from crm_bridge.store.tables import TicketRow
    from notify.settings import NotifyConfig
    from notify.templates import Rendered, Templates

__all__ = ["notify_app"]

notify_app = typer.Typer(help="Notifications: preview a mail, see what was sent and why not.\n\n"
                              "Example: crm-bridge notify preview acknowledgement CRM-0000042",
                         no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]
notify_app.add_typer(prefs_app, name="prefs")
notify_app.command("unsubscribe")(unsubscribe_command)


def _event_data(event: str, ticket: TicketRow) -> dict[str, Any]:
    """The facts a preview stands in for the event: the request's own status and due date."""
    if event in ("status_changed", "resolved", "closed"):
        return {"status_from": None, "status_to": ticket.status}
    if event.startswith("sla_"):
        return {"metric": "resolution", "cycle": 1, "level": 1 if event == "sla_escalate" else None,
                "action": "notify_supervisor" if event == "sla_escalate" else None,
                "at": (ticket.resolution_due or ticket.created_at).isoformat()}
    if event == "csat_survey":  # the real link is signed per survey (crm-bridge csat send prints one)
        return {"url": "https://support.example.ru/rate/<token>", "scale": "five"}
    if event == "csat_low":
        return {"score": ticket.csat_score or 1, "comment": ticket.csat_comment, "scale": "five"}
    return {}


def _department_facts(config: NotifyConfig, ticket: TicketRow) -> dict[str, Any]:
    """A preview's department: the first listening to one of the request's tags, else the first."""
    tags = {str(t).casefold() for t in ticket.tags or []}
    names = [n for n, d in config.departments.items() if {t.casefold() for t in d.tags} & tags] or list(config.departments)
    return {"department": names[0] if names else None, "tags": list(ticket.tags or []),
            "url": config.request_url.replace("{number}", ticket.number) if config.request_url else None}


@notify_app.command("preview")
def preview(
    event: Annotated[str, typer.Argument(help=f"One of: {', '.join(EVENTS)}.")],
    number: Annotated[str, typer.Argument(help="The request's number as the CRM shows it (CRM-0000042).")],
    lang: Annotated[str | None, typer.Option("--lang", help="ru or en (default: the recipient's).")] = None,
    html: Annotated[bool, typer.Option("--html", help="Print the HTML part too.")] = False,
    channel: Annotated[str, typer.Option("--channel", help="email, sms, telegram, webhook or crm_note.")] = "email",
    as_json: JsonOpt = False,
) -> None:
    """Render what EVENT would send about a request, now, without sending or queueing it.

    Example: crm-bridge notify preview acknowledgement CRM-0000042 --lang en --channel sms
    """
    from crm_bridge.store.tables import AgentRow, ContactRow, CustomerRow
    from notify.compose import context_for, customer_links, request_context, unsubscribe_link
    from notify.outbox import _split, customer_address
    from notify.prefs_store import Target, effective_many
    from notify.settings import LANGUAGES
    from notify.templates import TemplateProblem, Templates
    from sla.cli import find_request

    if event not in EVENTS:
        console_err.print(f"[red]no event {escape(repr(event))}[/red].{escape(did_you_mean(event, EVENTS))} "
                          f"Events: {', '.join(EVENTS)}", highlight=False)
        raise typer.Exit(2)
    if channel not in CHANNELS:
        console_err.print(f"[red]no channel {escape(repr(channel))}[/red].{escape(did_you_mean(channel, CHANNELS))} "
                          f"Channels: {', '.join(CHANNELS)}", highlight=False)
        raise typer.Exit(2)
    if lang is not None and lang not in LANGUAGES:
        console_err.print(f"[red]no language {escape(repr(lang))}[/red]: use {' or '.join(LANGUAGES)}", highlight=False)
        raise typer.Exit(2)
    bridge = open_app()
    try:
        config: NotifyConfig = bridge.config.section("notify")
        with bridge.store.transaction() as s:
            ticket, _ = find_request(s, number, None, ZoneInfo(bridge.config.timezone))
            customer = s.get(CustomerRow, ticket.customer_id) if ticket.customer_id else None
            to: tuple[str, str | None] | None
            language: str
            link: str | None = None
            signed: dict[str, str | None] | None = None  # a customer's signed links (none for staff)
            facts = _event_data(event, ticket)
            if event == "department_feedback":
                facts = _department_facts(config, ticket)
                dept = config.departments.get(str(facts["department"]))
                to = _split(dept.to[0]) if dept is not None else None
                language, zone = (dept.language if dept is not None else "ru"), bridge.config.timezone
            elif event.startswith("sla_"):
                agent = s.get(AgentRow, ticket.assignee_id) if ticket.assignee_id else None
                to = (agent.email, agent.name) if agent is not None and agent.email else None
                to = to or ((config.staff.supervisor, None) if config.staff.supervisor else None)
                language = config.staff.language
                zone = config.staff.timezone or bridge.config.timezone
            else:
                contact = s.get(ContactRow, ticket.contact_id) if ticket.contact_id else None
                to = customer_address(ticket, contact, customer)
                prefs = effective_many(s, config, bridge.config.timezone,
                                       {0: Target(contact, customer, to[0] if to else None)})[0]
                language, zone = prefs.language, prefs.timezone  # the contact's own, else their segment's, else defaults
                to = (to[0].strip().lower(), to[1]) if to else None  # as the outbox stores it (the token signs it)
                links = bridge.config.section("links")
                link = unsubscribe_link(config, to[0], links=links, issued=bridge.clock()) if to else None
                signed = customer_links(links, ticket_id=ticket.id, contact_id=ticket.contact_id, event=event,
                                        issued=bridge.clock())
            address, name = to if to else ("(no e-mail address)", None)
            request_facts = request_context(s, ticket)
            context = context_for(event, facts, request_facts, lang=lang or language,
                                  zone=zone, recipient=(name, address), unsubscribe_url=link, links=signed)
        if channel != "email":
            link = None
            address = {"sms": "(the row's phone)", "telegram": "(the row's chat)", "webhook": "(each webhook listing it)",
                       "crm_note": "(the request's history in the CRM)"}[channel]
        try:
            mail = _render_for(channel, Templates(config.templates), event, lang or language, context, config)
        except TemplateProblem as exc:
            console_err.print(f"[red]template error[/red]: {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from exc
    finally:
        bridge.close()
    if channel == "webhook":
        body = _webhook_body(event, lang or language, mail, {**request_facts, "facts": _event_data(event, ticket)})
        if as_json:
            emit_json({"event": event, "request": ticket.number, "channel": channel, "body": json.loads(body)})
        else:
            console.print(f"[bold]POST[/bold] {escape(address)}, signed (X-CRM-Bridge-Signature)\n", highlight=False)
            console.print(escape(json.dumps(json.loads(body), ensure_ascii=False, indent=2)), highlight=False)
        return
    if channel == "crm_note":  # the note as the request's history in the CRM will hold it
        from notify.channels.crm_note import note_text

        note = note_text(mail)
        if as_json:
            emit_json({"event": event, "request": ticket.number, "channel": channel, "to": address,
                       "language": lang or language, "note": note})
        else:
            console.print(f"[bold]Note in {escape(ticket.number or '')}'s history in the CRM:[/bold]\n", highlight=False)
            console.print(escape(note), highlight=False)
        return
    if as_json:
        emit_json({"event": event, "request": ticket.number, "channel": channel, "to": address, "language": lang or language,
                   "subject": mail.subject, "text": mail.text, "html": mail.html})
        return
    if channel == "sms":
        console.print(f"[bold]SMS to:[/bold] {escape(address)} ({escape(mail.html)})\n", highlight=False)
        console.print(escape(mail.text), highlight=False)
        return
    console.print(f"[bold]To:[/bold] {escape(address)}\n[bold]Subject:[/bold] {escape(mail.subject)}\n", highlight=False)
    console.print(escape(mail.text), highlight=False)
    if html and channel == "email":
        console.print(escape(mail.html), highlight=False)


def _render_for(channel: str, templates: Templates, event: str, lang: str, context: dict[str, Any],
                config: NotifyConfig) -> Rendered:
    """What a row of `channel` says (the channel's own rendering, as dispatch does it)."""
    from notify.channels.sms import render_sms
    from notify.channels.telegram import render_telegram

    if channel == "sms":
        return render_sms(templates, event, lang, context, config.sms.max_segments if config.sms else 3)
    if channel == "telegram":
        return render_telegram(templates, event, lang, context)
    return templates.render(event, lang, context)


def _webhook_body(event: str, lang: str, mail: Rendered, facts: dict[str, Any]) -> bytes:
    from notify.channels.webhook import body_of
    from notify.outgoing import Outgoing

    return body_of(Outgoing(0, "", None, "preview", event, lang, "", "<preview>", None, mail, None, "webhook", facts))


@notify_app.command("log")
def log_command(
    request: Annotated[str | None, typer.Option("--request", help="Only this request (its CRM number).")] = None,
    recipient: Annotated[str | None, typer.Option("--recipient", help="Only mail to this address.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Newest rows to show.", min=1)] = 50,
    as_json: JsonOpt = False,
) -> None:
    """What was sent, when and through which channel, and why not (withdrawn, parked,
    waiting: quiet hours, due dates not planned yet, the SMTP server's last answer).

    Example: crm-bridge notify log --request CRM-0000042
    """
    from sqlalchemy import select

    from crm_bridge.http import shown
    from crm_bridge.store.tables import TicketRow
    from notify.tables import NotificationRow
    from sla.cli import find_request

    bridge = open_app()
    zone = ZoneInfo(bridge.config.timezone)
    try:
        with bridge.store.transaction() as s:
            query = (select(NotificationRow, TicketRow.number).join(TicketRow, TicketRow.id == NotificationRow.ticket_id)
                     .order_by(NotificationRow.id.desc()).limit(limit))
            if request is not None:
                ticket, _ = find_request(s, request, None, zone)
                query = query.where(NotificationRow.ticket_id == ticket.id)
            if recipient is not None:
                query = query.where(NotificationRow.recipient == recipient.strip().lower())
            rows = [{"request": number, "event": r.event, "channel": r.channel,
                     "recipient": shown(r.recipient) if r.channel == "webhook" else r.recipient,  # a URL's token: not shown
                     "language": r.language, "state": r.state, "created": r.created, "sent_at": r.sent_at,
                     "attempts": r.attempts, "subject": r.subject, "message_id": r.message_id,
                     "next_attempt_at": r.next_attempt_at if r.state == "pending" else None, "reason": r.reason}
                    for r, number in s.execute(query)]
    finally:
        bridge.close()
    if as_json:
        emit_json({"notifications": rows})
        return
    if not rows:
        console.print("no notifications yet" + (" for that filter" if request or recipient else ""))
        return
    table = Table("request", "event", "to", "via", "state", "when", "why / subject")
    for r in rows:
        when: datetime | None = r["sent_at"] or r["next_attempt_at"] or r["created"]
        state = {"sent": "[green]sent[/green]", "parked": "[red]parked[/red]", "withdrawn": "[yellow]withdrawn[/yellow]"
                 }.get(r["state"], r["state"])
        table.add_row(r["request"], r["event"], r["recipient"], r["channel"], state,
                      f"{when.astimezone(zone):%d.%m %H:%M}" if when else "—",
                      escape(r["reason"] or r["subject"] or ""))
    console.print(table)
