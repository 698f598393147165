"""The job ``intake.process``: each stored message decided once, in its own transaction.

For each inbox row in state ``new``, in order: parse it; an auto-reply or a bounce is
ignored (never registered, never answered); a reply to our mail or a message naming a
request's number is attached to that request as a ``message`` event (the SLA
next-response clock runs from it); else the sender is matched (ambiguous → review, never
a guess; nobody → a new contact); a message on the topic of the customer's open request
within the window is a repeat contact, attached and counted; else it is classified and
registered as a new request (``record.created``: the sync outbox creates it in the CRM
bind-first). Every rule that decided is stored in the row's ``decision``.

Messages are decided 50 to a transaction (one commit), each in its own SAVEPOINT: one
that fails rolls back alone and is parked ``failed`` with the reason. The chunk's rows are
read and parsed together, and what their decisions read from the store (the flood count,
open requests, customers) is read once for the chunk and kept current as it is decided
(``intake.lookups``): the decisions are those of one message at a time. A crash rolls the
open transaction back: its rows are still ``new`` and are decided again, whole, by the
next run; nothing half-done is left. The CRM's number comes back in
``intake.confirm`` (``intake.confirm``), after ``sync.dispatch`` created the request.
"""

from __future__ import annotations

import base64
import logging
from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crm_bridge.events import DomainEvent, Unit
from crm_bridge.model import TicketStatus
from crm_bridge.store.engine import new_id
from crm_bridge.store.records import build_record, create_record
from crm_bridge.store.tables import (
    AttachmentRow,
    ContactRow,
    CustomerRow,
    NoteRow,
    TicketEventRow,
    TicketRow,
)
from intake.classify import CompiledRule, Facts, classify, compile_rule
from intake.lookups import FINAL, Lookups
from intake.match import ContactIndex, Known, MatchDecision, match_sender
from intake.parse import Inbound, parse_message
from intake.settings import IntakeConfig
from intake.tables import InboxRow
from intake.thread import Threaded, numbers_in, repeat_of, thread_of
from notify.tables import NotificationRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crm_bridge.app import App

__all__ = ["FINAL", "compile_rules", "intake_process", "load_index"]

log = logging.getLogger(__name__)
CHUNK = 50  # messages decided per transaction (one commit), each in its own SAVEPOINT
UNNUMBERED = "(unnumbered)"  # passes the canonical check; replaced by "" before the row is stored


def compile_rules(config: IntakeConfig) -> list[CompiledRule]:
    return [compile_rule(r.name, keywords=r.keywords, channels=r.channels, senders=r.senders, customers=r.customers,
                         contracts=r.contracts, segments=r.segments, subject=r.subject, type=r.type, priority=r.priority)
            for r in config.rules]


def load_index(session: Session) -> ContactIndex:
    """Every live customer's and contact's keys, read once per run (four columns each)."""
    customers = session.execute(select(CustomerRow.id, CustomerRow.email, CustomerRow.phone, CustomerRow.tax_id)
                                .where(CustomerRow.deleted.is_(False)))
    contacts = session.execute(select(ContactRow.id, ContactRow.customer_id, ContactRow.email, ContactRow.phone)
                               .where(ContactRow.deleted.is_(False)))
    return ContactIndex.build(customers.all(), contacts.all())


def intake_process(app: App, now: datetime) -> dict[str, Any]:
    """Decide the inbox's new messages (at most ``intake.batch`` per run); counts by outcome."""
    config: IntakeConfig = app.config.section("intake")
    with app.store.transaction() as session:
        ids = list(session.scalars(select(InboxRow.id).where(InboxRow.state == "new")
                                   .order_by(InboxRow.id).limit(config.batch)))
        index = load_index(session) if ids else ContactIndex()
    rules = compile_rules(config)
    counts: Counter[str] = Counter()
    for first in range(0, len(ids), CHUNK):
        chunk = ids[first:first + CHUNK]
        try:
            counts.update(_decide_chunk(app, now, chunk, index, rules, config))
        except Exception:  # the chunk's commit failed (a deferred handler): each message alone, to find it
            log.warning("deciding %d messages together failed; deciding them one by one", len(chunk), exc_info=True,
                        extra={"event": "intake.process.retry"})
            for inbox_id in chunk:
                counts.update(_decide_chunk(app, now, [inbox_id], index, rules, config, alone=True))
    return dict(counts)


def _decide_chunk(app: App, now: datetime, ids: list[int], index: ContactIndex, rules: list[CompiledRule],
                  config: IntakeConfig, *, alone: bool = False) -> Counter[str]:
    """Decide `ids` in one transaction (one commit), each message in its own SAVEPOINT:
    a message that fails rolls back alone and is parked as ``failed`` with the reason."""
    counts: Counter[str] = Counter()
    failed: dict[int, str] = {}
    try:
        with app.store.transaction() as session:
            unit = app.bus.unit(session, now, app.config)
            rows = {row.id: row for row in session.scalars(
                select(InboxRow).where(InboxRow.id.in_(ids)).with_for_update(skip_locked=True)) if row.state == "new"}
            parsed = {i: _parsed(row, config) for i, row in rows.items()}
            lookups = Lookups.read(session, list(rows.values()), _foreseen(rows, parsed, index), within=config.flood.within)
            for inbox_id in ids:
                row = rows.get(inbox_id)
                if row is None:
                    continue
                try:
                    with session.begin_nested():
                        outcome = decide(unit, row, index, rules, config, lookups=lookups, inbound=parsed[inbox_id])
                except Exception as exc:  # one message must not stop the others
                    log.exception("inbound message %d could not be decided", inbox_id,
                                  extra={"event": "intake.process.failed", "inbox_id": inbox_id})
                    failed[inbox_id] = f"{type(exc).__name__}: {exc}"
                    continue
                counts[outcome] += 1
                lookups.decided(row)
                if created := (row.decision or {}).get("match", {}).get("created_contact"):
                    index.add(Known(None, created), email=row.sender)  # kept: its SAVEPOINT was released
            for inbox_id, reason in failed.items():
                row = session.get(InboxRow, inbox_id)
                if row is not None:
                    row.state, row.reason, row.processed_at = "failed", reason, now
                    counts["failed"] += 1
    except Exception as exc:
        if not alone:
            raise
        log.exception("inbound message %s could not be decided", ids, extra={"event": "intake.process.failed"})
        with app.store.transaction() as session:
            for inbox_id in ids:
                row = session.get(InboxRow, inbox_id)
                if row is not None and row.state == "new":
                    row.state, row.reason, row.processed_at = "failed", f"{type(exc).__name__}: {exc}", now
                    counts = Counter(failed=1)
    return counts


def _parsed(row: InboxRow, config: IntakeConfig) -> Inbound | None:
    """The message parsed ahead of its decision; None when parsing raised (``decide``
    parses it again in the message's SAVEPOINT, where the error parks that message alone)."""
    try:
        return parse_message(row.raw, max_attachment=config.max_attachment)
    except Exception:  # reported where it is decided, in its own SAVEPOINT
        return None


def _foreseen(rows: dict[int, InboxRow], parsed: dict[int, Inbound | None],
              index: ContactIndex) -> list[tuple[int | None, int | None]]:
    """Whom the chunk's messages will most likely be matched to, as (customer id, contact
    id): their open requests and customers are read for the chunk at once. A guess: the
    decision matches again (a contact created earlier in the chunk may change it)."""
    out: list[tuple[int | None, int | None]] = []
    for inbox_id, row in rows.items():
        inbound = parsed[inbox_id]
        if inbound is None or inbound.automatic or not inbound.sender:
            continue
        match = _matched_by_review(row) or match_sender(index, inbound.sender, inbound.text)
        if match.outcome == "matched":
            out.append((match.customer_id, match.contact_id))
    return out


def _matched_by_review(row: InboxRow) -> MatchDecision | None:
    review = (row.decision or {}).get("review")
    if not review:
        return None
    if review.get("new"):
        return MatchDecision("new", f"review: {review.get('by', 'a person')} chose a new contact")
    return MatchDecision("matched", f"review: {review.get('by', 'a person')} chose the customer",
                         review.get("customer_id"), review.get("contact_id"))


def decide(unit: Unit, row: InboxRow, index: ContactIndex, rules: list[CompiledRule], config: IntakeConfig, *,
           lookups: Lookups, inbound: Inbound | None = None) -> str:
    """Decide one stored message inside `unit`'s transaction; returns the outcome.
    `inbound`: the message already parsed (else it is parsed here)."""
    session, now = unit.session, unit.now
    if inbound is None:
        inbound = parse_message(row.raw, max_attachment=config.max_attachment)
    decision: dict[str, Any] = {**(row.decision or {}), "problems": list(inbound.problems),
                                "attachments": [{"filename": a.filename, "size": a.size, "kept": a.data is not None}
                                                for a in inbound.attachments]}
    row.processed_at = now
    if inbound.automatic or not inbound.sender:
        row.state, row.reason = "ignored", inbound.automatic or "no readable From address: nobody to register it for"
        row.decision = decision
        log.info("inbound %s ignored: %s", row.message_id, row.reason, extra={"event": "intake.process.ignored"})
        return "ignored"
    # the flood rule stops mail loops and one address's spam; an API caller is authenticated by its token
    flood = _flood(lookups, row, inbound.sender, config) if row.channel != "api" else None
    if flood is not None:
        row.state, row.reason, row.decision = "ignored", flood, decision
        log.warning("inbound %s ignored: %s", row.message_id, flood, extra={"event": "intake.process.flood"})
        return "ignored"
    threaded = _reply_to(session, inbound, config)
    if threaded is not None:
        return _attach(unit, row, inbound, threaded, decision)
    match = _matched_by_review(row) or match_sender(index, inbound.sender, inbound.text)
    decision["match"] = {"outcome": match.outcome, "rule": match.rule, "why": match.explain(),
                         "candidates": [{"customer_id": c.customer_id, "contact_id": c.contact_id} for c in match.candidates]}
    if match.outcome == "ambiguous":
        row.state, row.reason, row.decision = "review", match.explain(), decision
        return "review"
    customer_id, contact_id = match.customer_id, match.contact_id
    if match.outcome == "new":
        contact_id = create_record(session, "contact", {"name": inbound.sender_name or inbound.sender,
                                                         "email": inbound.sender, "customer_id": None})
        unit.publish(DomainEvent("record.created", "contact", contact_id, "intake"))
        decision["match"]["created_contact"] = contact_id
    row.customer_id, row.contact_id = customer_id, contact_id
    repeat = repeat_of(inbound.subject, row.received_at, lookups.open_requests(customer_id, contact_id),
                       config.repeat_window)
    if repeat is not None:
        return _attach(unit, row, inbound, repeat, decision)
    customer = lookups.customer(customer_id) if customer_id is not None else None
    channel, source = row.channel or "email", (row.decision or {}).get("submitted", {}).get("source", "external")
    decided = classify(rules, Facts(inbound.subject, inbound.text, channel, inbound.sender, customer_id, None,
                                    customer.segment if customer else None),
                       default_type=config.default_type, default_priority=config.default_priority)
    decision["classification"] = decided.as_dict()
    ticket = build_record("ticket", {
        "number": UNNUMBERED, "subject": (inbound.subject or "(без темы)")[:1000], "description": inbound.text,
        "type": decided.type, "priority": decided.priority, "channel": channel, "source": source,
        "status": TicketStatus.NEW.value, "customer_id": customer_id, "contact_id": contact_id,
        "created_at": row.received_at})
    # The CRM numbers the request (1C numbers a document whose Number is empty): no number
    # of ours may reach it, so the row waits with none until intake.confirm reads the CRM's.
    ticket.number = ""  # type: ignore[attr-defined]
    session.add(ticket)
    # SQLite: numbered now and written with the binding and outbox rows when the message's
    # SAVEPOINT is released, one flush a message instead of two (elsewhere: flushed here)
    ticket_id = new_id(session, ticket)
    lookups.registering(ticket)  # type: ignore[arg-type]
    unit.publish(DomainEvent("record.created", "ticket", ticket_id, "intake"))
    decision["attachments"] = _attachments(unit, row, inbound, ticket_id, decision["attachments"])
    row.state, row.ticket_id, row.reason, row.decision = "registered", ticket_id, None, decision
    log.info("inbound %s registered as a new request (type %s by %s, priority %s by %s)", row.message_id, decided.type,
             decided.type_rule, decided.priority, decided.priority_rule,
             extra={"event": "intake.process.registered", "inbox_id": row.id, "local_id": ticket_id})
    return "registered"


def _flood(lookups: Lookups, row: InboxRow, sender: str, config: IntakeConfig) -> str | None:
    """Why this message is one too many from its sender, else None: the messages decided
    (not ignored) from the same address within the window are counted."""
    decided = lookups.decided_count(row, sender, row.received_at - config.flood.within)
    if decided < config.flood.messages:
        return None
    return (f"flood: {decided} messages from {sender} within {config.flood.within} already "
            f"(intake.flood.messages: {config.flood.messages}); not registered, not answered")


def _reply_to(session: Session, inbound: Inbound, config: IntakeConfig) -> Threaded | None:
    refs = list(inbound.in_reply_to)
    sent = dict(session.execute(select(NotificationRow.message_id, NotificationRow.ticket_id)
                                .where(NotificationRow.message_id.in_(refs))).all()) if refs else {}
    wanted = numbers_in(inbound.subject, prefix=config.number_prefix)
    numbers = dict(session.execute(select(TicketRow.number, TicketRow.id).where(
        TicketRow.number.in_(wanted), TicketRow.deleted.is_(False))).all()) if wanted else {}
    return thread_of(refs, inbound.subject, sent=sent, numbers=numbers, prefix=config.number_prefix)


def _attachments(unit: Unit, row: InboxRow, inbound: Inbound, ticket_id: int,
                 listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The message's kept files as the request's ``attachment`` records, which the sync
    outbox creates in every backend listing ``attachment`` in ``create_remote`` (1C: items of
    ``Catalog_ИнтересПрисоединенныеФайлы`` by ``ВладелецФайла``) bind-first. A file over
    ``max_attachment`` was not kept and is not sent (the decision says so). Once: keyed by
    the Message-ID and the file's place in the message (``attachments.source_key``).
    Returns the decision's list with each kept file's ``attachment_id`` (``intake explain``
    adds the outbox's state per backend: what was sent where)."""
    out: list[dict[str, Any]] = []
    for place, (item, attachment) in enumerate(zip(listed, inbound.attachments, strict=True), start=1):
        if attachment.data is None:  # over max_attachment: listed (kept false), never sent
            out.append(item)
            continue
        key = f"intake:{row.message_id}:{place}"
        found = unit.session.scalar(select(AttachmentRow.id).where(AttachmentRow.source_key == key))
        if found is None:
            filename = attachment.filename or f"attachment-{place}"
            name, dot, extension = filename.rpartition(".")
            if not dot or not name:
                name, extension = filename, ""
            record = AttachmentRow(ticket_id=ticket_id, filename=filename[:500], name=name[:500], extension=extension[:50],
                                   content_type=attachment.content_type[:200], size=attachment.size,
                                   content=base64.b64encode(attachment.data).decode("ascii"), created=row.received_at,
                                   source_key=key)
            unit.session.add(record)
            unit.session.flush()
            unit.publish(DomainEvent("record.created", "attachment", record.id, "intake"))
            found = record.id
        out.append({**item, "attachment_id": int(found)})
    return out


def _note_in_crm(unit: Unit, row: InboxRow, inbound: Inbound, threaded: Threaded) -> int:
    """The customer's message as a note in the request's history, which the sync outbox
    creates in every backend listing ``note`` in ``create_remote`` (1C: ``Catalog_Заметки``
    by ``Предмет``) bind-first, like notify's ``crm_note``. Once: it is written in the
    transaction that decides the message, keyed by its Message-ID (``notes.source_key``)."""
    key = f"intake:{row.message_id}"
    found = unit.session.scalar(select(NoteRow.id).where(NoteRow.source_key == key))
    if found is not None:
        return int(found)
    who = f"{inbound.sender_name} <{inbound.sender}>" if inbound.sender_name else inbound.sender
    text = f"{inbound.subject.strip()}\n\n{inbound.text.strip()}".strip() or "(пустое сообщение / empty message)"
    note = NoteRow(ticket_id=threaded.ticket_id, channel=row.channel or "email", text=text, created=row.received_at,
                   author=who[:500] or None, about="ticket", source_key=key)
    unit.session.add(note)
    unit.session.flush()
    unit.publish(DomainEvent("record.created", "note", note.id, "intake"))
    return int(note.id)


def _attach(unit: Unit, row: InboxRow, inbound: Inbound, threaded: Threaded, decision: dict[str, Any]) -> str:
    """The message joins its request's history as the customer's ``message`` event."""
    session = unit.session
    decision["thread"] = {"rule": threaded.rule, "repeat": threaded.repeat}
    session.add(TicketEventRow(ticket_id=threaded.ticket_id, kind="message", at=row.received_at, origin="intake",
                               data={"author": "customer", "message_id": inbound.message_id, "inbox_id": row.id,
                                     "rule": threaded.rule, "repeat": threaded.repeat, "subject": inbound.subject}))
    # the SLA clock is planned again from the history: the customer's message restarts next response
    unit.publish(DomainEvent("ticket.imported", "ticket", threaded.ticket_id, "intake", {"message": True}))
    decision["note"] = _note_in_crm(unit, row, inbound, threaded)
    decision["attachments"] = _attachments(unit, row, inbound, threaded.ticket_id, decision["attachments"])
    row.state, row.ticket_id, row.reason, row.decision = "threaded", threaded.ticket_id, None, decision
    if row.customer_id is None and row.contact_id is None:
        ticket = session.get(TicketRow, threaded.ticket_id)
        if ticket is not None:
            row.customer_id, row.contact_id = ticket.customer_id, ticket.contact_id
    log.info("inbound %s attached to request #%d: %s", row.message_id, threaded.ticket_id, threaded.rule,
             extra={"event": "intake.process.threaded", "inbox_id": row.id, "local_id": threaded.ticket_id})
    return "repeat" if threaded.repeat else "threaded"
