"""``crm-bridge sla``: explain a request's due dates, list the policies, replay after an edit."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from sqlalchemy import func, select

from crm_bridge.cli.common import console, console_err, emit_json, open_app
from crm_bridge.model import Priority

__all__ = ["sla_app"]

sla_app = typer.Typer(help="SLA policies, due dates and the ledger.\n\nExample: crm-bridge sla explain CRM-0000042", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]


def _hours(value: timedelta | float) -> str:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    sign, seconds = ("-" if seconds < 0 else ""), abs(int(seconds))
    return f"{sign}{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def _when(value: datetime | None, zone: ZoneInfo) -> str:
    return "—" if value is None else value.astimezone(zone).strftime("%a %d.%m.%Y %H:%M")


@sla_app.command("explain")
def explain(
    ticket: Annotated[str, typer.Argument(help="Request number (as in the CRM) or local id.")],
    as_json: JsonOpt = False,
) -> None:
    """Tell the story of a request's SLA: which policy matched and why, the targets, the due
    dates with the calendar periods counted, and the ledger.

    Example: crm-bridge sla explain CRM-0000042
    """
    from crm_bridge.store.tables import TicketRow
    from sla.due import working_periods
    from sla.engine import facts_for
    from sla.policy import METRICS, match_policy
    from sla.settings import SlaConfig
    from sla.tables import SlaEventRow

    bridge = open_app()
    try:
        settings: SlaConfig = bridge.config.section("sla")
        now = bridge.clock()
        with bridge.store.transaction() as s:
            row = s.scalars(select(TicketRow).where(TicketRow.number == ticket)).first()
            if row is None and ticket.isdigit():
                row = s.get(TicketRow, int(ticket))
            if row is None:
                newest = list(s.scalars(select(TicketRow.number).where(TicketRow.number.is_not(None))
                                        .order_by(TicketRow.id.desc()).limit(3)))
                known = f"; the newest are {', '.join(newest)}" if newest else "; the store holds no requests yet"
                console_err.print(f"[red]no request {ticket!r}[/red] (give its number as the CRM shows it, or the local id{known})",
                                  highlight=False)
                raise typer.Exit(1)
            unit = bridge.bus.unit(s, now, bridge.config)
            facts = facts_for(unit, row)
            from sla.clock import evaluate

            evaluation = evaluate(facts, settings.policies, settings.calendar, now)
            matched, verdicts = match_policy(settings.policies, facts.initial, facts.created_at)
            generation = s.scalar(select(func.max(SlaEventRow.generation)).where(SlaEventRow.ticket_id == row.id)) or 1
            ledger = [
                {"at": e.at, "generation": e.generation, "metric": e.metric, "cycle": e.cycle, "kind": e.kind,
                 "business": e.business_seconds, "calendar": e.calendar_seconds, "data": e.data}
                for e in s.scalars(select(SlaEventRow).where(SlaEventRow.ticket_id == row.id).order_by(SlaEventRow.id))
            ]
            header = {"number": row.number, "type": row.type, "priority": row.priority, "channel": row.channel,
                      "status": row.status, "opened": row.created_at, "now": now}
    finally:
        bridge.close()
    cycles: list[dict[str, Any]] = []
    for cyc in evaluation.cycles:
        calendar = settings.calendar(cyc.calendar)
        end = cyc.ended_at or (min(now, cyc.due) if cyc.due else now)
        counted = working_periods(calendar, cyc.start, end)
        cycles.append({"metric": cyc.metric, "cycle": cyc.index, "policy": cyc.policy, "calendar": cyc.calendar,
                       "start": cyc.start, "target": cyc.target.total_seconds(), "used": cyc.used.total_seconds(),
                       "due": cyc.due, "state": cyc.state, "ended_at": cyc.ended_at,
                       "periods": [[a, b] for a, b in counted]})
    policies: list[dict[str, Any]] = [{"order": i + 1, "name": v.policy.name, "matched": v.matched, "reason": v.reason}
                for i, v in enumerate(verdicts)]
    policies += [{"order": len(verdicts) + i + 1, "name": p.name, "matched": False, "reason": "not evaluated: an earlier policy matched"}
                 for i, p in enumerate(settings.policies[len(verdicts):])]
    targets = {} if matched is None else {m: (t.total_seconds() if (t := matched.targets.for_priority(m, Priority(header["priority"]))) else None)
                                          for m in METRICS}
    if as_json:
        emit_json({"request": header, "policies": policies, "policy": matched.name if matched else None,
                   "calendar": matched.calendar if matched else None, "targets": targets, "cycles": cycles,
                   "ledger_generation": generation, "ledger": ledger})
        return
    zone: ZoneInfo | None = getattr(settings.calendar(matched.calendar), "zone", None) if matched is not None else None
    if zone is None:
        zone = ZoneInfo(bridge.config.timezone)
    console.print(f"[bold]{header['number']}[/bold] {header['type']}, priority {header['priority']}, {header['channel']}, "
                  f"status {header['status']}; opened {_when(header['opened'], zone)}; now {_when(now, zone)} ({zone.key})")
    table = Table("#", "policy", "", "why", title="Policies, in order (first match wins)")
    for p in policies:
        table.add_row(str(p["order"]), p["name"], "[green]matched[/green]" if p["matched"] else "[dim]no[/dim]", p["reason"])
    console.print(table)
    if matched is None:
        console.print("[yellow]no policy matched: this request has no SLA[/yellow]")
        return
    console.print("Targets on calendar [bold]" + matched.calendar + "[/bold]: " + ", ".join(
        f"{m.replace('_', ' ')} {_hours(v)}" for m, v in targets.items() if v is not None))
    for shown_cycle in cycles:
        c = shown_cycle
        periods = c["periods"]
        shown = "; ".join(f"{a.astimezone(zone):%d.%m %H:%M}–{b.astimezone(zone):%H:%M}" for a, b in periods[:12])
        more = f" … and {len(periods) - 12} more" if len(periods) > 12 else ""
        console.print(f"\n[bold]{c['metric'].replace('_', ' ')}[/bold] #{c['cycle']} ({c['policy']}): {c['state']}; "
                      f"started {_when(c['start'], zone)}, target {_hours(c['target'])}, used {_hours(c['used'])}, "
                      f"due [bold]{_when(c['due'], zone)}[/bold]" + (f", ended {_when(c['ended_at'], zone)}" if c["ended_at"] else ""))
        console.print(f"  counted: {shown or 'no working time yet'}{more}")
    table = Table("when", "gen", "metric", "#", "event", "used", "details", title="Ledger")
    for e in ledger:
        details = ", ".join(f"{k}={v}" for k, v in e["data"].items() if k not in ("target_seconds", "previous_target_seconds"))
        table.add_row(_when(e["at"], zone), str(e["generation"]), e["metric"], str(e["cycle"]), e["kind"], _hours(e["business"]), details)
    console.print(table)


@sla_app.command("policies")
def policies(as_json: JsonOpt = False) -> None:
    """The policies in the order they are tried, with their targets and calendars.

    Example: crm-bridge sla policies --json
    """
    from sla.settings import SlaConfig

    bridge = open_app()
    try:
        settings: SlaConfig = bridge.config.section("sla")
    finally:
        bridge.close()
    rows = [p.model_dump(mode="json", by_alias=True, exclude_defaults=True) for p in settings.policies]
    if as_json:
        emit_json(rows)
        return
    table = Table("#", "name", "match", "calendar", "targets", title="SLA policies (first match wins)")
    for i, p in enumerate(settings.policies, start=1):
        match = ", ".join(f"{k}: {v}" for k, v in p.match.model_dump(exclude_none=True).items()) or "every request"
        targets = ", ".join(f"{k}: {v}" for k, v in p.targets.model_dump(exclude_none=True, mode="json").items())
        table.add_row(str(i), p.name, match, p.calendar, targets)
    console.print(table)


@sla_app.command("recalc")
def recalc_command(
    include_closed: Annotated[bool, typer.Option("--all", help="Replay closed requests too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Replay requests after a policy or calendar edit; changed due dates are written back.
    The ledger keeps the old story and records the recalculation.

    Example: crm-bridge sla recalc
    """
    from sla.engine import recalc

    bridge = open_app()
    try:
        result = recalc(bridge, bridge.clock(), include_closed=include_closed)
    finally:
        bridge.close()
    emit_json(result) if as_json else console.print(f"replayed {result['replayed']} requests; {result['changed']} changed")


from sla.calendar_cli import calendar_app  # noqa: E402  (the sub-group sits beside these commands)

sla_app.add_typer(calendar_app, name="calendar")
