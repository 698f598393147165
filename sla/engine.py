"""Where the SLA clocks meet the store: build a request's facts, evaluate, record the
ledger, update the request's SLA fields and hand what changed to the outbox and to the
other addons (``sla.warn``, ``sla.breach``, ``sla.escalate`` domain events).

* handler ``ticket.imported`` — queue a request for planning whenever an import changed
  it (``sla_queue``, in the import's transaction: the queue is as durable as the import);
* job ``sla.tick`` — plan the queued requests, a chunk per transaction, then those whose
  ``next_check`` has come (indexed), never a full scan. The runner and the scale-out queue
  start it as soon as a pull ends, so a new request's due dates go out in the same cycle.
  A chunk's transaction claims its requests (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), and
  under the scale-out queue the job runs as ``sla.planners`` streams (by id % n), so
  several workers plan at once and never one request twice;
* ``recalc`` — replay requests after a policy or calendar edit (``crm-bridge sla recalc``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from itertools import groupby
from typing import Any, NamedTuple

from sqlalchemy import (
    Text,
    bindparam,
    cast,
    delete,
    select,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from crm_bridge import progress
from crm_bridge.app import App
from crm_bridge.events import DomainEvent, Unit
from crm_bridge.model import TicketStatus
from crm_bridge.process import collector_paused
from crm_bridge.queue import Stream, fans_out
from crm_bridge.store.bulk import bulk_insert
from crm_bridge.store.numbers import record_label
from crm_bridge.store.records import among, in_chunks, rows_by_id
from crm_bridge.store.tables import CustomerRow, TeamRow, TicketEventRow, TicketRow, core_table
from sla.clock import Change, Evaluation, TicketFacts, evaluate
from sla.ledger import StoredEvent, insert_events, newest, record
from sla.queue import queue_calendar_changes
from sla.tables import SlaClockRow, SlaQueueRow

__all__ = ["facts_for", "plan_many", "plan_queued", "recalc", "sla_tick", "tick_streams"]

log = logging.getLogger(__name__)
_FIELD_OF = {"status_changed": "status", "priority_changed": "priority", "type_changed": "type"}
_ANNOUNCED = {kind: f"sla.{kind}" for kind in ("warn", "breach", "escalate")}  # ledger kind -> domain event
_DUE_FIELDS = ("first_response_due", "resolution_due")
_OPEN = frozenset(s.value for s in TicketStatus if s.is_open)  # a status value is open: no enum per request


_WHAT = {"resolution_due": "resolution due", "first_response_due": "first response due", "sla_state": "SLA state",
         "sla_breached": "breach flag", "sla_policy": "policy chosen"}


#: (policy, field, reason) -> the words of ``_why``: a chunk repeats a few policies and reasons
_WORDS: dict[tuple[Any, str, str], str] = {}


def _why(changed: dict[str, Any], fields: dict[str, Any], reason: str) -> dict[str, str]:
    """Per changed field, the decision in words (a shadow report's "why" column)."""
    policy = fields.get("sla_policy") or "(none)"
    why = {}
    for k in changed:
        words = _WORDS.get((policy, k, reason))
        if words is None:
            if len(_WORDS) > 4096:  # bounded: policies and reasons are configuration, but calendar reasons vary
                _WORDS.clear()
            tail = f" ({reason})" if reason else ""
            words = _WORDS[(policy, k, reason)] = f"SLA policy {policy}: {_WHAT.get(k, k)}{tail}"
        why[k] = words
    return why


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None

#: requests planned per transaction when the queue is drained. Each commit writes every page
#: its rows touched, and the outbox's identity keys and the requests' SLA indexes land on
#: pages all over their B-trees: 2,000 a commit instead of 500 writes most such pages once
#: instead of four times (the planner's CPU at 20,000 requests: -10 to -20 %). The write
#: lock is held about half a second a chunk; other writers wait on the busy timeout (30 s).
_QUEUE_CHUNK = 2000


def _facts(ticket: Any, events: Sequence[Any], customer: Any, team: Any) -> TicketFacts:
    """`ticket`, `customer`, `team`: row objects or tuples of their columns."""
    created = None
    changes: list[Change] = []
    messages: list[Change] = []
    for e in events:  # one pass: the field changes in order, then the messages in order
        kind = e.kind
        if kind in _FIELD_OF:
            changes.append(Change(e.at, _FIELD_OF[kind], e.data.get("to")))
        elif kind == "message":
            messages.append(Change(e.at, "message", e.data.get("author")))
        elif kind == "created" and created is None:
            created = e
    initial: dict[str, Any] = {
        "type": ticket.type, "priority": ticket.priority, "status": ticket.status, "channel": ticket.channel,
        "source": ticket.source, "number": ticket.number, "subject": ticket.subject,
        "customer": customer.name if customer else None, "customer_tax_id": customer.tax_id if customer else None,
        "segment": customer.segment if customer else None, "team": team.name if team else None,
        "contract": ticket.contract, "tags": list(_decoded(ticket.tags) or []),
    }
    if created is not None:
        initial.update({k: v for k, v in created.data.items() if k in ("status", "priority", "type")})
    return TicketFacts(ticket.created_at, initial, changes + messages, ticket.first_response_at, ticket.resolved_at,
                       ticket.closed_at)


#: JSON texts the planner read (history data, tags) -> their value, shared by the read-only rows that
#: hold them: a chunk repeats a few ({"status": "new"}, {"author": "staff"}, [])
_DECODED: dict[str, Any] = {}


def _decoded(value: Any) -> Any:
    """JSON text decoded, once per distinct text; a value that is not text (a row object's list) as it is."""
    if not isinstance(value, str):
        return value
    found = _DECODED.get(value)
    if found is None:
        if len(_DECODED) > 4096:
            _DECODED.clear()
        found = _DECODED[value] = json.loads(value)
    return found


def facts_for(unit: Unit, ticket: TicketRow) -> TicketFacts:
    """A request's facts as the clocks need them: its opening state and every change."""
    session = unit.session
    events = list(session.scalars(select(TicketEventRow).where(TicketEventRow.ticket_id == ticket.id)
                                  .order_by(TicketEventRow.at, TicketEventRow.id)))
    customer = session.get(CustomerRow, ticket.customer_id) if ticket.customer_id else None
    team = session.get(TeamRow, ticket.team_id) if ticket.team_id else None
    return _facts(ticket, events, customer, team)


def _summary(evaluation: Evaluation, ticket: Any) -> dict[str, Any]:
    latest = {c.metric: c for c in evaluation.cycles}  # each metric's current cycle: its last (``Evaluation.current``)
    resolution, first = latest.get("resolution"), latest.get("first_response")
    current = latest.values()
    state = resolution.state if resolution else None
    if state in ("on_track", "warning") and ticket.status not in _OPEN:
        state = "stopped"
    return {
        "resolution_due": resolution.due if resolution else None,
        "first_response_due": first.due if first else None,
        "sla_policy": resolution.policy if resolution else (first.policy if first else None),
        "sla_state": state,
        "sla_breached": any(c.state in ("breached", "missed") for c in current),
    }


_TICKET = (TicketRow.id, TicketRow.number, TicketRow.subject, TicketRow.type, TicketRow.priority, TicketRow.status,
           TicketRow.channel, TicketRow.source, TicketRow.customer_id, TicketRow.team_id, TicketRow.contract, cast(TicketRow.tags, Text).label("tags"),
           TicketRow.created_at, TicketRow.first_response_at, TicketRow.resolved_at, TicketRow.closed_at,
           TicketRow.first_response_due, TicketRow.resolution_due, TicketRow.sla_policy, TicketRow.sla_state,
           TicketRow.sla_breached, TicketRow.deleted)
_CLOCK = (SlaClockRow.ticket_id, SlaClockRow.generation, SlaClockRow.policy, SlaClockRow.state, SlaClockRow.next_check,
          SlaClockRow.notes)
_CLOCK_FIELDS = ("generation", "policy", "state", "next_check", "notes")


def _rows(session: Session, row: type[Any], columns: Sequence[Any], ids: Iterable[int | None]) -> dict[int, Any]:
    """Rows by id as tuples of `columns` (``rows_by_id``): a row the session holds as an
    object (an import's page) is taken as that object, so what its transaction changed is
    what the plan reads."""
    return rows_by_id(session, row, ids, columns)


def plan_many(unit: Unit, ticket_ids: list[int], *, origin: str = "sla", reason: str = "",
              bar: progress.Task | None = None) -> int:
    """Plan many requests with a handful of queries; returns how many changed. `bar`
    advances by each chunk of requests planned (``crm_bridge.progress``).

    Set-based: a chunk's requests, histories, customers, teams, ledgers and clocks are
    read as row tuples (a query each), and its ledger rows, new clocks, changed clocks and
    the requests' SLA fields are written with one ``executemany`` each."""
    unit.session.flush()
    changed = 0
    ids = list(dict.fromkeys(ticket_ids))
    for chunk in in_chunks(ids):
        with collector_paused():  # a chunk's ~100 containers a request live until it is written
            changed += _plan_chunk(unit, chunk, origin=origin, reason=reason)
        if bar is not None:
            bar.advance(len(chunk))
    return changed


def _plan_chunk(unit: Unit, chunk: Sequence[int], *, origin: str, reason: str) -> int:
    """Plan one chunk of requests (see ``plan_many``); returns how many changed."""
    session, settings = unit.session, unit.config.section("sla")
    changed = 0
    tickets = _rows(session, TicketRow, _TICKET, chunk)
    history = _histories(session, chunk)
    customers = _rows(session, CustomerRow, (CustomerRow.id, CustomerRow.name, CustomerRow.tax_id, CustomerRow.segment),
                      (t.customer_id for t in tickets.values()))
    teams = _rows(session, TeamRow, (TeamRow.id, TeamRow.name), (t.team_id for t in tickets.values()))
    ledgers = newest(session, chunk)
    clocks = _rows(session, SlaClockRow, _CLOCK, chunk)
    out = _Writes()
    for tid in chunk:
        ticket = tickets.get(tid)
        if ticket is None or ticket.deleted:
            continue
        facts = _facts(ticket, history[tid], customers.get(ticket.customer_id), teams.get(ticket.team_id))
        evaluation = evaluate(facts, settings.policies, settings.calendar, unit.now)
        changed += bool(_apply(unit, ticket, evaluation, clocks.get(tid), ledgers[tid], origin=origin, reason=reason,
                               out=out))
    out.write(session)
    # An escalation's handlers act on the request: its row object is loaded once for
    # the chunk (and kept here: the identity map holds it weakly), not one query each.
    acting = [e.local_id for e in out.events if e.kind == "sla.escalate"]
    held = list(session.scalars(select(TicketRow).where(among(session, TicketRow.id, acting)))) if acting else []
    for event in out.events:
        unit.publish(event)
    del held
    return changed


def _histories(session: Session, chunk: Sequence[int]) -> dict[int, list[Any]]:
    """Each request's history as (kind, at, data) row tuples in order: read, never changed."""
    history: dict[int, list[Any]] = {tid: [] for tid in chunk}
    for tid, kind, at, data in session.execute(  # the data as text: ``_decoded``
            select(TicketEventRow.ticket_id, TicketEventRow.kind, TicketEventRow.at, cast(TicketEventRow.data, Text))
            .where(among(session, TicketEventRow.ticket_id, chunk)).order_by(TicketEventRow.at, TicketEventRow.id)):
        history[tid].append(_Event(kind, at, _decoded(data)))
    return history


class _Event(NamedTuple):  # a history row as ``_facts`` reads it
    kind: str
    at: datetime
    data: Any


class _Writes:
    """A chunk's writes, collected while its requests are planned: one executemany each."""

    def __init__(self) -> None:
        self.ledger: list[dict[str, Any]] = []
        self.new_clocks: list[dict[str, Any]] = []
        self.clocks: list[dict[str, Any]] = []
        self.summaries: list[dict[str, Any]] = []
        self.events: list[DomainEvent] = []  # published once the chunk is written

    def write(self, session: Session) -> None:
        insert_events(session, self.ledger)
        if self.new_clocks:
            bulk_insert(session, core_table(SlaClockRow), self.new_clocks)
        if self.clocks:
            _update_many(session, core_table(SlaClockRow).c.ticket_id, self.clocks)
        if self.summaries:
            _update_many(session, core_table(TicketRow).c.id, self.summaries)


_UPDATES: dict[tuple[str, Any, tuple[str, ...]], tuple[str, tuple[str, ...], list[tuple[str, Any, int]], list[Any]]] = {}


def _update_many(session: Session, key: Any, rows: list[dict[str, Any]]) -> None:
    """``UPDATE <key's table> SET <the rows' fields> WHERE key = _id`` for every row (dicts
    of ``_id`` and the same fields), one driver ``executemany`` with the parameters made
    here: SQLAlchemy's own executemany builds each row's parameters through the compiler
    (as long as the UPDATE itself takes). A column with an ``onupdate`` (``updated``)
    gets it, evaluated once for the statement."""
    connection = session.connection()
    dialect = connection.dialect
    sql, names, steps, stamped = _update_plan(dialect, key, tuple(k for k in rows[0] if k != "_id"))
    stamps = []
    for column in stamped:
        value = column.onupdate.arg(None) if column.onupdate.is_callable else column.onupdate.arg
        process = column.type.bind_processor(dialect)
        stamps.append(value if process is None else process(value))
    params: list[Any] = []
    for row in rows:
        values = [stamps[i] if i >= 0 else row[n] if p is None else p(row[n]) for n, p, i in steps]
        params.append(tuple(values) if dialect.positional else dict(zip(names, values, strict=True)))
    connection.exec_driver_sql(sql, params)


def _update_plan(dialect: Any, key: Any, fields: tuple[str, ...]) -> tuple[str, tuple[str, ...], list[tuple[str, Any, int]],
                                                                           list[Any]]:
    """(SQL, its parameter names in order, how to get each (the row's key, its processor,
    or the index of an ``onupdate`` value), the columns stamped on update) for
    ``_update_many``, compiled once per dialect, key and fields."""
    plan = _UPDATES.get((dialect.name, key, fields))
    if plan is None:
        table = key.table
        stamped = [c for c in table.columns if c.onupdate is not None and c.key not in fields]
        values = {name: bindparam(name) for name in fields} | {c.key: bindparam(f"_stamp{i}") for i, c in enumerate(stamped)}
        compiled = update(table).where(key == bindparam("_id")).values(values).compile(dialect=dialect)
        names = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else (
            *fields, *(f"_stamp{i}" for i in range(len(stamped))), "_id")
        steps = [(name, None, int(name[6:])) if name.startswith("_stamp") else
                 (name, (key if name == "_id" else table.c[name]).type.bind_processor(dialect), -1) for name in names]
        plan = _UPDATES[(dialect.name, key, fields)] = (str(compiled), names, steps, stamped)
    return plan


def _apply(unit: Unit, ticket: Any, evaluation: Evaluation, clock: Any, stored: list[StoredEvent] | None, *,
           origin: str, reason: str, out: _Writes) -> dict[str, Any]:
    """Record one request's plan in `out`; `ticket` and `clock` are row tuples, or the
    objects the session holds (told the new values as already stored)."""
    ledger_rows = out.ledger
    before = len(ledger_rows)
    generation, appended = record(unit.session, ticket.id, evaluation, reason=reason, stored=stored, sink=ledger_rows)
    fields = _summary(evaluation, ticket)
    changed = {k: v for k, v in fields.items() if getattr(ticket, k) != v}
    moved = {k: [_iso(getattr(ticket, k)), _iso(v)] for k, v in changed.items() if k in _DUE_FIELDS} if reason else None
    if moved and not any(r["kind"] == "recalculate" for r in ledger_rows[before:]):
        ledger_rows.append({"ticket_id": ticket.id, "generation": generation, "metric": "all", "cycle": 0, "kind": "replan",
                            "at": unit.now, "business_seconds": 0.0, "calendar_seconds": 0.0,
                            "data": {"reason": reason, "moved": moved}})
    if changed:
        # Written by the caller in one executemany; an object the session holds learns the
        # values as already stored, so the session does not UPDATE it once more.
        out.summaries.append({"_id": ticket.id, **fields})
        if isinstance(ticket, TicketRow):
            for key, value in fields.items():
                set_committed_value(ticket, key, value)
    is_open = ticket.status in _OPEN
    next_check = evaluation.next_check if is_open and not ticket.deleted else None
    cycles = evaluation.cycles
    notes = list(dict.fromkeys(note for cycle in cycles for note in cycle.notes)) if any(c.notes for c in cycles) else None
    if notes and is_open:
        _warn_once(notes, unit.now, ticket.number)
    state = {"generation": generation, "policy": fields["sla_policy"], "state": fields["sla_state"],
             "next_check": next_check, "notes": notes}
    if clock is None:
        out.new_clocks.append({"ticket_id": ticket.id, **state})
    elif any(getattr(clock, k) != v for k, v in state.items()):
        out.clocks.append({"_id": ticket.id, **state})
        if isinstance(clock, SlaClockRow):
            for key, value in state.items():
                set_committed_value(clock, key, value)
    if changed:  # the policy too: a mapping may write it back (one that does not map it sends nothing)
        out.events.append(DomainEvent("record.changed", "ticket", ticket.id, origin,
                                      {"fields": changed, "why": _why(changed, fields, reason)}))
    logged = log.isEnabledFor(logging.INFO)
    for event in appended:
        if event.kind in _ANNOUNCED:
            data = {"metric": event.metric, "cycle": event.cycle, "at": event.at, **event.data}
            out.events.append(DomainEvent(_ANNOUNCED[event.kind], "ticket", ticket.id, origin, data))
            if logged:
                log.info("request %s: %s %s", ticket.number, event.metric, event.kind,
                         extra={"event": f"sla.clock.{event.kind}", "number": ticket.number, "local_id": ticket.id})
    return changed


#: (note, day) pairs already logged by this process: a warning once per layer and day
_warned: set[tuple[str, date]] = set()


def _warn_once(notes: list[str], now: datetime, number: str | None) -> None:
    for note in notes:
        if (note, now.date()) not in _warned:
            _warned.add((note, now.date()))
            log.warning("SLA times %s, e.g. request %s: the weekly pattern and the fixed holidays stand in for the "
                        "missing days; add the next year's calendar data (crm-bridge check says how)", note, number,
                        extra={"event": "sla.calendar.beyond_data"})


def _part(part: str | None) -> tuple[int, int] | None:
    """``"i/n"`` -> (i, n): the requests whose id % n == i; None: all of them."""
    if part is None:
        return None
    index, _, count = part.partition("/")
    if not (index.isdigit() and count.isdigit() and 0 <= int(index) < int(count)):
        msg = f"sla.tick part {part!r}: expected '<index>/<count>' with index 0..count-1, e.g. '1/4'"
        raise ValueError(msg)
    return int(index), int(count)


def tick_streams(app: App) -> Iterator[Stream]:
    """``sla.tick`` under the scale-out queue: one stream, or ``sla.planners`` streams, each
    planning the requests of its id residue, so that N workers plan in parallel."""
    count = app.config.section("sla").planners
    if count == 1:
        yield Stream("sla.tick")
        return
    for index in range(count):
        yield Stream(f"sla.tick:{index}/{count}", {"part": f"{index}/{count}"})


def _in_part(query: Any, column: Any, part: tuple[int, int] | None) -> Any:
    return query if part is None or part[1] == 1 else query.where(column % part[1] == part[0])


def _claim_tickets(session: Session, ids: Sequence[int]) -> set[int]:
    """The requests of `ids` this transaction may plan. On PostgreSQL their rows are locked
    (``FOR UPDATE SKIP LOCKED``) until it commits: a request another planner holds is left
    to it (it stays queued, or due), so no request is planned twice at once and the ledger
    a plan compares with is the one the previous plan committed. On SQLite every
    transaction holds the write lock already."""
    if session.get_bind().dialect.name != "postgresql" or not ids:
        return set(ids)
    claimed: set[int] = set()
    for chunk in in_chunks(sorted(ids)):
        claimed.update(session.scalars(select(TicketRow.id).where(TicketRow.id.in_(chunk))
                                       .order_by(TicketRow.id).with_for_update(skip_locked=True)))
    return claimed


def plan_queued(app: App, now: datetime, *, chunk: int = _QUEUE_CHUNK, part: str | None = None) -> tuple[int, int]:
    """Plan the queued requests (of `part`, ``"i/n"``: those whose id % n == i), `chunk` per
    transaction, each at most once per call; a request queued again meanwhile stays queued
    for the next call. The transaction that plans a chunk claims it: on PostgreSQL its queue
    rows and requests are locked with ``SKIP LOCKED``, so planners working at once take
    different chunks. A chunk whose plan fails is planned again one request at a time, and
    a request that fails alone stays queued (logged) without holding up the others.
    Returns (planned, failed)."""
    planned, failed, after, residue = 0, 0, 0, _part(part)
    postgres = app.store.engine.dialect.name == "postgresql"
    while True:
        queued: list[Any] = []
        try:
            with app.store.transaction() as session:
                query = _in_part(select(SlaQueueRow.ticket_id, SlaQueueRow.token, SlaQueueRow.reason)
                                 .where(SlaQueueRow.ticket_id > after), SlaQueueRow.ticket_id, residue)
                query = query.order_by(SlaQueueRow.ticket_id).limit(chunk)
                queued = list(session.execute(query.with_for_update(skip_locked=True) if postgres else query))
                took = _plan_claimed(app, session, now, queued) if queued else 0
        except Exception:  # one request's plan, most likely: find it, plan the others
            if not queued:
                raise
            log.warning("planning %d queued requests failed; planning them one by one", len(queued), exc_info=True,
                        extra={"event": "sla.queue.retry"})
            took = 0
            for one in queued:
                try:
                    took += _plan_queued(app, now, [one])
                except OperationalError:
                    raise  # the store itself (locked, gone): the job fails and is run again, not 500 tracebacks
                except Exception:
                    failed += 1
                    with app.store.transaction() as s:
                        label = record_label(s, "ticket", one.ticket_id)
                    log.exception("%s: its SLA plan failed; it stays queued", label,
                                  extra={"event": "sla.queue.failed", "local_id": one.ticket_id})
        if not queued:
            if planned:
                log.info("planned %d queued request(s)%s", planned, f" of part {part}" if part else "",
                         extra={"event": "sla.queue.planned", "planned": planned, "part": part})
            return planned, failed
        planned += took
        after = queued[-1].ticket_id


def _plan_queued(app: App, now: datetime, queued: Sequence[Any]) -> int:
    """Plan `queued` (rows of ticket id, token and reason) in one transaction and take them
    off the queue; returns how many were planned (a request another planner holds is not)."""
    with app.store.transaction() as session:
        return _plan_claimed(app, session, now, queued)


def _plan_claimed(app: App, session: Session, now: datetime, queued: Sequence[Any]) -> int:
    claimed = _claim_tickets(session, [q.ticket_id for q in queued])
    mine = [q for q in queued if q.ticket_id in claimed]
    unit = app.bus.unit(session, now, app.config)
    with collector_paused():  # a chunk's ~100 containers a request live until it is written
        for reason, rows in groupby(sorted(mine, key=lambda q: q.reason or ""), key=lambda q: q.reason or ""):
            plan_many(unit, [q.ticket_id for q in rows], reason=reason)
        unit.complete()  # what the plans changed reaches the outbox before the queue lets go
    if mine:
        table = core_table(SlaQueueRow)
        session.execute(delete(table).where(table.c.ticket_id == bindparam("_id"), table.c.token == bindparam("_token")),
                        [{"_id": q.ticket_id, "_token": q.token} for q in mine])
    return len(mine)


@fans_out(tick_streams)
def sla_tick(app: App, now: datetime, *, part: str | None = None) -> dict[str, Any]:
    """Job ``sla.tick``: the requests imports queued, then those whose next warning,
    breach or escalation has come; with `part` (``"i/n"``, a stream of the scale-out
    queue) only the requests whose id % n == i, and the calendars are compared by part 0."""
    residue = _part(part)
    replan = queue_calendar_changes(app, now) if residue is None or residue[0] == 0 else 0
    planned, failed = plan_queued(app, now, part=part)
    with app.store.transaction() as session:
        unit = app.bus.unit(session, now, app.config)
        query = _in_part(select(SlaClockRow.ticket_id).where(SlaClockRow.next_check <= now), SlaClockRow.ticket_id, residue)
        due = list(session.scalars(query.order_by(SlaClockRow.next_check).limit(5000)))
        claimed = _claim_tickets(session, due)
        changed = plan_many(unit, [t for t in due if t in claimed], origin="sla.tick")
        done = len(claimed)
    summary: dict[str, Any] = {"planned": planned, "checked": done, "changed": changed}
    if replan:
        summary["calendar_changes"] = replan
    if failed:
        summary["error"] = f"{failed} imported request(s) could not be planned and stay queued; see the log"
    return summary


def recalc(app: App, now: datetime, *, include_closed: bool = False) -> dict[str, Any]:
    """Replay requests after a policy or calendar edit; the ledger keeps the old story."""
    with app.store.transaction() as session:
        query = select(TicketRow).where(TicketRow.deleted.is_(False))
        if not include_closed:
            query = query.where(TicketRow.status.in_([s.value for s in TicketStatus if s.is_open]))
        unit = app.bus.unit(session, now, app.config)
        ids = list(session.scalars(query.with_only_columns(TicketRow.id)))
        with progress.task("sla recalc", len(ids), unit="requests") as bar:
            changed = plan_many(unit, ids, origin="sla.recalc", reason="crm-bridge sla recalc", bar=bar)
        replayed = len(ids)
    return {"replayed": replayed, "changed": changed}
