"""Where the routing decision meets the store: queue new requests, assign them, record why.

* handler ``ticket.imported`` — a new open request nobody is assigned to is queued
  (``routing_queue``, in the import's transaction: the queue is as durable as the import);
* job ``routing.tick`` — assign the queued requests, most urgent first (SLA due instant,
  then priority, then age); a request nobody can take now stays queued with the reason and
  is tried again at the next tick (someone came on shift, back from leave, freed up);
* the moves it makes — ``assign`` (the outbox's ``record.changed`` and notify's
  ``routing.assigned``), ``claim`` of an agent's capacity under a lock, ``log_decision`` —
  live in ``routing.moves``, shared with re-routing, escalations and co-executors.

A request that has an assignee in the CRM is never routed: a manual assignment is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Integer, any_, bindparam, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, load_only
from sqlalchemy.orm.attributes import set_committed_value

from crm_bridge.app import App
from crm_bridge.events import DomainEvent, Unit
from crm_bridge.model import Priority, TicketStatus
from crm_bridge.store.records import rows_by_id
from crm_bridge.store.tables import CustomerRow, TeamRow, TicketRow, core_table, utcnow
from routing.batch import update_by_id
from routing.coexecutors import add_co_executors
from routing.decide import Decision, Memo, RequestFacts, decide
from routing.moves import assign, batched_log, claim, lock_agents, log_decision, request_facts
from routing.roster import Roster, last_agents, read_roster
from routing.tables import (
    RoutingCreditRow,
    RoutingPointerRow,
    RoutingQueueRow,
)

__all__ = ["assign", "claim", "lock_agents", "log_decision", "on_ticket_imported", "request_facts", "routing_tick"]

log = logging.getLogger(__name__)
_TICK_LOCK = 7_420_131  # pg_try_advisory_xact_lock key: one router drains the queue at a time
# Requests decided per transaction. Each chunk locks every agent and counts their load
# once (~70 ms with 100,000 open requests); the agents stay locked meanwhile (~0.5 s a
# thousand at 2,000 decisions/s), which an escalation or a re-route outside the tick waits
# out. PostgreSQL's chunk is larger (the locks held up to ~2.5 s): there the count, the
# locks and every statement are round trips to a server sharing the machine (the count
# alone was ~15 % of the tick with chunks of 1,000; 2,500 still missed 2,000/s).
_CHUNK = {"postgresql": 5000}
_CHUNK_DEFAULT = 1000
_PRIORITY_RANK = {p.value: i for i, p in enumerate(reversed(list(Priority)))}  # urgent first
_OPEN = [s.value for s in TicketStatus if s.is_open]
_TRIGGERS = {"assignee_id", "status", "deleted"}


def _queue_many(unit: Unit, ticket_ids: list[int]) -> None:
    session = unit.session
    session.flush()
    wanted = list(session.scalars(select(TicketRow.id).where(
        TicketRow.id.in_(sorted(set(ticket_ids))), TicketRow.assignee_id.is_(None), TicketRow.deleted.is_(False),
        TicketRow.status.in_(_OPEN))))
    if not wanted:
        return
    table = core_table(RoutingQueueRow)
    insert = postgresql.insert(table) if session.get_bind().dialect.name == "postgresql" else sqlite.insert(table)
    session.execute(insert.on_conflict_do_nothing(index_elements=[table.c.ticket_id]),
                    [{"ticket_id": tid, "queued": unit.now} for tid in wanted])


def on_ticket_imported(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``ticket.imported``: queue a new request (or one whose assignee, status
    or deletion changed) to be routed by ``routing.tick``; the tick skips it if the CRM
    has an assignee for it by then."""
    if not unit.config.section("routing").enabled:
        return
    data = event.data or {}
    changed = data.get("changed")
    if data.get("created") or changed is None or set(changed) & _TRIGGERS:
        unit.defer("routing.queue", event.local_id, _queue_many)


_WANTED = load_only(*(getattr(TicketRow, name) for name in (  # what the rules, the order and the assignment read
    "number", "subject", "type", "priority", "channel", "source", "status", "customer_id", "assignee_id", "co_executors",
    "team_id", "contract", "tags", "created_at", "resolution_due", "deleted")))


def _among(column: Any, ids: list[int], dialect: str) -> Any:
    """``column IN ids`` — on PostgreSQL as ``= ANY(array)``: one parameter, where an
    ``IN`` of a chunk's thousands of ids was compiled and converted by the driver anew
    each time (~5 % of the tick)."""
    if dialect == "postgresql":
        return column == any_(bindparam("ids", ids, type_=postgresql.ARRAY(Integer)))
    return column.in_(ids)


def _tickets(session: Session, ids: list[int], dialect: str) -> dict[int, TicketRow]:
    """The chunk's requests by id, one query, only the columns routing reads (not the
    description, the SLA and CSAT fields): a full row a request was ~10 % of the tick."""
    return {t.id: t for t in session.scalars(select(TicketRow).where(_among(TicketRow.id, ids, dialect)).options(_WANTED))}


def _order(tickets: Sequence[TicketRow]) -> list[TicketRow]:
    """Most urgent first: the SLA due instant (none: last), then priority, then age."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(tickets, key=lambda t: (t.resolution_due or far, _PRIORITY_RANK.get(t.priority, 9), t.created_at, t.id))


def _route_chunk(app: App, now: datetime, after: tuple[int, ...]) -> tuple[int, int, int, int | None]:
    """Decide a chunk of the queue in one transaction: (assigned, waiting, done, last id)
    — `after` holds the ids already seen this tick; None as last id: the queue is drained."""
    config = app.config.section("routing")
    with app.store.transaction() as session:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql" and not session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _TICK_LOCK}):
            return 0, 0, 0, None
        queued: dict[int, str | None] = dict(session.execute(  # ticket id -> why it waits (columns: no ORM object a row)
            select(RoutingQueueRow.ticket_id, RoutingQueueRow.reason)
            .where(RoutingQueueRow.ticket_id > (after[-1] if after else 0))
            .order_by(RoutingQueueRow.ticket_id).limit(_CHUNK.get(dialect, _CHUNK_DEFAULT))).all())
        if not queued:
            return 0, 0, 0, None
        tickets = _tickets(session, list(queued), dialect)
        gone = [tid for tid, t in tickets.items() if t.deleted or t.assignee_id is not None or t.status not in _OPEN]
        gone += [tid for tid in queued if tid not in tickets]
        if gone:
            session.execute(delete(RoutingQueueRow).where(_among(RoutingQueueRow.ticket_id, gone, dialect)))
        todo = _order([t for tid, t in tickets.items() if tid not in gone])
        customers = rows_by_id(session, CustomerRow, {t.customer_id for t in todo})
        teams = rows_by_id(session, TeamRow, {t.team_id for t in todo})
        lock_agents(session, now)
        roster = read_roster(session, app.config, now)
        roster.locked.update(roster.states)  # counted under the locks
        memo: Memo = {}  # eligibility apart from load, worked out once per agent and rule this chunk
        pointers = {p.rule: p for p in session.scalars(select(RoutingPointerRow))}
        credits = _credits(session, config)
        lasts = last_agents(session, {t.customer_id for t in todo if t.customer_id}, roster.keys) if any(
            r.prefer_last_agent for r in config.rules) else {}
        unit = app.bus.unit(session, now, app.config)
        assigned = waiting = 0
        done: list[int] = []  # left the queue: assigned, or left to a supervisor
        tried: list[dict[str, Any]] = []  # still waiting: why, and when last tried
        with batched_log(session):
            for ticket in todo:
                facts = request_facts(ticket, customers.get(ticket.customer_id or 0), teams.get(ticket.team_id or 0),
                                      languages=config.customer_language, last_agent=lasts.get(ticket.customer_id or 0))
                decision = _decide_and_claim(session, roster, facts, config, pointers, now, credits=credits, memo=memo)
                if decision.outcome == "assigned" and decision.agent is not None:
                    rule = next(r for r in config.rules if r.name == decision.rule)
                    winner = roster.states[decision.agent]
                    assert winner.agent_id is not None  # an agent the CRM does not know is never eligible
                    assign(unit, ticket, winner.agent_id, team=rule.team, action="assigned", decision=decision,
                           agent_name=winner.name)
                    roster.took(decision.agent, ticket.type)
                    add_co_executors(unit, ticket, rule, roster, decision.agent, now)  # if the rule asks for them
                    done.append(ticket.id)
                    assigned += 1
                elif decision.outcome == "manual":
                    log_decision(session, ticket.id, now, "manual", decision)
                    done.append(ticket.id)
                else:
                    if queued[ticket.id] != decision.reason:  # logged when the reason changes, not at every tick
                        log_decision(session, ticket.id, now, "queued", decision)
                    tried.append({"ticket_id": ticket.id, "reason": decision.reason, "tried": now})
                    waiting += 1
        _write_assignments(session, [tickets[tid] for tid in done if tickets[tid].assignee_id is not None])
        if done:
            session.execute(delete(RoutingQueueRow).where(_among(RoutingQueueRow.ticket_id, done, dialect))
                            .execution_options(synchronize_session=False))  # one statement, not one a row
        if tried:
            session.execute(update(RoutingQueueRow), tried)  # by primary key, no object a row
        unit.complete()  # the assignments reach the outbox in this transaction
        return assigned, waiting, len(gone), max(queued)


def _write_assignments(session: Session, assigned: list[TicketRow]) -> None:
    """Write the chunk's new assignees and teams in bulk (``routing.batch``), then take them
    as committed, so the flush leaves them out: the ORM's UPDATE is a statement per ticket.
    ``updated`` is stamped as the ORM's ``onupdate`` would."""
    rows = [{"id": t.id, "assignee_id": t.assignee_id, "team_id": t.team_id} for t in assigned]
    update_by_id(session, core_table(TicketRow), rows, updated=utcnow())
    for ticket, row in zip(assigned, rows, strict=True):
        set_committed_value(ticket, "assignee_id", row["assignee_id"])
        set_committed_value(ticket, "team_id", row["team_id"])


def _credits(session: Session, config: Any) -> dict[str, dict[str, RoutingCreditRow]] | None:
    """The weighted rules' stored credits by rule and agent key (None: no weighted rule)."""
    weighted = [r.name for r in config.rules if r.method == "weighted"]
    if not weighted:
        return None
    found: dict[str, dict[str, RoutingCreditRow]] = {name: {} for name in weighted}
    for row in session.scalars(select(RoutingCreditRow).where(RoutingCreditRow.rule.in_(weighted))):
        found[row.rule][row.agent] = row
    return found


def _keep_credits(session: Session, credits: dict[str, dict[str, RoutingCreditRow]], decision: Decision) -> None:
    if decision.credits is None or decision.rule is None:
        return
    rows = credits.setdefault(decision.rule, {})
    for key, value in decision.credits.items():
        row = rows.get(key)
        if row is None:
            row = rows[key] = RoutingCreditRow(rule=decision.rule, agent=key, credit=0.0)
            session.add(row)
        row.credit = value


def _decide_and_claim(session: Session, roster: Roster, facts: RequestFacts, config: Any,
                      pointers: dict[str, RoutingPointerRow], now: datetime, *,
                      credits: dict[str, dict[str, RoutingCreditRow]] | None = None, memo: Memo | None = None) -> Decision:
    """Decide; claim the winner under its lock; decide again while a claim is refused
    (another worker filled that agent up meanwhile)."""
    while True:
        positions = {name: p.position for name, p in pointers.items()}
        stored = {rule: {k: r.credit for k, r in rows.items()} for rule, rows in (credits or {}).items()}
        decision = decide(facts, config.rules, roster.pools(), positions, now, credits=stored, memo=memo)
        if decision.outcome != "assigned" or decision.agent is None:
            return decision
        if claim(session, roster, decision.agent, facts.type, config, now):
            if decision.pointer is not None and decision.rule is not None:
                pointer = pointers.get(decision.rule)
                if pointer is None:
                    pointer = pointers[decision.rule] = RoutingPointerRow(rule=decision.rule, position=0)
                    session.add(pointer)
                pointer.position = decision.pointer
            if credits is not None:
                _keep_credits(session, credits, decision)
            return decision


def routing_tick(app: App, now: datetime) -> dict[str, Any]:
    """Job ``routing.tick``: assign the queued requests, a chunk per transaction."""
    if not app.config.section("routing").enabled:
        return {"assigned": 0, "waiting": 0}
    from routing.reroute import reroute_sweep  # re-routing builds on this module

    moves = reroute_sweep(app, now)  # a gone assignee's requests are queued before the queue drains
    assigned = waiting = dropped = 0
    seen: tuple[int, ...] = ()
    while True:
        took, left, done, last = _route_chunk(app, now, seen)
        assigned, waiting, dropped = assigned + took, waiting + left, dropped + done
        if last is None:
            break
        seen = (last,)
    summary: dict[str, Any] = {"assigned": assigned, "waiting": waiting}
    if dropped:
        summary["dropped"] = dropped  # assigned in the CRM meanwhile, closed or deleted
    summary.update({k: v for k, v in moves.items() if v})
    return summary
