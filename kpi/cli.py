"""``crm-bridge kpi``: the KPI report and the per-customer SLA report, on screen or exported.

The figures are computed by ``kpi.queries`` (SQL on the store); this module reads the
options, opens the store, prints a table (``rich``) or writes JSON, CSV and XLSX
(``kpi.export``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from crm_bridge.cli.common import console, console_err, emit_json, open_app

if TYPE_CHECKING:  # imported where used: `crm-bridge kpi --help` loads no SQLAlchemy
    from kpi.export import Column
    from kpi.queries import KpiRow

__all__ = ["kpi_app"]

kpi_app = typer.Typer(help="Support KPIs for a period: times, SLA, backlog, repeats, cost.\n\n"
                           "Example: crm-bridge kpi report --period 2026-11 --by team", no_args_is_help=True)

PeriodOpt = Annotated[str, typer.Option(
    "--period", help="2026-11 (a month), 2026-Q4, 2026, 2026-11-01..2026-11-15 (both days included), last-30d; "
                     "days start at midnight in the configured time zone.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]
CsvOpt = Annotated[str | None, typer.Option("--csv", help="Also write the rows as CSV to FILE ('-': standard output).",
                                            metavar="FILE")]
XlsxOpt = Annotated[Path | None, typer.Option("--xlsx", help="Also write an Excel workbook to FILE.", metavar="FILE")]


def _fail(message: str) -> typer.Exit:
    console_err.print(f"[red]{escape(message)}[/red]", highlight=False)
    return typer.Exit(2)


def _table(title: str, columns: list[Column], rows: list[KpiRow], total: KpiRow | None = None) -> Any:
    from rich.table import Table

    from kpi.export import shown
    table = Table(title=title, title_justify="left", header_style="bold")
    for col in columns:
        table.add_column(col.header, justify="left" if col.kind == "text" else "right", overflow="fold")
    for row in rows:
        table.add_row(*(escape(shown(c.value(row), c.kind)) for c in columns))
    if total is not None:
        table.add_row(*(escape(shown(c.value(total), c.kind)) if i else "[bold]Total[/bold]"
                        for i, c in enumerate(columns)), end_section=True)
    return table


def _files(csv_to: str | None, xlsx: Path | None, sheets: list[tuple[str, list[Column], list[KpiRow]]]) -> None:
    from kpi.export import write_csv, write_xlsx
    if csv_to == "-":
        write_csv(sys.stdout, sheets[0][1], sheets[0][2])
    elif csv_to is not None:
        with Path(csv_to).open("w", encoding="utf-8", newline="") as out:
            write_csv(out, sheets[0][1], sheets[0][2])
        console_err.print(f"wrote {escape(csv_to)}", highlight=False)
    if xlsx is not None:
        write_xlsx(xlsx, sheets)
        console_err.print(f"wrote {escape(str(xlsx))}", highlight=False)


def _csat(bridge: Any) -> Any:
    found = bridge.registry.all("kpi.csat")
    return found[0].obj if found else None


@kpi_app.command("report")
def report(
    period: PeriodOpt,
    by: Annotated[list[str] | None, typer.Option(
        "--by", help="Group by team, agent, customer, type, channel, source, priority, contract or policy "
                     "(repeat it to group by several).")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Only this team (its name).")] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only requests assigned to this agent (name).")] = None,
    kind: Annotated[str | None, typer.Option("--type", help="Only this request type (technical_problem, …).")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="Only this channel (email, phone, chat, …).")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this source (external, internal).")] = None,
    customer: Annotated[str | None, typer.Option("--customer", help="Only this customer (name as in the store).")] = None,
    as_json: JsonOpt = False,
    csv_to: CsvOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Every KPI of a period, grouped and filtered: times, SLA, backlog, repeats, cost.

    Volume by channel and source, first response and resolution times (median, p90; business
    and calendar), SLA compliance per target, backlog and its age, reopen and repeat-contact
    rates, CSAT, cost per request and agent load — computed in SQL on the store.

    Example: crm-bridge kpi report --period 2026-11 --by team --xlsx november.xlsx
    """
    from zoneinfo import ZoneInfo

    from kpi.errors import KpiError
    from kpi.export import kpi_columns, report_json, screen_columns
    from kpi.period import parse_period
    from kpi.queries import Filters, kpi_report

    bridge = open_app()
    try:
        now = bridge.clock()
        try:
            span = parse_period(period, ZoneInfo(bridge.config.timezone), now)
            with bridge.store.transaction() as session:
                found = kpi_report(session, span, now, bridge.config.section("kpi"), by=tuple(by or ()),
                                   filters=Filters(team, agent, kind, channel, source, customer), csat=_csat(bridge))
        except KpiError as exc:
            raise _fail(str(exc)) from None
    finally:
        bridge.close()
    columns = kpi_columns(found.by)
    rows = [*found.rows, found.total] if found.by else [found.total]
    load_cols = [c for c in kpi_columns(("agent",)) if c.header in ("agent", "resolved", "backlog", "hours worked")]
    _files(csv_to, xlsx, [("KPI", columns, rows), ("Agent load", load_cols, found.load)])
    if as_json:
        emit_json(report_json(found))
        return
    if csv_to == "-":
        return
    zone = ZoneInfo(bridge.config.timezone)
    heading = (f"KPIs {found.period.label}: {found.period.start.astimezone(zone):%Y-%m-%d %H:%M} – "
               f"{found.period.end.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}")
    filters = ", ".join(f"{k}={v}" for k, v in found.filters.given().items())
    screen = screen_columns(found.by)
    heading += f" ({filters})" if filters else ""
    console.print(_table(heading, screen, found.rows, found.total) if found.by else _table(heading, screen, rows))
    if found.load and found.by != ("agent",):
        console.print(_table("Agent load: open at the end, resolved and business hours worked in the period",
                             load_cols, found.load))
    for name, counts in found.volume.items():
        console.print(f"Opened by {name}: " + (escape(", ".join(f"{k} {v}" for k, v in sorted(counts.items()))) or "none"),
                      highlight=False)
    notes = [f"repeat contact = same customer, type and subject within {found.repeat_within_days} days, "
             "or a message intake attached as a repeat"]
    if not found.csat:
        notes.append("CSAT: — (no survey source: the csat addon is not installed)")
    notes.append(f"cost in {found.currency}" if found.currency else "cost: — (set kpi.cost.hourly, teams or agents)")
    console.print("; ".join(notes), highlight=False, style="dim")


@kpi_app.command("sla-report")
def sla_report_command(
    period: PeriodOpt,
    customer: Annotated[str | None, typer.Option("--customer", help="Only this customer (name as in the store).")] = None,
    as_json: JsonOpt = False,
    csv_to: CsvOpt = None,
    xlsx: XlsxOpt = None,
) -> None:
    """Each customer's SLA compliance per contract and policy, for account managers.

    Requests opened, first response and resolution targets met of the clocks that ended in
    the period, median resolution time, requests open past their due time.

    Example: crm-bridge kpi sla-report --period 2026-11 --customer "ООО Ромашка" --xlsx sla-november.xlsx
    """
    from zoneinfo import ZoneInfo

    from kpi.errors import KpiError
    from kpi.export import row_json, sla_columns
    from kpi.period import parse_period
    from kpi.queries import SLA_BY, sla_report

    bridge = open_app()
    try:
        now = bridge.clock()
        try:
            span = parse_period(period, ZoneInfo(bridge.config.timezone), now)
            with bridge.store.transaction() as session:
                rows = sla_report(session, span, now, bridge.config.section("kpi"), customer=customer)
        except KpiError as exc:
            raise _fail(str(exc)) from None
    finally:
        bridge.close()
    columns = sla_columns()
    _files(csv_to, xlsx, [("SLA", columns, rows)])
    if as_json:
        emit_json({"period": {"label": span.label, "start": span.start, "end": span.end},
                   "rows": [row_json(r, SLA_BY) for r in rows]})
        return
    if csv_to == "-":
        return
    if not rows:
        console.print(f"No requests in {escape(span.label)}" + (f" for {escape(customer)}" if customer else ""), highlight=False)
        return
    console.print(_table(f"SLA by customer {span.label}", columns, rows))
