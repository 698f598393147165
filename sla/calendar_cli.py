"""``crm-bridge sla calendar``: a configured calendar's year as a wall calendar, to compare
with the official production calendar by eye.

The classification lives in :mod:`sla.year_sheet` (pure); this module only renders it.
"""

from __future__ import annotations

import calendar as wall
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from crm_bridge.cli.common import console, console_err, emit_json, open_app
from crm_bridge.errors import did_you_mean
from sla.timeline import MAX_YEAR, MIN_YEAR

if TYPE_CHECKING:  # imported where used: `crm-bridge sla calendar --help` builds no calendar
    from sla.year_sheet import DayEntry, DayKind, YearSheet

__all__ = ["calendar_app", "sheet_json"]

calendar_app = typer.Typer(help="Business calendars as configured in sla.calendars.\n\n"
                                "Example: crm-bridge sla calendar show office --year 2027",
                           no_args_is_help=True)

# The text mark keeps the grid readable without colour; the style is for a terminal.
_MARKS: dict[DayKind, tuple[str, str]] = {
    "working": ("", ""),
    "shortened": ("*", "yellow"),
    "day_off": ("-", "bold red"),
    "transferred": ("+", "bold cyan"),
}
_LEGEND: dict[DayKind, str] = {
    "working": "working day",
    "shortened": "shortened",
    "day_off": "day off",
    "transferred": "transferred working day (+* also shortened)",
}
_MONTH_WIDTH = 38  # seven 4-character days, their gaps and the gap to the next month
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the days and totals as JSON for scripts.")]


def _hours(seconds: int) -> str:
    return f"{seconds // 3600:,}" if seconds % 3600 == 0 else f"{seconds / 3600:,.2f}"


def _years(years: tuple[int, ...]) -> str:
    """``2023–2026``, ``2024, 2026`` or ``—``."""
    if not years:
        return "—"
    if list(years) == list(range(years[0], years[-1] + 1)) and len(years) > 1:
        return f"{years[0]}–{years[-1]}"
    return ", ".join(str(y) for y in years)


def _short(source: str) -> str:
    """The first clause of a layer's source, cut to fit a table column."""
    first = source.split(";")[0].strip()
    return first if len(first) <= 48 else first[:47] + "…"


def _cell(entry: DayEntry) -> Text:
    mark, style = _MARKS[entry.kind]
    if entry.kind == "transferred" and entry.shortened:
        mark += "*"
    return Text(f"{entry.day.day:>2}{mark:<2}", style=style)


def _month(sheet: YearSheet, month: int) -> Table:
    table = Table(*("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"), title=wall.month_name[month],
                  box=None, pad_edge=False, padding=(0, 1, 0, 0), title_style="bold")
    by_day = {d.day: d for d in sheet.days if d.day.month == month}
    for week in wall.Calendar(firstweekday=0).monthdatescalendar(sheet.year, month):
        table.add_row(*(_cell(by_day[day]) if day in by_day else Text("") for day in week))
    return table


def _render(sheet: YearSheet) -> None:
    console.print(f"[bold]{sheet.calendar}[/bold] — {sheet.year} ({sheet.timezone})")
    grid = Table.grid(padding=(1, 3))
    a_row = max(1, min(3, console.width // _MONTH_WIDTH))  # 3 on a wide terminal, 2 on 80 columns
    for first in range(1, 13, a_row):
        grid.add_row(*(_month(sheet, m) for m in range(first, min(first + a_row, 13))))
    console.print(grid)
    legend = Text("Legend: ")
    for kind, words in _LEGEND.items():
        mark, style = _MARKS[kind]
        legend.append(f"12{mark}", style=style).append(f" {words}   " if kind != "transferred" else f" {words}")
    console.print(legend)
    console.print(
        f"{sheet.year}: {sheet.working_days} working days ({sheet.count('shortened')} shortened, "
        f"{sheet.count('transferred')} transferred), {_hours(sheet.working_seconds)} working hours; "
        f"{sheet.count('day_off')} days off", highlight=False)
    if not sheet.layers:
        console.print("Layers: none (the week pattern only)")
        return
    table = Table("layer", "of calendar", "years", f"covers {sheet.year}", "source",
                  title="Layers, in order (later ones win)")
    for layer in sheet.layers:
        years = _years(layer.years) + ("" if layer.declared else " (its dates)")
        covers = ("yes" if sheet.year in layer.years else "[yellow]no[/yellow]") if layer.declared else "—"
        table.add_row(layer.name, layer.calendar, years, covers, _short(layer.source))
    console.print(table)
    if sheet.uncovered:
        covered = "; ".join(f"{x.name}: {_years(x.years)}" for x in sheet.layers if x.declared)
        console.print(f"[yellow]note:[/yellow] no included data covers {sheet.year} ({covered}): the "
                      "year shows the week without holidays. Include a file for it, e.g. "
                      "{xmlcalendar: " + f"calendars/ru-{sheet.year}.xml}}.", highlight=False)


def sheet_json(sheet: YearSheet) -> dict[str, Any]:
    """The sheet as JSON-ready data: every date with its kind, intervals and hours; totals;
    layers with the years they cover."""
    from sla.layer import format_time

    return {
        "calendar": sheet.calendar, "year": sheet.year, "timezone": sheet.timezone,
        "days": [{"date": d.day.isoformat(), "kind": d.kind, "shortened": d.shortened,
                  "intervals": [f"{format_time(a)}-{format_time(b)}" for a, b in d.intervals],
                  "hours": round(d.seconds / 3600, 4)} for d in sheet.days],
        "totals": {"working_days": sheet.working_days,
                   "working_hours": round(sheet.working_seconds / 3600, 4),
                   **{f"{kind}_days": sheet.count(kind) for kind in ("shortened", "transferred", "day_off")}},
        "layers": [{"name": x.name, "calendar": x.calendar, "years": list(x.years),
                    "years_declared": x.declared, "source": x.source} for x in sheet.layers],
    }


@calendar_app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="A calendar defined under sla.calendars.")],
    year: Annotated[int | None, typer.Option("--year", min=MIN_YEAR + 1, max=MAX_YEAR - 1,
                                             help="The year to show (default: this year).")] = None,
    as_json: JsonOpt = False,  # noqa: FBT002 - typer reads its options from the signature
) -> None:
    """Print a year of a configured calendar as a month grid, Monday first, each day marked
    working, shortened, day off or transferred; then the totals and the layers with the
    years they cover. Compare it with the official production calendar.

    Example: crm-bridge sla calendar show office --year 2027
    """
    from sla.settings import SlaConfig
    from sla.year_sheet import year_sheet

    bridge = open_app()
    try:
        settings: SlaConfig = bridge.config.section("sla")
        source, shown_year = bridge.config.source, year or bridge.clock().year
    finally:
        bridge.close()
    calendars = settings.built_calendars
    if name not in calendars:
        console_err.print(f"[red]no calendar {name!r}[/red] in sla.calendars of {source}."
                          f"{did_you_mean(name, list(calendars))} Defined: {', '.join(calendars)}.",
                          highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    sheet = year_sheet(calendars[name], shown_year)
    if as_json:
        emit_json(sheet_json(sheet))
        return
    _render(sheet)
