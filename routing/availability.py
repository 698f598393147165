"""Who can take a request now, per team (for ``crm-bridge status``): each team's agents,
what waits, and — when a team queues because nobody can take anything — why and since when.

    rows, problems = status_section(bridge)
    rows[0]      # {"team": "L1", "agents": 3, "eligible": 0, "queued": 4, "why": "2 off shift, 1 on leave",
                 #  "since": "2026-11-23T18:00+03:00"}
    problems[0]  # "team L1: 4 requests wait since 2026-11-23 18:00: nobody can take them (2 off shift, 1 on leave) …"

"Since" is the moment the last of the team's agents became unavailable: the end of their
last shift, the first day of their leave, the change of their status; when one of them is
only at capacity it is unknown (None). The status command formats; this module reads.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_bridge.store.records import rows_by_id
from crm_bridge.store.tables import CustomerRow, TeamRow, TicketRow
from routing.decide import AgentState, load_of, match_rule
from routing.moves import request_facts
from routing.roster import Roster, read_roster
from routing.settings import RoutingConfig
from routing.tables import RoutingAgentRow, RoutingQueueRow
from sla.due import working_periods

__all__ = ["status_section"]

_LOOK_BACK = timedelta(days=14)  # how far back the end of a shift is looked for


def _why_not(agent: AgentState) -> str | None:
    """The lasting reason an agent takes nothing now (None: they could, load permitting)."""
    if agent.agent_id is None:
        return "not in the CRM"
    if not agent.active:
        return "deactivated"
    if agent.capacity.max == 0:
        return "capacity 0"
    if agent.status != "available":
        return agent.status
    if agent.on_leave_until is not None:
        return "on leave"
    if agent.off_shift_until is not None:
        return "off shift"
    if load_of(agent) + 1 > agent.capacity.max:
        return "at capacity"
    return None


def _since(agent: AgentState, why: str, app_config: Any, statuses: dict[int, datetime], now: datetime) -> datetime | None:
    config: RoutingConfig = app_config.section("routing")
    zone = ZoneInfo(app_config.timezone)
    if why in ("away", "offline") and agent.agent_id is not None:
        return statuses.get(agent.agent_id)
    if why == "on leave":  # the roster's leave: the configuration's and the time_off_files'
        return datetime.combine(agent.on_leave_from, time(0), zone) if agent.on_leave_from is not None else None
    if why == "off shift":
        schedule = config.schedule_of(agent.key) if agent.key in config.agents else (
            config.agent_defaults.schedule if config.agent_defaults else None)
        if schedule is None:
            return None
        periods = working_periods(app_config.section("sla").calendar(schedule), now.astimezone(zone) - _LOOK_BACK, now)
        return periods[-1][1] if periods else None
    return None


def _queued_by_team(session: Session, config: RoutingConfig) -> Counter[str | None]:
    """The waiting requests per team of the rule that matches them (None: the rule names no team)."""
    waiting = list(session.scalars(select(RoutingQueueRow.ticket_id)))
    tickets = rows_by_id(session, TicketRow, waiting)
    customers = rows_by_id(session, CustomerRow, {t.customer_id for t in tickets.values()})
    teams = rows_by_id(session, TeamRow, {t.team_id for t in tickets.values()})
    counts: Counter[str | None] = Counter()
    for ticket in tickets.values():
        facts = request_facts(ticket, customers.get(ticket.customer_id or 0), teams.get(ticket.team_id or 0),
                              languages=config.customer_language)
        rule, _ = match_rule(config.rules, facts.facts)
        if rule is not None and rule.method != "manual":
            counts[rule.team] += 1
    return counts


def _row(team: str | None, roster: Roster, queued: int, app_config: Any, statuses: dict[int, datetime],
         now: datetime) -> dict[str, Any]:
    agents = [roster.states[k] for k in roster.teams.get(team, [])]
    reasons = {a.key: _why_not(a) for a in agents}
    eligible = sum(r is None for r in reasons.values())
    row: dict[str, Any] = {"team": team or "(all agents)", "agents": len(agents), "eligible": eligible, "queued": queued,
                           "why": None, "since": None}
    if agents and eligible == 0:
        tally = Counter(r for r in reasons.values() if r is not None)
        row["why"] = ", ".join(f"{n} {why}" for why, n in tally.most_common())
        sinces = [_since(a, str(reasons[a.key]), app_config, statuses, now) for a in agents]
        if all(s is not None for s in sinces):
            row["since"] = max(s for s in sinces if s is not None).astimezone(ZoneInfo(app_config.timezone))
    elif not agents:
        row["why"] = "no agents"
    return row


def status_section(bridge: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Routing's rows for ``crm-bridge status`` (one per team; the agents routed without a
    team as "(all agents)") and its problems: a team with requests waiting and nobody who
    can take one, with why and since when (aware datetimes in ``since``; None: unknown).
    ``([], [])`` when routing is off."""
    config: RoutingConfig = bridge.config.section("routing")
    if not config.enabled:
        return [], []
    now = bridge.clock()
    with bridge.store.transaction() as session:
        roster = read_roster(session, bridge.config, now)
        statuses = {r.agent_id: r.since for r in session.scalars(select(RoutingAgentRow))}
        queued = _queued_by_team(session, config)
    named = list(config.teams)
    if not named or None in queued or any(r.team is None for r in config.rules):
        named = [*named, None]  # type: ignore[list-item]
    rows = [_row(team, roster, queued.get(team, 0), bridge.config, statuses, now) for team in named]
    problems = []
    for row in rows:
        if row["queued"] and row["why"]:
            since = f" since {row['since']:%Y-%m-%d %H:%M}" if row["since"] else ""
            problems.append(f"team {row['team']}: {row['queued']} requests wait{since}: nobody can take them ({row['why']}) / "
                            f"команда {row['team']}: {row['queued']} обращений ждут, взять некому; "
                            "see crm-bridge routing agents")
    return rows, problems
