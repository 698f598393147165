"""Acting on the SLA addon's escalations (``sla.escalate`` events, data: metric, cycle,
at, level, action, team), in the SLA tick's transaction:

* ``reassign`` — to the least loaded eligible agent of the escalation's team other than
  the current assignee; when nobody is eligible, to the team's lead; else the request
  stays where it is and the log says why;
* ``raise_priority`` — one step up (low → normal → high → urgent), written back through
  the outbox like any decision;
* ``notify_supervisor`` — recorded in the routing log (the notify addon will deliver it).
"""

from __future__ import annotations

import logging

from crm_bridge.events import DomainEvent, Unit
from crm_bridge.model import Priority, TicketStatus
from crm_bridge.store.tables import CustomerRow, TeamRow, TicketRow
from routing.decide import decide
from routing.moves import assign, claim, log_decision, request_facts
from routing.roster import read_roster
from routing.settings import RuleSpec

__all__ = ["on_sla_escalate", "raised"]

log = logging.getLogger(__name__)
_LADDER = [p.value for p in Priority]  # low, normal, high, urgent


def raised(priority: str) -> str:
    """One step up the ladder; urgent stays urgent."""
    index = _LADDER.index(priority) if priority in _LADDER else 1
    return _LADDER[min(index + 1, len(_LADDER) - 1)]


def action_of(data: dict[str, object]) -> str:
    return str(data.get("action"))


def on_sla_escalate(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``sla.escalate``: carry out the escalation's action."""
    session = unit.session
    ticket = session.get(TicketRow, event.local_id)
    if ticket is None or ticket.deleted:
        return
    data = event.data or {}
    if action_of(data) in ("reassign", "raise_priority") and not TicketStatus(ticket.status).is_open:
        # A breach the SLA engine finds in a closed request's past (its first plan after an
        # import) is history: nobody is to take it over now, nor to hurry.
        return
    action, level = str(data.get("action")), data.get("level")
    cause = f"SLA {data.get('metric')} escalation level {level}"
    if action == "notify_supervisor":
        log_decision(session, ticket.id, unit.now, "notify_supervisor", None, agent_id=ticket.assignee_id,
                     reason=f"{cause}: the supervisor is to be told", data={"sla": _plain(data)})
    elif action == "raise_priority":
        new = raised(ticket.priority)
        if new != ticket.priority:
            old, ticket.priority = ticket.priority, new
            why = {"priority": f"{cause}: priority {old} -> {new}"}
            unit.publish(DomainEvent("record.changed", "ticket", ticket.id, "routing", {"fields": {"priority": new}, "why": why}))
            log_decision(session, ticket.id, unit.now, "raise_priority", None, agent_id=ticket.assignee_id,
                         reason=f"{cause}: priority {old} -> {new}", data={"sla": _plain(data)})
    elif action == "reassign" and unit.config.section("routing").enabled:
        _reassign(unit, ticket, data.get("team"), cause)


def _reassign(unit: Unit, ticket: TicketRow, team: object, cause: str) -> None:
    session, config = unit.session, unit.config.section("routing")
    team_name = str(team) if team else None
    roster = read_roster(session, unit.config, unit.now)
    current = roster.keys.get(ticket.assignee_id or 0)
    rule = RuleSpec(name=f"escalation to {team_name or 'any team'}", team=team_name if team_name in config.teams else None,
                    method="least_loaded")
    customer = session.get(CustomerRow, ticket.customer_id) if ticket.customer_id else None
    current_team = session.get(TeamRow, ticket.team_id) if ticket.team_id else None
    facts = request_facts(ticket, customer, current_team, languages=config.customer_language)  # speakers only
    while True:
        decision = decide(facts, [rule], roster.pools(), {}, unit.now, exclude=frozenset({current} if current else ()))
        if decision.agent is None or claim(session, roster, decision.agent, ticket.type, config, unit.now):
            break
    target, why = decision.agent, f"{cause}: {decision.reason}"
    lead = roster.leads.get(team_name or "")
    if target is None and lead is not None and lead != current and roster.states[lead].agent_id is not None:
        target, why = lead, f"{cause}: {decision.reason}; to the team lead"
    agent_id = roster.states[target].agent_id if target is not None else None
    if agent_id is None:
        log_decision(session, ticket.id, unit.now, "reassign_failed", decision, agent_id=ticket.assignee_id,
                     reason=f"{cause}: nobody to reassign to ({decision.reason})")
        log.warning("request %s: escalation found nobody to reassign to: %s", ticket.number, decision.reason,
                    extra={"event": "routing.reassign.failed", "number": ticket.number, "local_id": ticket.id})
        return
    assign(unit, ticket, agent_id, team=rule.team, action="reassigned", decision=decision, reason=why)


def _plain(data: dict[str, object]) -> dict[str, object]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items()}
