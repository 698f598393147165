"""``crm-bridge sla``: the policies, the requests by due time, one request's story, replay
after an edit. The commands read the store and the clock; what they show is built by
``sla.views``, ``sla.explain`` and ``sla.listing``. People see CRM numbers, never local ids.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape

from crm_bridge.cli.common import console, console_err, emit_json, open_app

if TYPE_CHECKING:  # imported where used: `crm-bridge sla --help` loads no SQLAlchemy, no pydantic
    from sqlalchemy.orm import Session

    from crm_bridge.store.tables import TicketRow

__all__ = ["sla_app"]

sla_app = typer.Typer(help="SLA policies, due dates and the ledger.\n\nExample: crm-bridge sla explain CRM-0000042", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]
_NEWEST = 5


def _print(*renderables: Any) -> None:
    for renderable in renderables:
        console.print(renderable, highlight=False)


# -- finding a request by what a person types ------------------------------------------
def _unknown(session: Session, what: str, zone: tzinfo) -> NoReturn:
    """Say that `what` names no request, list the newest ones (by creation), exit 1."""
    from sqlalchemy import select

    from crm_bridge.store.tables import TicketRow
    newest = session.execute(select(TicketRow.number, TicketRow.created_at, TicketRow.subject)
                             .where(TicketRow.deleted.is_(False))
                             .order_by(TicketRow.created_at.desc(), TicketRow.number.desc()).limit(_NEWEST)).all()
    from sla.views import format_instant, shorten

    example = newest[0].number if newest else "CRM-0000042"
    console_err.print(f"[red]no request {escape(repr(what))}[/red]: give its number as the CRM shows it "
                      f"(e.g. {escape(example)}), or a local id with --id", highlight=False)
    if newest:
        console_err.print("The newest requests:", highlight=False)
        for r in newest:
            console_err.print(f"  {escape(r.number)}  opened {format_instant(r.created_at, zone)}  "
                              f"{escape(shorten(r.subject or '', 50))}", highlight=False)
    else:
        console_err.print("The store holds no requests yet: run crm-bridge run --once to import them.", highlight=False)
    raise typer.Exit(1)


def find_request(session: Session, number: str | None, local_id: int | None, zone: tzinfo) -> tuple[TicketRow, str | None]:
    """The request `number` names — exactly, else (digits only) the one request whose
    number has those digits (``292`` → ``CRM-0000292``) — or the one with `local_id`.
    Returns it and, when the digits were matched, what was typed. Exits 1 with the
    newest requests when nothing matches, and with the candidates when several do."""
    from sqlalchemy import select

    from crm_bridge.store.tables import TicketRow
    if local_id is not None and number is not None:
        console_err.print("[red]give a number or --id, not both[/red]", highlight=False)
        raise typer.Exit(2)
    if local_id is not None:
        row = session.get(TicketRow, local_id)
        return (row, None) if row is not None else _unknown(session, f"--id {local_id}", zone)
    if number is None:
        console_err.print("[red]which request?[/red] give its number (crm-bridge sla explain CRM-0000042) or --id")
        raise typer.Exit(2)
    row = session.scalars(select(TicketRow).where(TicketRow.number == number).order_by(TicketRow.id)).first()
    if row is not None:
        return row, None
    if number.isdigit():
        suffix = number.lstrip("0") or "0"
        found = [r for r in session.scalars(select(TicketRow).where(TicketRow.number.like(f"%{suffix}")))
                 if re.sub(r"\D", "", r.number) and int(re.sub(r"\D", "", r.number)) == int(number)]
        if len(found) == 1:
            return found[0], number
        if found:
            console_err.print(f"[red]{len(found)} requests have the number {number}[/red]: "
                              f"{escape(', '.join(sorted(r.number for r in found)))}; give the whole number", highlight=False)
            raise typer.Exit(1)
    return _unknown(session, number, zone)


# -- commands --------------------------------------------------------------------------
@sla_app.command("explain")
def explain(
    number: Annotated[str | None, typer.Argument(
        help="The request's number as the CRM shows it (CRM-0000292); its digits alone (292) "
             "when exactly one request has them.")] = None,
    local_id: Annotated[int | None, typer.Option("--id", help="The store's local id instead of a number.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Tell the story of a request's SLA: which policy matched and why, the targets, each
    clock's used time, due time and the working periods it counted, and the ledger.

    Example: crm-bridge sla explain CRM-0000042
    """
    from sqlalchemy import func, select

    from crm_bridge.model import Priority
    from sla.clock import evaluate
    from sla.engine import facts_for
    from sla.explain import cycle_view, render_explain
    from sla.ledger import expand
    from sla.policy import METRICS, match_policy
    from sla.settings import SlaConfig
    from sla.tables import SlaEventRow
    from sla.views import calendar_zone

    bridge = open_app()
    try:
        settings: SlaConfig = bridge.config.section("sla")
        default_zone = ZoneInfo(bridge.config.timezone)
        now = bridge.clock()
        with bridge.store.transaction() as s:
            row, typed = find_request(s, number, local_id, default_zone)
            facts = facts_for(bridge.bus.unit(s, now, bridge.config), row)
            evaluation = evaluate(facts, settings.policies, settings.calendar, now)
            matched, verdicts = match_policy(settings.policies, facts.initial, facts.created_at)
            generation = s.scalar(select(func.max(SlaEventRow.generation)).where(SlaEventRow.ticket_id == row.id)) or 1
            ledger = [{"at": e.at, "generation": e.generation, "metric": e.metric, "cycle": e.cycle, "kind": e.kind,
                       "business": e.business_seconds, "calendar": e.calendar_seconds, "data": e.data}
                      for e in expand(s.scalars(select(SlaEventRow).where(SlaEventRow.ticket_id == row.id)
                                              .order_by(SlaEventRow.id)))]
            request = {"number": row.number, "subject": row.subject, "type": row.type, "priority": row.priority,
                       "channel": row.channel, "status": row.status, "opened": row.created_at, "now": now}
    finally:
        bridge.close()
    policies: list[dict[str, Any]] = [{"order": i + 1, "name": v.policy.name, "matched": v.matched, "reason": v.reason}
                                      for i, v in enumerate(verdicts)]
    policies += [{"order": len(verdicts) + i + 1, "name": p.name, "matched": False,
                  "reason": "not evaluated: an earlier policy matched"} for i, p in enumerate(settings.policies[len(verdicts):])]
    targets = {} if matched is None else {
        m: (t.total_seconds() if (t := matched.targets.for_priority(m, Priority(row.priority))) else None) for m in METRICS}
    story = {"request": request, "resolved_from": typed, "policies": policies,
             "policy": matched.name if matched else None, "calendar": matched.calendar if matched else None,
             "targets": targets, "ledger_generation": generation, "ledger": ledger,
             "cycles": [cycle_view(c, evaluation.events, facts, settings.calendar, now) for c in evaluation.cycles]}
    if as_json:
        if typed:
            console_err.print(f"{typed} is {row.number}, the only request with that number", highlight=False)
        emit_json(story)
        return
    zone = calendar_zone(settings.calendar(matched.calendar), default_zone) if matched else default_zone
    _print(*render_explain(story, zone))


@sla_app.command("policies")
def policies(as_json: JsonOpt = False) -> None:
    """The policies in the order they are tried: what each applies to, its targets in
    business time on its calendar, warning, escalations, the statuses that pause, meet and
    stop its clocks, and when it is valid.

    Example: crm-bridge sla policies --json
    """
    from sla.settings import SlaConfig
    from sla.views import policy_view, render_policies

    bridge = open_app()
    try:
        settings: SlaConfig = bridge.config.section("sla")
        today = bridge.clock().astimezone(ZoneInfo(bridge.config.timezone)).date()
    finally:
        bridge.close()
    views = [policy_view(i, p, today) for i, p in enumerate(settings.policies, start=1)]
    if as_json:
        emit_json(views)
        return
    _print(*render_policies(views))


@sla_app.command("list")
def list_command(
    state: Annotated[list[str] | None, typer.Option(
        "--state", help="The request's SLA state (its resolution clock): on_track, warning, breached, paused, "
                        "met, missed, cancelled, stopped (repeat it or separate with commas).")] = None,
    breached: Annotated[bool, typer.Option(
        "--breached", help="Only requests with any clock breached (a late first response too).")] = False,
    due_before: Annotated[str | None, typer.Option(
        "--due-before", help="Due before a date or time in the configured zone (2026-12-31 is its midnight, "
                             "'31.12.2026 18:00'), or a time from now (2h, 1d).")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Team name.")] = None,
    assignee: Annotated[str | None, typer.Option("--assignee", help="Agent's name or e-mail.")] = None,
    include_closed: Annotated[bool, typer.Option("--all", help="Finished requests too (implied by --state).")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many rows.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Open requests by their nearest due time (first response while it is pending, else
    resolution), soonest first, with the time left or overdue in business time.

    Example: crm-bridge sla list --state warning --state breached --team L2 --due-before 2h
    """
    from sla.listing import DueFilter, UnknownName, due_list, parse_due_before, states_given
    from sla.settings import SlaConfig
    from sla.views import render_due_list

    bridge = open_app()
    try:
        settings: SlaConfig = bridge.config.section("sla")
        zone = ZoneInfo(bridge.config.timezone)
        now: datetime = bridge.clock()
        try:
            states = states_given(state or [])
            before = parse_due_before(due_before, zone, now) if due_before is not None else None
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        wanted = DueFilter(states, breached=breached, due_before=before, team=team, assignee=assignee,
                           include_closed=include_closed, limit=limit)
        with bridge.store.transaction() as s:
            try:
                rows = due_list(s, settings, now, wanted)
            except UnknownName as exc:
                raise typer.BadParameter(str(exc)) from exc
    finally:
        bridge.close()
    if as_json:
        emit_json(rows)
        return
    _print(render_due_list(rows, zone, now, limit=limit, width=console.width))


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
