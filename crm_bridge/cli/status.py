"""``crm-bridge status``: every addon's section (``crm_bridge.status``), and an exit code
a monitoring check can page on."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from crm_bridge.cli.common import console, emit_json, open_app
from crm_bridge.status import NEEDS_A_PERSON, Section, collect

__all__ = ["status"]

WIDTH = 80  # the table never grows wider than a classic terminal


def status(as_json: Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")] = False) -> None:
    """Last runs, lag, outboxes, conflicts, records set aside, SLA clocks, calendar data,
    routing queues and mails — the same in embedded and in worker mode.

    Exits 1 when something needs a person (a failed last run, parked rows or mails, open
    conflicts, quarantined records, held deletions, calendar data run out), printing each
    reason with the command that acts on it; 0 otherwise.

    Example: crm-bridge -c crm-bridge.yaml status --json
    """
    bridge = open_app()
    try:
        now = bridge.clock()
        sections = collect(bridge, now)
        zone = bridge.config.timezone
    finally:
        bridge.close()
    problems = [p for section in sections for p in section.problems]
    if as_json:
        emit_json(_as_json(now, sections))
    else:
        _render(now, zone, sections)
    if problems:
        raise typer.Exit(NEEDS_A_PERSON)


def _as_json(now: Any, sections: list[Section]) -> dict[str, Any]:
    data: dict[str, Any] = {"now": now, "ok": not any(s.problems for s in sections)}
    for section in sections:
        data[section.name] = section.data
    data["backends"] = data.get("sync", {}).get("backends", [])  # the shape scripts read before sections
    data["problems"] = [{"section": s.name, **p.as_dict()} for s in sections for p in s.problems]
    return data


def _render(now: Any, zone: str, sections: list[Section]) -> None:
    from zoneinfo import ZoneInfo

    width = min(console.width, WIDTH)
    local = now.astimezone(ZoneInfo(zone))
    table = Table("", "", title=f"crm-bridge status at {local:%Y-%m-%d %H:%M} ({zone})", show_header=False,
                  width=width, show_lines=False)
    for section in sections:
        table.add_row(f"[bold]{escape(section.title)}[/bold]", "")
        for label, text in section.lines:
            table.add_row(f"  {escape(label)}", escape(text))
    console.print(table, width=width)
    problems = [p for s in sections for p in s.problems]
    if not problems:
        console.print("nothing needs a person", width=width)
        return
    console.print(f"[red]{len(problems)} thing(s) need a person:[/red]", width=width)
    for p in problems:
        console.print(f"[red]✗[/red] {escape(p.reason)}", width=width)
        console.print(f"  → {escape(p.command)}", width=width, soft_wrap=False)
