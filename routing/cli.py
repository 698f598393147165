"""``crm-bridge routing``: why a request went to whom, the agents' load and shifts, an
agent's availability, and a replay of past requests under proposed rules. People see CRM numbers and users' names, never local ids."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from crm_bridge.cli.common import console, console_err, emit_json, open_app
from crm_bridge.errors import did_you_mean

if TYPE_CHECKING:  # imported where used: `crm-bridge routing --help` loads no SQLAlchemy, no engine
    from routing.decide import Decision

__all__ = ["routing_app"]

routing_app = typer.Typer(help="Who gets which request and why; agents' load and availability.\n\n"
                               "Example: crm-bridge routing explain CRM-0000042", no_args_is_help=True)
agent_app = typer.Typer(help="One agent: set their availability.\n\nExample: crm-bridge routing agent set-status "
                             "'Иванова Мария Петровна' away", no_args_is_help=True)
routing_app.add_typer(agent_app, name="agent")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]


class Availability(StrEnum):
    available = "available"
    away = "away"
    offline = "offline"


def _considered(decision: Decision) -> list[dict[str, Any]]:
    return [{"key": c.key, "name": c.name, "excluded": c.excluded, "load": c.load, "why": c.why} for c in decision.considered]


def _logged(data: dict[str, Any]) -> dict[str, Any]:
    """A routing_log row's data as explain shows it: the considered agents as dicts, however stored."""
    from routing.moves import considered_of

    if "considered_packed" not in data:
        return data
    return {("considered" if k == "considered_packed" else k): (considered_of(data) if k == "considered_packed" else v)
            for k, v in data.items()}  # in place: the same order as the dicts were stored in


def _local(value: datetime | None, zone: ZoneInfo) -> str | None:
    return value.astimezone(zone).isoformat(timespec="minutes") if value is not None else None


@routing_app.command("explain")
def explain(
    number: Annotated[str | None, typer.Argument(help="The request's number as the CRM shows it (CRM-0000042).")] = None,
    local_id: Annotated[int | None, typer.Option("--id", help="The store's local id instead of a number.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Why a request has its assignee: the rule that matched, who was eligible, who was
    excluded and why (off shift until 14:00, at capacity 8/8, on leave, missing skill), and
    why the chosen agent won — as recorded when it was decided, and as it would be decided now.

    Example: crm-bridge routing explain CRM-0000042 --json
    """
    from sqlalchemy import select

    from crm_bridge.store.tables import AgentRow, CustomerRow, TeamRow
    from routing.decide import decide
    from routing.language import language_of
    from routing.moves import request_facts
    from routing.roster import last_agents, read_roster
    from routing.tables import RoutingCreditRow, RoutingLogRow, RoutingPointerRow
    from sla.cli import find_request

    bridge = open_app()
    try:
        zone, now = ZoneInfo(bridge.config.timezone), bridge.clock()
        config = bridge.config.section("routing")
        with bridge.store.transaction() as s:
            row, _ = find_request(s, number, local_id, zone)
            names = {a.id: a.name for a in s.execute(select(AgentRow.id, AgentRow.name))}
            history = [{"at": _local(e.at, zone), "action": e.action, "rule": e.rule, "agent": names.get(e.agent_id or 0),
                        "previous": names.get(e.previous_id or 0), "reason": e.reason, **_logged(e.data)}
                       for e in s.scalars(select(RoutingLogRow).where(RoutingLogRow.ticket_id == row.id)
                                          .order_by(RoutingLogRow.id))]
            customer = s.get(CustomerRow, row.customer_id) if row.customer_id else None
            team = s.get(TeamRow, row.team_id) if row.team_id else None
            roster = read_roster(s, bridge.config, now)
            pointers = {p.rule: p.position for p in s.scalars(select(RoutingPointerRow))}
            current = roster.keys.get(row.assignee_id or 0)
            last = last_agents(s, [row.customer_id], roster.keys).get(row.customer_id or 0) if row.customer_id else None
            facts = request_facts(row, customer, team, languages=config.customer_language, last_agent=last)
            credits: dict[str, dict[str, float]] = {}
            for c in s.scalars(select(RoutingCreditRow)):
                credits.setdefault(c.rule, {})[c.agent] = c.credit
            decision = decide(facts, config.rules, roster.pools(), pointers, now,
                              exclude=frozenset({current} if current else ()), credits=credits)
            language, source = language_of(row.tags or (), customer.segment if customer else None, config.customer_language)
            story = {"request": {"number": row.number, "type": row.type, "priority": row.priority, "status": row.status,
                                 "assignee": names.get(row.assignee_id or 0), "team": team.name if team else None,
                                 "language": language, "language_from": source,
                                 "co_executors": [names.get(i, str(i)) for i in row.co_executors or []]},
                     "history": history,
                     "now": {"at": _local(now, zone), "outcome": decision.outcome, "rule": decision.rule,
                             "agent": decision.agent, "reason": decision.reason,
                             "rules_checked": [list(r) for r in decision.rules_checked],
                             "considered": _considered(decision)}}
    finally:
        bridge.close()
    if as_json:
        emit_json(story)
        return
    _render(story)


def _render(story: dict[str, Any]) -> None:
    request = story["request"]
    console.print(f"[bold]{escape(request['number'])}[/bold]  {request['type']}, {request['priority']}, {request['status']}; "
                  f"assignee: {escape(request['assignee'] or 'nobody')}"
                  + (f", team {escape(request['team'])}" if request["team"] else "")
                  + (f"; language {request['language']} ({escape(request['language_from'])})" if request.get("language") else "")
                  + (f"; co-executors: {escape(', '.join(request['co_executors']))}" if request.get("co_executors") else ""),
                  highlight=False)
    if not story["history"]:
        console.print("Routing has not decided on this request yet.", highlight=False)
    for entry in story["history"]:
        who = f" → {escape(entry['agent'])}" if entry["agent"] else ""
        rule = f" by rule {escape(repr(entry['rule']))}" if entry["rule"] else ""
        console.print(f"{entry['at']}  {entry['action']}{who}{rule}: {escape(entry['reason'])}", highlight=False)
        if entry.get("co_considered"):  # co-executors by skill (routing.coexecutors): who was added and why not the others
            _table(f"Co-executors ({entry['at']})", [], entry["co_considered"])
    last = next((e for e in reversed(story["history"]) if e.get("considered")), None)
    if last is not None:
        _table(f"When it was decided ({last['at']})", last.get("rules_checked", []), last["considered"])
    now = story["now"]
    title = f"Now ({now['at']}): {now['outcome']}" + (f" → {now['agent']}" if now["agent"] else "") + f": {now['reason']}"
    _table(title, now["rules_checked"], now["considered"])


def _table(title: str, skipped: list[list[str]], considered: list[dict[str, Any]]) -> None:
    for rule, why in skipped:
        console.print(f"  rule {escape(repr(rule))} did not match: {escape(why)}", highlight=False)
    table = Table("agent", "load", "eligible", "why", title=escape(title), title_justify="left")
    for c in considered:
        verdict = "[green]winner[/green]" if c["why"] else ("[red]no[/red]" if c["excluded"] else "yes")
        table.add_row(escape(c["name"]), f"{c['load']:g}", verdict, escape(c["why"] or c["excluded"] or ""))
    console.print(table)


@routing_app.command("agents")
def agents(as_json: JsonOpt = False) -> None:
    """Every routable agent: load against capacity, availability, on shift now, leave.

    Example: crm-bridge routing agents --json
    """
    from routing.decide import load_of
    from routing.roster import read_roster

    bridge = open_app()
    try:
        zone, now = ZoneInfo(bridge.config.timezone), bridge.clock()
        with bridge.store.transaction() as s:
            roster = read_roster(s, bridge.config, now)
    finally:
        bridge.close()
    rows: list[dict[str, Any]] = [{"agent": a.name, "key": a.key, "known_in_crm": a.agent_id is not None, "active": a.active,
             "load": load_of(a), "capacity": a.capacity.max, "status": a.status, "on_shift": a.off_shift_until is None,
             "off_shift_until": _local(a.off_shift_until, zone),
             "on_leave_until": a.on_leave_until.isoformat() if a.on_leave_until else None,
             "teams": [t for t, keys in roster.teams.items() if t is not None and a.key in keys]}
            for a in roster.states.values()]
    if as_json:
        emit_json({"at": _local(now, zone), "agents": rows})
        return
    if not rows:
        console.print("No routable agents: list them under routing.agents, or set routing.agent_defaults.", highlight=False)
        return
    table = Table("agent", "load", "status", "shift", "leave", "teams")
    for r in rows:
        shift = "on shift" if r["on_shift"] else f"off until {r['off_shift_until']}"
        status = r["status"] if r["known_in_crm"] and r["active"] else ("not in the CRM" if not r["known_in_crm"] else "deactivated")
        table.add_row(escape(r["agent"]), f"{r['load']:g}/{r['capacity']}", status, shift, r["on_leave_until"] or "",
                      escape(", ".join(r["teams"])))
    console.print(table)


@agent_app.command("set-status")
def set_status(
    name: Annotated[str, typer.Argument(help="The agent's name or e-mail as synced from the CRM.")],
    status: Annotated[Availability, typer.Argument(help="available, away or offline.")],
    as_json: JsonOpt = False,
) -> None:
    """Set an agent's availability: away or offline agents get no new requests.

    Example: crm-bridge routing agent set-status 'Иванова Мария Петровна' away
    """
    from sqlalchemy import select

    from crm_bridge.store.tables import AgentRow
    from routing.tables import RoutingAgentRow

    bridge = open_app()
    try:
        now = bridge.clock()
        with bridge.store.transaction() as s:
            found = s.scalars(select(AgentRow).where((AgentRow.name == name) | (AgentRow.email == name))).first()
            if found is None:
                known = list(s.scalars(select(AgentRow.name).order_by(AgentRow.name)))
                console_err.print(f"[red]no agent {escape(repr(name))}[/red] among the CRM's users.{escape(did_you_mean(name, known))}"
                                  " Run crm-bridge routing agents to list them.", highlight=False)
                raise typer.Exit(1)
            row = s.get(RoutingAgentRow, found.id)
            if row is None:
                s.add(RoutingAgentRow(agent_id=found.id, status=status.value, since=now))
            elif row.status != status.value:
                row.status, row.since = status.value, now
            agent = found.name
    finally:
        bridge.close()
    if as_json:
        emit_json({"agent": agent, "status": status.value})
    else:
        console.print(f"{escape(agent)}: {status.value}", highlight=False)


@routing_app.command("simulate")
def simulate_command(
    start: Annotated[datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day of the window (local).")],
    end: Annotated[datetime, typer.Option("--to", formats=["%Y-%m-%d"], help="Last day of the window, included.")],
    rules: Annotated[Path | None, typer.Option("--rules", help="A YAML file with proposed `rules:` "
                                                                "(default: the configured ones).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay the requests created in a window under the current (or proposed) rules and
    the agents' schedules: load per agent, queue waits and predicted SLA compliance beside
    what actually happened. Reads only; assumes the work took as long as it did.

    Example: crm-bridge routing simulate --from 2026-11-01 --to 2026-11-30 --rules other.yaml
    """
    from routing.replay import proposed_rules, replay
    from routing.simulate_view import render_simulation, simulation_report

    bridge = open_app()
    try:
        zone = ZoneInfo(bridge.config.timezone)
        first, last = start.replace(tzinfo=zone), (end + timedelta(days=1)).replace(tzinfo=zone)
        if last <= first:
            console_err.print(f"[red]--to {end.date()} is before --from {start.date()}[/red]: swap them", highlight=False)
            raise typer.Exit(2)
        config = bridge.config.section("routing")
        proposed = proposed_rules(rules, config) if rules is not None else None
        with bridge.store.transaction() as s:
            result, count = replay(s, bridge.config, first, last, rules=proposed)
    finally:
        bridge.close()
    report = simulation_report(result, count, first.date(), end.date(), str(rules) if rules else None)
    if as_json:
        emit_json({**report, "requests": [{
            "number": r.number, "agent": result.names.get(r.agent, r.agent) if r.agent else None, "outcome": r.outcome,
            "assigned_at": _local(r.assigned_at, zone), "wait_minutes": round(r.wait.total_seconds() / 60, 1) if r.wait else
            (0.0 if r.wait is not None else None), "first_response_met": r.first_response, "resolution_met": r.resolution,
            "actual_agent": result.names.get(r.actual_agent, r.actual_agent) if r.actual_agent else None,
            "actual_first_response_met": r.actual_first_response, "actual_resolution_met": r.actual_resolution}
            for r in result.requests]})
        return
    for line in render_simulation(report):
        console.print(escape(line), highlight=False, soft_wrap=True)
