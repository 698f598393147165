"""Domain events → notification rows, in the transaction of the event.

Customer rows follow each contact's preferences (``notify.prefs``): a row per chosen
channel with that channel's address as recipient, due now, at the contact's next
hourly/daily digest, or after their quiet hours (``reason`` says which); an event they did
not choose gets no row; an opted-out channel gets a **withdrawn** row whose reason says when
and how ("opted out of sms on 2026-12-01 via link"), so ``notify log`` answers for it.

* ``ticket.imported`` — a new open request (opened within ``acknowledge_within``) gets
  an acknowledgement to its contact (else its customer); a status change the
  configuration names gets ``status_changed``, ``resolved`` or ``closed``; entering
  ``waiting_customer`` a reminder due later (``notify.waiting``);
* ``sla.warn`` / ``sla.breach`` / ``sla.escalate`` — an alert to the staff the
  configuration lists for the kind (the assignee, their team lead, the supervisor,
  addresses); an agent off shift (routing's schedules) gets it when the shift starts,
  unless the escalation level says ``page_always: true`` (``notify.staff``).

Rows are collected with ``unit.defer`` and written in one statement just before the
commit, ``ON CONFLICT DO NOTHING`` on the unique (event key, recipient, channel): the
same event announced twice is one row. Each row draws its Message-ID here and learns
the Message-ID of the recipient's first mail about the request (its thread).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from email.utils import getaddresses
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from crm_bridge.events import DomainEvent, Unit
from crm_bridge.model import TicketStatus
from crm_bridge.store.records import in_chunks, rows_by_id
from crm_bridge.store.tables import AgentRow, ContactRow, CustomerRow, TicketRow, core_table
from notify.prefs import Effective, plan, when_due
from notify.prefs_store import Target, effective_many
from notify.settings import NotifyConfig, StaffRules, channel_address
from notify.staff import StaffDirectory
from notify.tables import NotificationRow
from notify.waiting import REMINDER, remind_at, reminder_wanted, withdraw_reminders

__all__ = ["customer_address", "on_assigned", "on_csat_low", "on_csat_survey", "on_sla_event", "on_ticket_imported",
           "write_rows"]

log = logging.getLogger(__name__)
_FINAL = {TicketStatus.CLOSED.value: "closed", TicketStatus.CANCELLED.value: "closed", TicketStatus.RESOLVED.value: "resolved"}


def on_ticket_imported(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``ticket.imported``: a new request or a status change (batched per page)."""
    if not unit.config.section("notify").enabled:
        return
    data = event.data or {}
    before = data.get("before") or {}
    if data.get("created") or "status" in before or "tags" in before:
        unit.defer("notify.tickets", event, _tickets)


def on_sla_event(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``sla.warn``, ``sla.breach`` and ``sla.escalate``: staff alerts."""
    if unit.config.section("notify").enabled:
        unit.defer("notify.sla", event, _sla)


def on_assigned(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``routing.assigned``: the customer hears who took the request, the new
    assignee (and the addresses of ``staff.assigned``) that it is theirs."""
    if unit.config.section("notify").enabled:
        unit.defer("notify.assigned", event, _assigned)


def on_csat_survey(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``csat.survey`` (the csat addon decided a survey; data: ``survey``, ``url``,
    ``scale``): the customer's rows through their preferences, like any customer event."""
    if unit.config.section("notify").enabled:
        unit.defer("notify.csat", event, _csat_survey)


def on_csat_low(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``csat.low`` (data: ``survey``, ``score``, ``comment``): a staff alert to
    ``staff.csat_low`` (the supervisor by default), who follows the rating up."""
    if unit.config.section("notify").enabled:
        unit.defer("notify.csat_low", event, _csat_low)


def _csat_survey(unit: Unit, events: list[DomainEvent]) -> None:
    session, config = unit.session, unit.config.section("notify")
    session.flush()
    tickets = rows_by_id(session, TicketRow, {e.local_id for e in events})
    contacts = rows_by_id(session, ContactRow, {t.contact_id for t in tickets.values()})
    customers = rows_by_id(session, CustomerRow, {t.customer_id for t in tickets.values()})
    wanted = [(tickets[e.local_id], "csat_survey", f"csat/{e.data['survey']}", {"url": e.data["url"], "scale": e.data["scale"]})
              for e in events if e.local_id in tickets and not tickets[e.local_id].deleted]
    write_rows(unit, _customer_rows(unit, config, wanted, contacts, customers))


def _csat_low(unit: Unit, events: list[DomainEvent]) -> None:
    session, config = unit.session, unit.config.section("notify")
    tickets = rows_by_id(session, TicketRow, {e.local_id for e in events})
    agents = rows_by_id(session, AgentRow, {t.assignee_id for t in tickets.values()})
    zone = config.staff.timezone or unit.config.timezone
    directory = StaffDirectory(session, unit.config, unit.now)
    rows: list[dict[str, Any]] = []
    for event in events:
        ticket = tickets.get(event.local_id)
        if ticket is None or ticket.deleted:
            continue
        data = {k: event.data.get(k) for k in ("score", "comment", "scale")}
        key = f"csat.low/{event.data['survey']}/{event.data.get('version', 0)}"  # a changed low rating is told again
        for who in config.staff.csat_low:
            to, _ = _staff_address(who, agents.get(ticket.assignee_id or 0), config.staff, directory)
            if to is not None:
                rows.append(_row(unit.now, config, ticket, "csat_low", key, data, to, "staff", config.staff.language, zone))
    write_rows(unit, rows)


def customer_address(ticket: TicketRow, contact: ContactRow | None, customer: CustomerRow | None) -> tuple[str, str | None] | None:
    """Where a request's customer mail goes: the contact's address, else the customer's."""
    for holder in (contact, customer):
        if holder is not None and holder.email and not holder.deleted:
            return holder.email, holder.name
    return None


def _tickets(unit: Unit, events: list[DomainEvent]) -> None:
    session, config = unit.session, unit.config.section("notify")
    rules = config.customer
    session.flush()
    tickets = rows_by_id(session, TicketRow, {e.local_id for e in events})
    contacts = rows_by_id(session, ContactRow, {t.contact_id for t in tickets.values()})
    customers = rows_by_id(session, CustomerRow, {t.customer_id for t in tickets.values()})
    wanted: list[tuple[TicketRow, str, str, dict[str, Any]]] = []
    feedback: list[dict[str, Any]] = []
    reminders: dict[str, datetime] = {}  # event key -> when a waiting customer is reminded
    moved: set[int] = set()  # requests whose status changed: their pending reminders are moot
    reminded: list[tuple[TicketRow, str, str, dict[str, Any]]] = []
    for event in events:
        ticket = tickets.get(event.local_id)
        if ticket is None or ticket.deleted:
            continue
        feedback += _department_rows(unit, config, ticket, event)
        if not event.data.get("created") and "status" not in event.data.get("before", {}):
            continue
        if not event.data.get("created") and event.data["before"]["status"] != ticket.status:
            moved.add(ticket.id)
        reminder = reminder_wanted(ticket, event.data, rules, unit.now)
        if reminder is not None and rules.remind_waiting_after is not None:
            reminders[reminder[0]] = remind_at(ticket, unit.config, since=unit.now, after=rules.remind_waiting_after)
            reminded.append((ticket, REMINDER, *reminder))  # after the status mail: it starts the thread
        if event.data.get("created"):
            if not (rules.acknowledgement and TicketStatus(ticket.status).is_open
                    and ticket.created_at >= unit.now - rules.acknowledge_within):
                continue
            name, key, data = "acknowledgement", f"ack/{ticket.id}", {}
        else:
            before, after = event.data["before"]["status"], ticket.status
            if before == after:
                continue
            name = _FINAL.get(after, "status_changed")
            told = getattr(rules, name) if name != "status_changed" else after in rules.statuses
            if not told:
                continue
            key, data = f"status/{ticket.id}/{before}>{after}/{unit.now.isoformat()}", {"status_from": before, "status_to": after}
        wanted.append((ticket, name, key, data))
    withdraw_reminders(session, moved, unit.now, keep=reminders)
    write_rows(unit, _customer_rows(unit, config, wanted + reminded, contacts, customers, reminders) + feedback)


def _department_rows(unit: Unit, config: NotifyConfig, ticket: TicketRow, event: DomainEvent) -> list[dict[str, Any]]:
    """Feedback to other departments: a request newly carrying a tag a department listens
    to is forwarded to it, once per request and department, now or at its digest time."""
    if not config.departments:
        return []
    before = event.data.get("before") or {}
    old = set() if event.data.get("created") else {str(t).casefold() for t in before.get("tags") or []}
    added = {str(t).casefold(): str(t) for t in ticket.tags or [] if str(t).casefold() not in old}
    rows: list[dict[str, Any]] = []
    zone = config.staff.timezone or unit.config.timezone
    for name, dept in config.departments.items():
        tags = [added[t.casefold()] for t in dept.tags if t.casefold() in added]
        if not tags:
            continue
        url = config.request_url.replace("{number}", ticket.number) if config.request_url else None
        schedule = Effective(channels=("email",), events=frozenset(), frequency=dept.frequency, digest_at=dept.digest_at,
                             quiet=None, language=dept.language, timezone=zone, addresses={}, opt_outs={}, sources={})
        due, reason, fold = when_due(schedule, unit.now)
        data = {"department": name, "tags": tags, "url": url, **({"fold": fold} if fold else {})}
        for to in dept.to:
            row = _row(unit.now, config, ticket, "department_feedback", f"dept/{ticket.id}/{name}", data, _split(to),
                       "staff", dept.language, zone)
            row["next_attempt_at"], row["reason"] = due, reason
            rows.append(row)
    return rows


def _customer_rows(unit: Unit, config: NotifyConfig, wanted: list[tuple[TicketRow, str, str, dict[str, Any]]],
                   contacts: dict[int, ContactRow], customers: dict[int, CustomerRow],
                   later: dict[str, datetime] | None = None) -> list[dict[str, Any]]:
    """Rows of customer notifications (request, template, key, facts) as each contact's
    preferences say (``notify.prefs``): a row per chosen channel, due now (or at `later`'s
    instant for its key: a reminder), at the next digest or after quiet hours; an opted-out
    channel's row withdrawn, saying when and how."""
    targets: dict[int, Target] = {}
    for ticket, *_ in wanted:
        contact, customer = contacts.get(ticket.contact_id or 0), customers.get(ticket.customer_id or 0)
        to = customer_address(ticket, contact, customer)
        targets[ticket.id] = Target(contact if contact is not None and not contact.deleted else None, customer,
                                    to[0] if to else None)
    prefs = effective_many(unit.session, config, unit.config.timezone, targets)
    rows: list[dict[str, Any]] = []
    for ticket, name, key, data in wanted:
        mine = prefs[ticket.id]
        contact, customer = contacts.get(ticket.contact_id or 0), customers.get(ticket.customer_id or 0)
        to = customer_address(ticket, contact, customer)
        deliveries = plan(mine, name, (later or {}).get(key, unit.now))
        if not deliveries:
            log.debug("request %s: %s not queued (not chosen, or no address on the chosen channels)", ticket.number, name,
                      extra={"event": "notify.outbox.no_address"})
        for d in deliveries:
            row = _row(unit.now, config, ticket, name, key, {**data, "quiet": str(mine.quiet) if mine.quiet else None,
                                                              **({"fold": d.fold} if d.fold else {})},
                       (d.address, to[1] if to else None, d.channel), "customer", mine.language, mine.timezone)
            row["next_attempt_at"], row["reason"] = d.due, d.reason
            if d.opted_out is not None:
                row["state"] = "withdrawn"
            rows.append(row)
    return rows


def _sla(unit: Unit, events: list[DomainEvent]) -> None:
    session, config = unit.session, unit.config.section("notify")
    staff = config.staff
    tickets = rows_by_id(session, TicketRow, {e.local_id for e in events})
    agents = rows_by_id(session, AgentRow, {t.assignee_id for t in tickets.values()})
    directory = StaffDirectory(session, unit.config, unit.now)
    rows: list[dict[str, Any]] = []
    zone = staff.timezone or unit.config.timezone
    for event in events:
        ticket = tickets.get(event.local_id)
        if ticket is None or ticket.deleted:
            continue
        kind = event.kind.removeprefix("sla.")
        raw = event.data or {}
        data = {"metric": raw.get("metric"), "cycle": raw.get("cycle"), "level": raw.get("level"), "action": raw.get("action"),
                "at": raw["at"].isoformat() if isinstance(raw.get("at"), datetime) else raw.get("at")}
        key = f"sla.{kind}/{ticket.id}/{data['metric']}/{data['cycle']}/{data['level'] or 0}"
        for who in getattr(staff, kind):
            assignee = agents.get(ticket.assignee_id or 0)
            to, person = _staff_address(who, assignee, staff, directory)
            if to is None:
                continue
            row = _row(unit.now, config, ticket, f"sla_{kind}", key, data, to, "staff", staff.language, zone)
            shift = None if raw.get("page_always") else directory.shift_starts(person)
            if shift is not None:  # no 3 a.m. pages: an agent off shift hears of it when their shift starts
                row["next_attempt_at"] = shift[0]
                row["reason"] = f"off shift ({shift[1]}): waits until {shift[0]:%d.%m %H:%M %Z}"
            rows.append(row)
    write_rows(unit, rows)


def _assigned(unit: Unit, events: list[DomainEvent]) -> None:
    session, config = unit.session, unit.config.section("notify")
    session.flush()
    tickets = rows_by_id(session, TicketRow, {e.local_id for e in events})
    agents = rows_by_id(session, AgentRow, {int(e.data["agent_id"]) for e in events})
    contacts = rows_by_id(session, ContactRow, {t.contact_id for t in tickets.values()})
    customers = rows_by_id(session, CustomerRow, {t.customer_id for t in tickets.values()})
    zone = config.staff.timezone or unit.config.timezone
    directory = StaffDirectory(session, unit.config, unit.now)
    rows: list[dict[str, Any]] = []
    told: list[tuple[TicketRow, str, str, dict[str, Any]]] = []
    for event in events:
        ticket = tickets.get(event.local_id)
        if ticket is None or ticket.deleted or not TicketStatus(ticket.status).is_open:
            continue
        agent_id = int(event.data["agent_id"])
        key, data = f"assigned/{ticket.id}/{agent_id}/{unit.now.isoformat()}", {"agent_id": agent_id, "action": event.data.get("action")}
        recent = ticket.created_at >= unit.now - config.customer.acknowledge_within  # not last year's requests on a first import
        if config.customer.assignment and recent:
            told.append((ticket, "assigned", key, data))
        for who in config.staff.assigned:
            staff_to, _ = _staff_address(who, agents.get(agent_id), config.staff, directory)
            if staff_to is not None:
                rows.append(_row(unit.now, config, ticket, "assigned_staff", key, data, staff_to, "staff",
                                 config.staff.language, zone))
    write_rows(unit, _customer_rows(unit, config, told, contacts, customers) + rows)


def _staff_address(who: str, agent: AgentRow | None, staff: StaffRules,
                   directory: StaffDirectory) -> tuple[tuple[str, str | None, str] | None, AgentRow | None]:
    """The address, name and channel a staff recipient stands for — the agent's mail, their
    team lead's (``notify.staff``), the supervisor's, or the one written (a mailbox,
    ``telegram:<chat>``, ``sms:<phone>``); None when it has none — and the CRM user it is
    (whose shift counts), if any."""
    if who == "assignee":
        return ((agent.email, agent.name, "email"), agent) if agent is not None and agent.email else (None, None)
    if who == "team_lead":
        return directory.team_lead(agent) or (None, None)
    if who == "supervisor":
        return ((*_split(staff.supervisor), "email") if staff.supervisor else None), None
    channel, address = channel_address(who)
    return ((*_split(address), "email") if channel == "email" else (address, None, channel)), None


def _split(mailbox: str) -> tuple[str, str | None]:
    name, addr = getaddresses([mailbox])[0]
    return addr, name or None


def _row(now: datetime, config: NotifyConfig, ticket: TicketRow, event: str, key: str, data: dict[str, Any],
         to: tuple[str, str | None] | tuple[str, str | None, str], audience: str, lang: str, zone: str) -> dict[str, Any]:
    channel = to[2] if len(to) > 2 else "email"  # (address, name[, channel])
    recipient = to[0].strip().lower() if channel == "email" else to[0].strip()
    return {"event_key": key, "event": event, "ticket_id": ticket.id, "recipient": recipient,
            "recipient_name": to[1], "audience": audience, "channel": channel, "language": lang, "timezone": zone,
            "message_id": f"<{uuid.uuid4().hex}.{ticket.id}@{config.message_domain}>", "thread_root": None,
            "data": data, "state": "pending", "attempts": 0, "created": now, "next_attempt_at": now, "reason": None}


def _webhook_rows(config: NotifyConfig, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (notification, webhook listing its event): the first row of each
    (event key, event) stands for it — a receiver hears of a breach once, not once per
    person told. Keyed ``<key>#<event>`` (an assignment's customer and staff rows share a key)."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        cause = (row["event_key"], row["event"])
        if row["channel"] == "webhook" or cause in seen:
            continue
        seen.add(cause)
        for hook in config.webhooks:
            if row["event"] in hook.events:
                out.append({**row, "event_key": f"{row['event_key']}#{row['event']}", "recipient": hook.url,
                            "recipient_name": None, "channel": "webhook",
                            "message_id": f"<{uuid.uuid4().hex}.{row['ticket_id']}@{config.message_domain}>"})
    return out


def _note_rows(config: NotifyConfig, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """With the ``crm_note`` channel: one row per notification cause (event key, event) of
    ``crm_note.events`` that some row still delivers — a note in the request's history,
    once however many people were told (``notify.channels.crm_note``)."""
    if config.crm_note is None:
        return []
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for row in rows:
        cause = (row["event_key"], row["event"])
        if row["channel"] in ("webhook", "crm_note") or row["state"] != "pending" or cause in seen:
            continue
        seen.add(cause)
        if row["event"] in config.crm_note.events:
            out.append({**row, "event_key": f"{row['event_key']}#{row['event']}", "recipient": "crm", "recipient_name": None,
                        "channel": "crm_note", "message_id": f"<{uuid.uuid4().hex}.{row['ticket_id']}@{config.message_domain}>"})
    return out


def write_rows(unit: Unit, rows: list[dict[str, Any]]) -> None:
    """Insert notification rows; one already stored under the same key is kept as it is.
    Each row's ``thread_root`` is the Message-ID of its recipient's first mail about the
    request (stored or earlier in `rows`)."""
    if not rows:
        return
    session = unit.session
    config = unit.config.section("notify")
    rows = rows + _webhook_rows(config, rows) + _note_rows(config, rows)
    if config.email is None:  # default mail recipients with no `email:` to send by (written ones are a config error)
        rows = [r for r in rows if r["channel"] != "email"]
        if not rows:
            return
    first: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        first.setdefault((row["event_key"], row["recipient"], row["channel"]), row)
    unique = list(first.values())
    roots: dict[tuple[int, str], str] = {}
    for chunk in in_chunks(sorted({r["ticket_id"] for r in unique})):
        for tid, recipient, message_id in session.execute(
                select(NotificationRow.ticket_id, NotificationRow.recipient, NotificationRow.message_id)
                .where(NotificationRow.ticket_id.in_(chunk)).order_by(NotificationRow.id.desc())):
            roots[(tid, recipient)] = message_id  # descending: the first row's id wins
    for row in unique:
        pair = (row["ticket_id"], row["recipient"])
        row["thread_root"] = roots.get(pair)
        roots.setdefault(pair, row["message_id"])
    table = core_table(NotificationRow)
    insert = postgresql.insert(table) if session.get_bind().dialect.name == "postgresql" else sqlite.insert(table)
    session.execute(insert.on_conflict_do_nothing(index_elements=[table.c.event_key, table.c.recipient, table.c.channel]),
                    unique)
