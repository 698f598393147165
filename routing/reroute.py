"""Re-routing: moving a request the bridge assigned when its assignee can no longer serve it.

* handler ``sla.warn`` — a request still unanswered (no first response) whose rule says
  ``reroute_on_warn`` goes to the eligible agent with the most free time before the due
  instant, when that is more than the current assignee has;
* ``reroute_sweep`` (run by ``routing.tick`` before the queue) — an assignee deactivated or
  deleted in the CRM is replaced (never kept, whoever chose them: the request would wait
  for nobody); one who is ``offline`` or on leave, and a request nobody touched for
  ``routing.reroute.inactive_hours`` business hours, move too.

Who chose the assignee: the bridge, when the routing log's last assignment of the request
names the assignee it has now; anything else (an assignee the request came with, or a
1C user's change imported since) is a person's choice and is left alone unless
``routing.reroute.manual_assignments``. ``away`` is a short absence and moves nothing.

Every move is logged (``rerouted``, with the cause) and reaches the CRM through the outbox
(``record.changed``) like any assignment. When nobody can take the request, it stays, and
the log says why once per cause; an assignee who is gone is cleared and the request queued.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from crm_bridge.app import App
from crm_bridge.events import DomainEvent, Unit
from crm_bridge.model import TicketStatus
from crm_bridge.store.records import in_chunks
from crm_bridge.store.tables import CustomerRow, TeamRow, TicketEventRow, TicketRow
from routing.decide import AgentState, Decision, decide, load_of, match_rule
from routing.moves import assign, claim, log_decision, request_facts
from routing.roster import Roster, gone_agents, read_roster
from routing.settings import RoutingConfig, RuleSpec
from routing.tables import RoutingLogRow, RoutingQueueRow
from sla.calendar import Calendar
from sla.due import business_between

__all__ = ["free_time", "gone_agents", "on_sla_warn", "owned_by_bridge", "reroute", "reroute_sweep"]

log = logging.getLogger(__name__)
_OWN = ("assigned", "reassigned", "rerouted")
_OPEN = [s.value for s in TicketStatus if s.is_open]


def free_time(agent: AgentState, calendar: Calendar | None, now: datetime, due: datetime, *, holds: bool) -> timedelta:
    """The agent's working time from `now` to `due` shared by their open requests: the
    time each would get. `holds`: the request is already theirs (counted in their load);
    else it is added. Pure. No calendar: every hour is working time."""
    if due <= now:
        return timedelta(0)
    working = business_between(calendar, now, due) if calendar is not None else due - now
    load = load_of(agent) + (0.0 if holds else 1.0)
    return working / max(load, 1.0)


def owned_by_bridge(session: Session, tickets: Sequence[TicketRow]) -> set[int]:
    """The ids of `tickets` whose assignee the bridge chose (its last assignment in the
    routing log names the assignee the request has now)."""
    assignee = {t.id: t.assignee_id for t in tickets if t.assignee_id is not None}
    last: dict[int, int | None] = {}
    for chunk in in_chunks(list(assignee)):
        for ticket_id, agent_id in session.execute(
                select(RoutingLogRow.ticket_id, RoutingLogRow.agent_id)
                .where(RoutingLogRow.ticket_id.in_(chunk), RoutingLogRow.action.in_(_OWN))
                .order_by(RoutingLogRow.id)):
            last[ticket_id] = agent_id
    return {tid for tid, agent in assignee.items() if tid in last and last[tid] == agent}


def _calendar(app_config: Any, name: str | None) -> Calendar | None:
    return app_config.section("sla").calendar(name) if name is not None else None


def _rule_for(config: RoutingConfig, facts: Any) -> tuple[RuleSpec | None, RuleSpec]:
    """The rule that matches the request, and the rule a move uses: its team, skills and
    languages, least loaded (a move does not advance round robin's rotation)."""
    rule, _ = match_rule(config.rules, facts.facts)
    if rule is None or rule.method == "manual":
        return rule, RuleSpec(name="re-route", method="least_loaded")
    return rule, rule.model_copy(update={"method": "least_loaded"})


def reroute(unit: Unit, ticket: TicketRow, roster: Roster, *, cause: str, due: datetime | None = None,
            gone: bool = False) -> bool:
    """Move `ticket` to another eligible agent (with `due`: the one with the most free time
    before it, and only if more than the current assignee's). True when it moved. `gone`:
    the assignee cannot keep it at all; with nobody to take it, it is cleared and queued."""
    session, config = unit.session, unit.config.section("routing")
    customer = session.get(CustomerRow, ticket.customer_id) if ticket.customer_id else None
    team = session.get(TeamRow, ticket.team_id) if ticket.team_id else None
    facts = request_facts(ticket, customer, team, languages=config.customer_language)
    _, pick = _rule_for(config, facts)
    current = roster.keys.get(ticket.assignee_id or 0)
    exclude = frozenset({current} if current else ())
    while True:
        decision = decide(facts, [pick], roster.pools(), {}, unit.now, exclude=exclude)
        target, why = decision.agent, decision.reason
        if target is not None and due is not None:
            target, why = _most_free(unit.config, roster, decision, current, unit.now, due)
        if target is None or claim(session, roster, target, ticket.type, config, unit.now):
            break
    if target is None:
        _stay(unit, ticket, decision, cause, why, gone=gone)
        return False
    agent_id = roster.states[target].agent_id
    assert agent_id is not None  # never eligible without a CRM user
    assign(unit, ticket, agent_id, team=pick.team, action="rerouted", decision=decision, reason=f"{cause}: {why}")
    roster.took(target, ticket.type)
    if current is not None:
        roster.gave_up(current, ticket.type)
    return True


def _most_free(app_config: Any, roster: Roster, decision: Decision, current: str | None, now: datetime,
               due: datetime) -> tuple[str | None, str]:
    config: RoutingConfig = app_config.section("routing")

    def share(key: str, *, holds: bool) -> timedelta:
        schedule = config.schedule_of(key) if key in config.agents else (
            config.agent_defaults.schedule if config.agent_defaults else None)
        return free_time(roster.states[key], _calendar(app_config, schedule), now, due, holds=holds)

    eligible = [c.key for c in decision.considered if c.excluded is None]
    best = max(eligible, key=lambda k: (share(k, holds=False), -eligible.index(k)))
    mine = share(current, holds=True) if current is not None and current in roster.states else timedelta(0)
    theirs = share(best, holds=False)
    if theirs <= mine:
        return None, f"nobody has more free time before {due.isoformat(timespec='minutes')} than the assignee ({_hours(mine)})"
    return best, f"most free time before the due instant: {_hours(theirs)} per request (the assignee: {_hours(mine)})"


def _hours(value: timedelta) -> str:
    return f"{value.total_seconds() / 3600:.1f} h"


def _stay(unit: Unit, ticket: TicketRow, decision: Decision, cause: str, why: str, *, gone: bool) -> None:
    """Nobody to move the request to: say so once per cause; a gone assignee is cleared."""
    session = unit.session
    if gone:
        previous = ticket.assignee_id
        ticket.assignee_id = None
        unit.publish(DomainEvent("record.changed", "ticket", ticket.id, "routing",
                                 {"fields": {"assignee_id": None}, "why": {"assignee_id": f"routing: {cause}, nobody to take it"}}))
        log_decision(session, ticket.id, unit.now, "unassigned", decision, previous_id=previous,
                     reason=f"{cause}: nobody to take it ({why}); it waits in the queue")
        if session.get(RoutingQueueRow, ticket.id) is None:
            session.add(RoutingQueueRow(ticket_id=ticket.id, queued=unit.now))
        return
    reason = f"{cause}: kept ({why})"
    last = session.scalars(select(RoutingLogRow.reason).where(RoutingLogRow.ticket_id == ticket.id)
                           .order_by(RoutingLogRow.id.desc()).limit(1)).first()
    if last != reason:
        log_decision(session, ticket.id, unit.now, "kept", decision, agent_id=ticket.assignee_id, reason=reason)


def on_sla_warn(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``sla.warn``: re-route a still unanswered request whose rule asks for it."""
    config: RoutingConfig = unit.config.section("routing")
    if not config.enabled or not any(r.reroute_on_warn for r in config.rules):
        return
    session = unit.session
    ticket = session.get(TicketRow, event.local_id)
    if (ticket is None or ticket.deleted or ticket.assignee_id is None or ticket.first_response_at is not None
            or ticket.status not in _OPEN):
        return
    customer = session.get(CustomerRow, ticket.customer_id) if ticket.customer_id else None
    team = session.get(TeamRow, ticket.team_id) if ticket.team_id else None
    rule, _ = _rule_for(config, request_facts(ticket, customer, team, languages=config.customer_language))
    if rule is None or not rule.reroute_on_warn:
        return
    if not config.reroute.manual_assignments and ticket.id not in owned_by_bridge(session, [ticket]):
        return
    metric = str((event.data or {}).get("metric"))
    due = ticket.first_response_due if metric == "first_response" else ticket.resolution_due
    due = due or ticket.resolution_due
    if due is None:
        return
    roster = read_roster(session, unit.config, unit.now)
    reroute(unit, ticket, roster, cause=f"SLA {metric} warning, no first response yet", due=due)


def _why_move(state: AgentState | None, config: RoutingConfig, *, gone: bool) -> str | None:
    if gone:
        return "the assignee was deactivated or deleted in the CRM"
    if state is None or not config.reroute.on_leave_or_offline:
        return None
    if state.status == "offline":
        return "the assignee is offline"
    if state.on_leave_until is not None:
        return f"the assignee is on leave until {state.on_leave_until.isoformat()}"
    return None


def _idle_since(session: Session, ids: Iterable[int]) -> dict[int, datetime]:
    """The last change each request saw: its history (status, priority, assignee, type as
    imported) and the routing log."""
    last: dict[int, datetime] = {}
    for chunk in in_chunks(list(ids)):
        for table in (TicketEventRow, RoutingLogRow):
            for tid, at in session.execute(select(table.ticket_id, func.max(table.at))
                                           .where(table.ticket_id.in_(chunk)).group_by(table.ticket_id)):
                if at is not None and (tid not in last or at > last[tid]):
                    last[tid] = at
    return last


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def reroute_sweep(app: App, now: datetime) -> dict[str, int]:
    """Move the requests whose assignee is gone, offline or on leave, or that sat idle too
    long (part of ``routing.tick``). Returns {"rerouted": n, "unassigned": n}."""
    config: RoutingConfig = app.config.section("routing")
    moved = cleared = 0
    with app.store.transaction() as session:
        roster = read_roster(session, app.config, now)
        gone = gone_agents(session)
        away = {s.agent_id for s in roster.states.values() if s.agent_id is not None and _why_move(s, config, gone=False)}
        conditions: list[ColumnElement[bool]] = [TicketRow.assignee_id.in_(gone | away)] if gone | away else []
        idle_cut = None
        if config.reroute.inactive_hours is not None:
            idle_cut = now - timedelta(hours=config.reroute.inactive_hours)  # business hours ≤ wall-clock hours
            # Only requests untouched since the cut, and (unless people's choices move too)
            # ones the bridge assigned: a backlog of old hand-assigned requests is not read.
            touched = [select(t.ticket_id).where(t.ticket_id == TicketRow.id, t.at > idle_cut).exists()
                       for t in (TicketEventRow, RoutingLogRow)]
            idle_ones = and_(TicketRow.created_at <= idle_cut, ~touched[0], ~touched[1])
            if not config.reroute.manual_assignments:
                idle_ones = and_(idle_ones, select(RoutingLogRow.id).where(
                    RoutingLogRow.ticket_id == TicketRow.id, RoutingLogRow.action.in_(_OWN)).exists())
            conditions.append(idle_ones)
        if not conditions:
            return {"rerouted": 0, "unassigned": 0}
        tickets = list(session.scalars(select(TicketRow).where(
            TicketRow.assignee_id.is_not(None), TicketRow.deleted.is_(False), TicketRow.status.in_(_OPEN),
            or_(*conditions)).order_by(TicketRow.id)))
        if not tickets:
            return {"rerouted": 0, "unassigned": 0}
        owned = owned_by_bridge(session, tickets)
        idle = _idle_since(session, [t.id for t in tickets]) if idle_cut is not None else {}
        calendar = _calendar(app.config, config.reroute.calendar)
        unit = app.bus.unit(session, now, app.config)
        for ticket in tickets:
            assignee = ticket.assignee_id or 0
            is_gone = assignee in gone
            if not is_gone and not config.reroute.manual_assignments and ticket.id not in owned:
                continue  # a person's choice in the CRM is theirs to change
            key = roster.keys.get(assignee)
            cause = _why_move(roster.states.get(key) if key else None, config, gone=is_gone)
            if cause is None and idle_cut is not None:
                since = _aware(max(idle.get(ticket.id, ticket.created_at), ticket.created_at, key=_aware))
                spent = business_between(calendar, since, now) if calendar is not None else now - since
                if spent >= timedelta(hours=config.reroute.inactive_hours or 0):
                    cause = f"no change for {_hours(spent)} (routing.reroute.inactive_hours: {config.reroute.inactive_hours:g})"
            if cause is None:
                continue
            if reroute(unit, ticket, roster, cause=cause, gone=is_gone):
                moved += 1
            elif is_gone:
                cleared += 1
        unit.complete()
    if moved or cleared:
        log.info("re-routed %d requests, cleared %d", moved, cleared, extra={"event": "routing.reroute.sweep"})
    return {"rerouted": moved, "unassigned": cleared}
