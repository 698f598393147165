"""Where ``routing simulate`` meets the store: read a window's requests and the agents'
schedules, hand them to the pure replay (``routing.simulate``). Reads only: nothing is
written, no pointer or credit moves.

A proposed rules file (``--rules other.yaml``) holds ``rules:`` as written under
``routing.rules``; it is checked against this configuration's teams, agents, skills and
languages, and a problem is reported at its line in that file.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_bridge.config import validate_document
from crm_bridge.errors import ConfigError
from crm_bridge.store.records import rows_by_id
from crm_bridge.store.tables import AgentRow, CustomerRow, TeamRow, TicketRow
from crm_bridge.yamlfile import load_yaml
from routing.moves import request_facts
from routing.roster import file_leaves, read_roster
from routing.settings import RoutingConfig, RuleSpec
from routing.simulate import PastRequest, Simulation, simulate
from routing.tables import RoutingLogRow
from sla.due import is_working, next_working_instant

__all__ = ["proposed_rules", "replay"]


def proposed_rules(path: Path, config: RoutingConfig) -> list[RuleSpec]:
    """The rules of `path`, checked as if they replaced ``routing.rules``."""
    doc = load_yaml(path, create_with="a file holding `rules:` as under routing.rules")
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get("rules"), list):
        msg = f"{doc.file}:1:1: the file must hold `rules:`, a list written as under routing.rules"
        raise ConfigError(msg)
    current = config.model_dump(mode="json", by_alias=True, exclude={"rules"})
    checked = validate_document(doc, RoutingConfig, {**current, "rules": doc.data["rules"]})
    return list(checked.rules)


def _assigned_at(session: Session, ids: Sequence[int]) -> dict[int, datetime]:
    query = (select(RoutingLogRow.ticket_id, func.min(RoutingLogRow.at))
             .where(RoutingLogRow.ticket_id.in_(list(ids)), RoutingLogRow.action == "assigned")
             .group_by(RoutingLogRow.ticket_id))
    return {int(tid): at for tid, at in session.execute(query)}


def replay(session: Session, app_config: Any, start: datetime, end: datetime, *,
           rules: Sequence[RuleSpec] | None = None) -> tuple[Simulation, int]:
    """Replay the requests created in [`start`, `end`) (aware) under `rules` (default: the
    configured ones). Returns the simulation and how many requests it replayed."""
    config: RoutingConfig = app_config.section("routing")
    zone = ZoneInfo(app_config.timezone)
    tickets = list(session.scalars(select(TicketRow).where(
        TicketRow.created_at >= start, TicketRow.created_at < end, TicketRow.deleted.is_(False)).order_by(TicketRow.id)))
    customers = rows_by_id(session, CustomerRow, {t.customer_id for t in tickets})
    teams = rows_by_id(session, TeamRow, {t.team_id for t in tickets})
    roster = read_roster(session, app_config, end)
    names = {r.id: r.name for r in session.execute(select(AgentRow.id, AgentRow.name))}
    assigned = _assigned_at(session, [t.id for t in tickets])
    past = [PastRequest(
        facts=request_facts(t, customers.get(t.customer_id or 0), teams.get(t.team_id or 0), languages=config.customer_language),
        created_at=t.created_at, priority=t.priority, customer=t.customer_id,
        actual_agent=(roster.keys.get(t.assignee_id) or names.get(t.assignee_id)) if t.assignee_id else None,
        assigned_at=assigned.get(t.id), first_response_at=t.first_response_at, first_response_due=t.first_response_due,
        done_at=t.resolved_at or t.closed_at, resolution_due=t.resolution_due) for t in tickets]
    shift, leave = _schedules(session, app_config, config, roster.states, roster.keys, zone)
    result = simulate(past, rules if rules is not None else config.rules, list(roster.states.values()), roster.teams,
                      shift=shift, leave=leave, end=end)
    return result, len(past)


def _schedules(session: Session, app_config: Any, config: RoutingConfig, states: dict[str, Any], keys: dict[int, str],
               zone: ZoneInfo) -> tuple[Any, Any]:
    """The agents' shift and leave as functions of (key, instant), today's configuration
    applied to the past (``routing.simulate``'s assumptions)."""
    sla = app_config.section("sla")
    calendars: dict[str, str] = {}
    for key in states:
        name = config.schedule_of(key) if key in config.agents else (
            config.agent_defaults.schedule if config.agent_defaults is not None else None)
        if name is not None:
            calendars[key] = name
    emails = {keys[r.id]: (r.name, r.email) for r in session.execute(select(AgentRow.id, AgentRow.name, AgentRow.email))
              if r.id in keys}
    imported = file_leaves(config, zone) if config.time_off_files else []
    spans: dict[str, list[tuple[date, date]]] = {}
    for key in states:
        spec = config.agents.get(key) or config.agent_defaults
        found = [(s.from_, s.to) for s in spec.time_off] if spec is not None else []
        wanted = {n.lower() for n in (key, *emails.get(key, (None, None))) if n}
        found += [(t.from_, t.to) for t in imported if t.agent.lower() in wanted]
        spans[key] = found

    answers: dict[tuple[str, datetime], datetime | None] = {}  # agents share calendars: ask each once per instant

    def shift(key: str, instant: datetime) -> datetime | None:
        name = calendars.get(key)
        if name is None:
            return None
        found = answers.get((name, instant), instant)
        if found is instant:
            if len(answers) > 1000:
                answers.clear()
            local = instant.astimezone(zone)
            calendar = sla.calendar(name)
            found = answers[(name, instant)] = None if is_working(calendar, local) else next_working_instant(calendar, local)
        return found

    def leave(key: str, instant: datetime) -> date | None:
        held = spans.get(key)
        if not held:
            return None
        today = instant.astimezone(zone).date()
        return max((end for begin, end in held if begin <= today <= end), default=None)

    return shift, leave
