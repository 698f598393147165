"""Where the routing decision meets the store: queue new requests, assign them, record why.

* handler ``ticket.imported`` — a new open request nobody is assigned to is queued
  (``routing_queue``, in the import's transaction: the queue is as durable as the import);
* job ``routing.tick`` — assign the queued requests, most urgent first (SLA due instant,
  then priority, then age); a request nobody can take now stays queued with the reason and
  is tried again at the next tick (someone came on shift, back from leave, freed up);
* ``assign`` — write the assignee (and the rule's team) on the request, publish
  ``record.changed`` so the sync outbox writes it back to the CRM and ``routing.assigned``
  (``agent_id``, ``previous_id``, ``action``) for whoever tells people, and log the decision
  with every agent considered.

A request that has an assignee in the CRM is never routed: a manual assignment is kept.
Capacity holds across workers: before an assignment the chosen agent's row in
``routing_agents`` is locked (``FOR UPDATE`` on PostgreSQL; SQLite's transactions hold
the write lock) and their load counted again under the lock.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_bridge.app import App
from crm_bridge.events import DomainEvent, Unit
from crm_bridge.model import Priority, TicketStatus
from crm_bridge.store.numbers import record_label
from crm_bridge.store.records import rows_by_id
from crm_bridge.store.tables import AgentRow, CustomerRow, TeamRow, TicketRow, core_table
from routing.coexecutors import add_co_executors
from routing.decide import Decision, RequestFacts, decide, load_of
from routing.language import CustomerLanguage, language_of
from routing.roster import Roster, count_load, last_agents, read_roster
from routing.tables import (
    RoutingAgentRow,
    RoutingCreditRow,
    RoutingLogRow,
    RoutingPointerRow,
    RoutingQueueRow,
)

__all__ = ["assign", "claim", "lock_agents", "log_decision", "on_ticket_imported", "request_facts", "routing_tick"]

log = logging.getLogger(__name__)
_TICK_LOCK = 7_420_131  # pg_try_advisory_xact_lock key: one router drains the queue at a time
_CHUNK = 500  # requests decided per transaction (the agents stay locked meanwhile)
_PRIORITY_RANK = {p.value: i for i, p in enumerate(reversed(list(Priority)))}  # urgent first
_OPEN = [s.value for s in TicketStatus if s.is_open]
_TRIGGERS = {"assignee_id", "status", "deleted"}


def request_facts(ticket: TicketRow, customer: CustomerRow | None, team: TeamRow | None, *,
                  languages: CustomerLanguage | None = None, last_agent: str | None = None) -> RequestFacts:
    """What the rules match on, as the SLA policies see it (``Match.why_not``), plus the
    derived ``language`` (``routing.language``) and the customer's last agent."""
    segment = customer.segment if customer else None
    language, _ = language_of(ticket.tags or (), segment, languages)
    return RequestFacts(ticket.number, ticket.type, {
        "type": ticket.type, "priority": ticket.priority, "status": ticket.status, "channel": ticket.channel,
        "source": ticket.source, "number": ticket.number, "subject": ticket.subject,
        "customer": customer.name if customer else None, "customer_tax_id": customer.tax_id if customer else None,
        "segment": customer.segment if customer else None, "team": team.name if team else None,
        "contract": ticket.contract, "tags": list(ticket.tags or []), "language": language}, last_agent)


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


def claim(session: Session, roster: Roster, key: str, request_type: str, config: Any, now: datetime) -> bool:
    """Lock agent `key`'s row and count their load again under the lock; True when the
    request still fits their capacity. The roster learns the recounted load either way, so
    a refused claim makes the next decision exclude the agent "at capacity". The lock is
    held until the transaction ends, so an agent is locked and recounted once per
    transaction: after that the roster's count (``Roster.took``) is exact."""
    state = roster.states[key]
    if state.agent_id is None:
        return False
    if key not in roster.locked:
        # No flush first: this transaction assigns to an agent only after locking them, so
        # nothing unflushed can be missing from their count (it can only count more).
        with session.no_autoflush:
            table = core_table(RoutingAgentRow)
            postgres = session.get_bind().dialect.name == "postgresql"
            insert = postgresql.insert(table) if postgres else sqlite.insert(table)
            session.execute(insert.on_conflict_do_nothing(index_elements=[table.c.agent_id]),
                            [{"agent_id": state.agent_id, "status": "available", "since": now}])
            lock = select(RoutingAgentRow.agent_id).where(RoutingAgentRow.agent_id == state.agent_id)
            session.execute(lock.with_for_update() if postgres else lock)
            fresh = count_load(session, config, [state.agent_id]).get(state.agent_id, {})
        roster.states[key] = state = replace(state, open_by_type=fresh)
        roster.locked.add(key)  # held until the transaction ends: later claims trust the roster
    limit = state.capacity.limit(request_type)
    return load_of(state) + state.capacity.weight(request_type) <= state.capacity.max and (
        limit is None or fresh.get(request_type, 0) + 1 <= limit)


def lock_agents(session: Session, now: datetime) -> None:
    """Lock every CRM user's ``routing_agents`` row at once, in id order (two lockers never
    wait on each other in a circle). Read the roster after it: the load it counts cannot
    change under this transaction, so a chunk of the queue claims from the roster alone
    (``Roster.locked``) — one grouped count per chunk instead of three statements a decision."""
    ids = sorted(session.scalars(select(AgentRow.id)))
    if not ids:
        return
    table = core_table(RoutingAgentRow)
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = postgresql.insert(table) if postgres else sqlite.insert(table)
    with session.no_autoflush:
        session.execute(insert.on_conflict_do_nothing(index_elements=[table.c.agent_id]),
                        [{"agent_id": i, "status": "available", "since": now} for i in ids])
        lock = select(RoutingAgentRow.agent_id).order_by(RoutingAgentRow.agent_id)
        session.execute(lock.with_for_update() if postgres else lock)


def _team_id(session: Session, name: str) -> int:
    """The local id of team `name`, created on first use; remembered for the session's
    transaction (``session.info``), so a chunk of assignments asks once per team."""
    known: dict[str, int] = session.info.setdefault("routing.team_ids", {})
    if name in known:
        return known[name]
    with session.no_autoflush:
        team = session.scalar(select(TeamRow).where(TeamRow.name == name))
    if team is None:
        team = TeamRow(name=name)
        session.add(team)
        session.flush()
    known[name] = int(team.id)
    return known[name]


def log_decision(session: Session, ticket_id: int, now: datetime, action: str, decision: Decision | None, *,
                 agent_id: int | None = None, previous_id: int | None = None, reason: str | None = None,
                 data: dict[str, Any] | None = None) -> None:
    """Append a move to ``routing_log`` with the agents the decision considered."""
    recorded: dict[str, Any] = dict(data or {})
    if decision is not None:
        recorded["considered"] = [{"key": c.key, "name": c.name, "excluded": c.excluded, "load": c.load, "why": c.why}
                                  for c in decision.considered]
        recorded["rules_checked"] = [list(r) for r in decision.rules_checked]
    session.add(RoutingLogRow(ticket_id=ticket_id, at=now, action=action, rule=decision.rule if decision else None,
                              agent_id=agent_id, previous_id=previous_id,
                              reason=reason if reason is not None else (decision.reason if decision else ""), data=recorded))


def assign(unit: Unit, ticket: TicketRow, agent_id: int, *, team: str | None, action: str, decision: Decision | None,
           reason: str | None = None) -> None:
    """Make `agent_id` the request's assignee (and `team` its team), hand the change to the
    outbox and log it."""
    previous = ticket.assignee_id
    fields: dict[str, Any] = {"assignee_id": agent_id}
    ticket.assignee_id = agent_id
    if team is not None:
        team_id = _team_id(unit.session, team)
        if ticket.team_id != team_id:
            ticket.team_id = fields["team_id"] = team_id
    agent = unit.session.get(AgentRow, agent_id)
    rule = f"routing rule {decision.rule}" if decision is not None and decision.rule else f"routing ({action})"
    why = f"{rule} → {agent.name if agent is not None else agent_id}"
    unit.publish(DomainEvent("record.changed", "ticket", ticket.id, "routing",
                             {"fields": fields, "why": dict.fromkeys(fields, why)}))
    if previous != agent_id:  # who hears of it is notify's business (the customer, the new assignee)
        unit.publish(DomainEvent("routing.assigned", "ticket", ticket.id, "routing",
                                 {"agent_id": agent_id, "previous_id": previous, "action": action}))
    log_decision(unit.session, ticket.id, unit.now, action, decision, agent_id=agent_id, previous_id=previous, reason=reason)
    log.info("request %s: %s to %s", ticket.number, action, record_label(unit.session, "agent", agent_id),
             extra={"event": f"routing.{action}", "number": ticket.number, "local_id": ticket.id, "agent_id": agent_id})


def _order(tickets: Sequence[TicketRow]) -> list[TicketRow]:
    """Most urgent first: the SLA due instant (none: last), then priority, then age."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(tickets, key=lambda t: (t.resolution_due or far, _PRIORITY_RANK.get(t.priority, 9), t.created_at, t.id))


def _route_chunk(app: App, now: datetime, after: tuple[int, ...]) -> tuple[int, int, int, int | None]:
    """Decide a chunk of the queue in one transaction: (assigned, waiting, done, last id)
    — `after` holds the ids already seen this tick; None as last id: the queue is drained."""
    config = app.config.section("routing")
    with app.store.transaction() as session:
        if session.get_bind().dialect.name == "postgresql" and not session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _TICK_LOCK}):
            return 0, 0, 0, None
        queued = {q.ticket_id: q for q in session.scalars(
            select(RoutingQueueRow).where(RoutingQueueRow.ticket_id > (after[-1] if after else 0))
            .order_by(RoutingQueueRow.ticket_id).limit(_CHUNK))}
        if not queued:
            return 0, 0, 0, None
        tickets = rows_by_id(session, TicketRow, queued)
        gone = [tid for tid, t in tickets.items() if t.deleted or t.assignee_id is not None or t.status not in _OPEN]
        gone += [tid for tid in queued if tid not in tickets]
        if gone:
            session.execute(delete(RoutingQueueRow).where(RoutingQueueRow.ticket_id.in_(gone)))
        todo = _order([t for tid, t in tickets.items() if tid not in gone])
        customers = rows_by_id(session, CustomerRow, {t.customer_id for t in todo})
        teams = rows_by_id(session, TeamRow, {t.team_id for t in todo})
        lock_agents(session, now)
        roster = read_roster(session, app.config, now)
        roster.locked.update(roster.states)  # counted under the locks
        pointers = {p.rule: p for p in session.scalars(select(RoutingPointerRow))}
        credits = _credits(session, config)
        lasts = last_agents(session, {t.customer_id for t in todo if t.customer_id}, roster.keys) if any(
            r.prefer_last_agent for r in config.rules) else {}
        unit = app.bus.unit(session, now, app.config)
        assigned = waiting = 0
        for ticket in todo:
            facts = request_facts(ticket, customers.get(ticket.customer_id or 0), teams.get(ticket.team_id or 0),
                                  languages=config.customer_language, last_agent=lasts.get(ticket.customer_id or 0))
            decision = _decide_and_claim(session, roster, facts, config, pointers, now, credits=credits)
            row = queued[ticket.id]
            if decision.outcome == "assigned" and decision.agent is not None:
                rule = next(r for r in config.rules if r.name == decision.rule)
                agent_id = roster.states[decision.agent].agent_id
                assert agent_id is not None  # an agent the CRM does not know is never eligible
                assign(unit, ticket, agent_id, team=rule.team, action="assigned", decision=decision)
                roster.took(decision.agent, ticket.type)
                add_co_executors(unit, ticket, rule, roster, decision.agent, now)  # if the rule asks for them
                session.delete(row)
                assigned += 1
            elif decision.outcome == "manual":
                log_decision(session, ticket.id, now, "manual", decision)
                session.delete(row)
            else:
                if row.reason != decision.reason:  # logged when the reason changes, not at every tick
                    log_decision(session, ticket.id, now, "queued", decision)
                row.reason, row.tried = decision.reason, now
                waiting += 1
        unit.complete()  # the assignments reach the outbox in this transaction
        return assigned, waiting, len(gone), max(queued)


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
                      credits: dict[str, dict[str, RoutingCreditRow]] | None = None) -> Decision:
    """Decide; claim the winner under its lock; decide again while a claim is refused
    (another worker filled that agent up meanwhile)."""
    while True:
        positions = {name: p.position for name, p in pointers.items()}
        stored = {rule: {k: r.credit for k, r in rows.items()} for rule, rows in (credits or {}).items()}
        decision = decide(facts, config.rules, roster.pools(), positions, now, credits=stored)
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
