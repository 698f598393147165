"""``crm-bridge csat``: the satisfaction report of a month, and a survey sent now (for testing).
People see the CRM's numbers, never local ids."""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from crm_bridge.cli.common import console, console_err, emit_json, open_app

__all__ = ["csat_app"]

csat_app = typer.Typer(help="Satisfaction surveys: report scores, send one now.\n\n"
                            "Example: crm-bridge csat report --period 2026-11 --by team", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


@csat_app.command("report")
def report(
    period: Annotated[str, typer.Option("--period", help="The month, YYYY-MM (in the configuration's time zone).")],
    by: Annotated[str | None, typer.Option("--by", help="Group by team or agent.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Surveys sent in PERIOD, the share answered, the mean score and the distribution.

    Example: crm-bridge csat report --period 2026-11 --by agent --json
    """
    from crm_bridge.errors import did_you_mean
    from csat.report import BY, csat_summary, period_bounds

    if by is not None and by not in BY:
        console_err.print(f"[red]--by {escape(repr(by))}[/red]:{escape(did_you_mean(by, BY))} group by one of "
                          f"{', '.join(BY)}", highlight=False)
        raise typer.Exit(2)
    bridge = open_app()
    try:
        try:
            start, end = period_bounds(period, bridge.config.timezone)
        except ValueError as exc:
            console_err.print(f"[red]{escape(str(exc))}[/red]", highlight=False)
            raise typer.Exit(2) from exc
        with bridge.store.transaction() as s:
            rows = csat_summary(s, start, end, by=by)
    finally:
        bridge.close()
    if as_json:
        emit_json({"period": period, "by": by, "start": start, "end": end, "groups": rows})
        return
    if not rows:
        console.print(f"No survey was sent in {period}.")
        return
    table = Table(title=f"CSAT {period}" + (f" by {by}" if by else ""))
    for title in ([by.capitalize()] if by else []) + ["Sent", "Rated", "Response", "Score", "Satisfied", "1", "2", "3", "4", "5"]:
        table.add_column(title, justify="left" if title in ("Team", "Agent") else "right")
    for row in rows:
        cells: list[Any] = [row["group"] or f"(no {by})"] if by else []
        cells += [row["sent"], row["rated"], _pct(row["response_rate"]),
                  "—" if row["score"] is None else f"{row['score']:.2f}", _pct(row["satisfied"]),
                  *row["distribution"].values()]
        table.add_row(*(str(c) for c in cells))
    console.print(table)


@csat_app.command("send")
def send(
    number: Annotated[str, typer.Argument(help="The request's number as the CRM shows it (CRM-0000042).")],
    as_json: JsonOpt = False,
) -> None:
    """Send the survey of a resolved request now, whatever the delay and the per-contact cap
    (for testing a template or the page); the mail goes with the next notify dispatch.

    Example: crm-bridge csat send CRM-0000042
    """
    from csat.planner import send_now
    from sla.cli import find_request

    bridge = open_app()
    try:
        with bridge.store.transaction() as s:
            ticket, _ = find_request(s, number, None, ZoneInfo(bridge.config.timezone))
            ticket_id, shown = ticket.id, ticket.number
        try:
            result = send_now(bridge, ticket_id, bridge.clock())
        except ValueError as exc:
            console_err.print(f"[red]{escape(shown)}: {escape(str(exc))}[/red]", highlight=False)
            raise typer.Exit(1) from exc
    finally:
        bridge.close()
    if as_json:
        emit_json({"request": shown, **result})
        return
    console.print(f"{shown}: {result['what']}. Rating link: {result['url']}", highlight=False, soft_wrap=True)
