"""Co-executors (1C: Соисполнители): specialists a rule adds beside the assignee.

A rule asks for them by skill::

    rules:
      - name: payroll questions
        match: {tags: [payroll]}
        method: least_loaded
        co_executors: [{skill: 1c-payroll, min_level: 2, count: 1}]

``choose_co_executors`` is pure, like ``decide``: among every configured agent (a
specialist is often in another team than the request's), the eligible ones with the
skill at ``min_level`` or above — not the assignee, not already a co-executor — ranked by
skill level, then load, then the configuration's order.

Capacity: co-executing is **not counted as load**. The assignee carries the request;
a co-executor consults on it, and counting it would push the few specialists a skill has
to capacity and stop them being assigned their own requests. A co-executor must still
be eligible now as an assignee would be (known to the CRM, active, capacity above 0,
available, not on leave, on shift, and under capacity for a request of this type), so an
overloaded specialist is not pulled in.

``add_co_executors`` is the edge: it appends the chosen agents to the request's
``co_executors``, hands the whole list to the sync outbox (a PATCH replaces 1C's whole
section) and records the choice in ``routing_log`` for ``routing explain``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_bridge.events import DomainEvent, Unit
from crm_bridge.store.tables import TicketRow
from routing.decide import (  # one eligibility rule for both
    AgentState,
    Considered,
    _excluded,
    load_of,
)
from routing.moves import log_decision
from routing.roster import Roster
from routing.settings import CoExecutorSpec, RuleSpec

__all__ = ["CoExecutors", "add_co_executors", "choose_co_executors"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CoExecutors:
    """Who was added (agent keys, in the order asked), every agent considered with why
    not, and one line saying what was asked and what was found."""

    chosen: tuple[str, ...]
    considered: tuple[Considered, ...]
    reason: str


def _why_not(agent: AgentState, want: CoExecutorSpec, request_type: str, now: datetime) -> str | None:
    has = agent.skills.get(want.skill, 0)
    if has < want.min_level:
        return f"missing skill {want.skill} {want.min_level} (has {has})" if has else f"missing skill {want.skill}"
    return _excluded(agent, None, request_type, now)


def choose_co_executors(rule: RuleSpec, pool: Sequence[AgentState], request_type: str, now: datetime, *,
                        assignee: str | None, already: frozenset[int] = frozenset()) -> CoExecutors:
    """The co-executors `rule` adds to a request of `request_type`. Pure.

    Args:
        pool: every configured agent, in configuration order (ties go to it).
        assignee: the assignee's key: never their own co-executor.
        already: agent ids that are co-executors already (a 1C user added them): kept,
            counted towards the rule's ``count`` when they have the skill, never added twice.
    """
    chosen: list[str] = []
    considered: dict[str, Considered] = {}
    lines: list[str] = []
    for want in rule.co_executors:
        held = [a for a in pool if a.agent_id in already and a.skills.get(want.skill, 0) >= want.min_level]
        missing = want.count - len(held)
        eligible: list[tuple[int, AgentState]] = []
        for position, agent in enumerate(pool):
            if agent.key == assignee:
                why: str | None = "the assignee"
            elif agent.agent_id in already:
                why = "already a co-executor"
            elif agent.key in chosen:
                why = "chosen for another skill"
            else:
                why = _why_not(agent, want, request_type, now)
            if why is None:
                eligible.append((position, agent))
            elif agent.key not in considered or considered[agent.key].excluded is not None:
                considered[agent.key] = Considered(agent.key, agent.name, why, load_of(agent))
        ranked = sorted(eligible, key=lambda p: (-p[1].skills.get(want.skill, 0), load_of(p[1]), p[0]))
        picked = [a for _, a in ranked[:max(missing, 0)]]
        for agent in picked:
            chosen.append(agent.key)
            considered[agent.key] = Considered(agent.key, agent.name, None, load_of(agent),
                                               f"co-executor for {want.skill}: level {agent.skills.get(want.skill, 0)}, "
                                               f"load {load_of(agent):g}")
        for _, agent in ranked[max(missing, 0):]:  # eligible, not needed: shown as such, whatever another skill said
            if agent.key not in considered or considered[agent.key].excluded is not None:
                considered[agent.key] = Considered(agent.key, agent.name, None, load_of(agent))
        asked = f"{want.count} × {want.skill} ≥ {want.min_level}"
        if missing <= 0:
            lines.append(f"{asked}: already there")
        elif len(picked) < missing:
            lines.append(f"{asked}: {len(picked)} eligible" + (f" ({', '.join(a.name for a in picked)})" if picked else ""))
        else:
            lines.append(f"{asked}: {', '.join(a.name for a in picked)}")
    order = {a.key: i for i, a in enumerate(pool)}
    return CoExecutors(tuple(chosen), tuple(sorted(considered.values(), key=lambda c: order.get(c.key, 0))), "; ".join(lines))


def add_co_executors(unit: Unit, ticket: TicketRow, rule: RuleSpec, roster: Roster, assignee: str | None,
                     now: datetime) -> CoExecutors | None:
    """Add `rule`'s co-executors to `ticket` (just assigned to `assignee`), write the whole
    list back through the outbox and log the choice. None when the rule asks for none."""
    if not rule.co_executors:
        return None

    existing = [int(i) for i in ticket.co_executors or []]
    result = choose_co_executors(rule, roster.pools().get(None, []), ticket.type, now, assignee=assignee,
                                 already=frozenset(existing))
    added = [roster.states[k].agent_id for k in result.chosen]
    data: dict[str, Any] = {"co_considered": [{"key": c.key, "name": c.name, "excluded": c.excluded, "load": c.load,
                                               "why": c.why} for c in result.considered],
                            "co_executors": [roster.states[k].name for k in result.chosen]}
    if added:
        ticket.co_executors = [*existing, *(i for i in added if i is not None)]
        unit.publish(DomainEvent("record.changed", "ticket", ticket.id, "routing",
                                 {"fields": {"co_executors": list(ticket.co_executors)},
                                  "why": {"co_executors": f"routing: co-executors {', '.join(result.chosen)}"}}))
        log.info("request %s: co-executors %s added", ticket.number, ", ".join(result.chosen),
                 extra={"event": "routing.co_executors"})
    log_decision(unit.session, ticket.id, now, "co_executors", None, reason=result.reason, data={**data, "rule": rule.name})
    return result
