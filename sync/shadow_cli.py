"""``crm-bridge shadow report``: the writes a backend in shadow mode would make now.

Other addons add lines to the report's summary through the registry (``usage="shadow.report"``,
a function ``(session, backend | None, since | None) -> list[str]``): notify says how many
customer mails it held.
"""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.markup import escape
from rich.table import Table

from crm_bridge.cli.common import console, console_err, emit_json, open_app
from crm_bridge.errors import did_you_mean

if TYPE_CHECKING:  # imported where used: `crm-bridge shadow --help` loads no SQLAlchemy, no sync engine
    from sync.shadow import ShadowWrite

__all__ = ["format_value", "parse_since", "shadow_app", "summary_line"]

shadow_app = typer.Typer(help="Shadow mode: what a backend with write_back: shadow would write.\n\n"
                              "Example: crm-bridge shadow report --since 2026-12-01", no_args_is_help=True)
WIDTH = 80
JsonOpt = Annotated[bool, typer.Option("--json", help="Print data as JSON for scripts.")]
CsvOpt = Annotated[bool, typer.Option("--csv", help="Print CSV for spreadsheets.")]


def parse_since(text: str, zone: ZoneInfo) -> datetime:
    """``2026-12-01`` (midnight in `zone`) or an ISO instant; naive times are read in `zone`."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        msg = f"--since {text!r}: expected a date like 2026-12-01 or 2026-12-01T09:00"
        raise typer.BadParameter(msg) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)


def format_value(text: str, zone: ZoneInfo, *, short: bool = False) -> str:
    """A value for people: an instant in the configured zone to the minute (`short`: day.month
    hour:minute, for an 80-column table), else as it is."""
    if len(text) >= 19 and text[4:5] == "-" and text[10:11] == "T":
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text
        if moment.tzinfo is not None:
            moment = moment.astimezone(zone)
        return f"{moment:%d.%m %H:%M}" if short else f"{moment:%Y-%m-%d %H:%M}"
    return text


def summary_line(writes: list[ShadowWrite]) -> str:
    """"N writes would be made to M records" in English and Russian."""
    records = len({(w.backend, w.model, w.number) for w in writes})
    n, m = len(writes), records
    return (f"{n} write{'s' if n != 1 else ''} would be made to {m} record{'s' if m != 1 else ''} / "
            f"{_ru(n, 'запись', 'записи', 'записей')} в {_ru(m, 'объект', 'объекта', 'объектов')} CRM")


def _ru(n: int, one: str, few: str, many: str) -> str:
    if n % 10 == 1 and n % 100 != 11:
        return f"{n} {one}"
    if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
        return f"{n} {few}"
    return f"{n} {many}"


def _row(w: ShadowWrite, zone: ZoneInfo) -> dict[str, Any]:
    return {"backend": w.backend, "model": w.model, "number": w.number, "field": w.field,
            "holds": format_value(w.holds_shown, zone), "would_send": format_value(w.sends_shown, zone),
            "holds_value": w.holds, "would_send_value": w.sends, "why": w.why,
            "decided": w.decided.astimezone(zone).isoformat()}


@shadow_app.command("report")
def report(
    since: Annotated[str | None, typer.Option("--since", help="Only decisions taken since this date (2026-12-01).")] = None,
    backend: Annotated[str | None, typer.Option("--backend", help="One backend (default: all).")] = None,
    as_json: JsonOpt = False,  # noqa: FBT002
    as_csv: CsvOpt = False,  # noqa: FBT002
) -> None:
    """The writes switching to write_back: live would make now, with 1C's present values and why.

    Example: crm-bridge shadow report --backend onec --csv > shadow.csv
    """
    from sync.shadow import current_writes, in_shadow

    if as_json and as_csv:
        console_err.print("[red]--json and --csv exclude each other[/red]: choose one")
        raise typer.Exit(2)
    bridge = open_app()
    try:
        zone = ZoneInfo(bridge.config.timezone)
        if backend is not None and backend not in bridge.config.backends:
            known = list(bridge.config.backends)
            console_err.print(f"[red]no backend {escape(repr(backend))}[/red].{escape(did_you_mean(backend, known))} "
                              f"Defined: {', '.join(known)}", highlight=False)
            raise typer.Exit(2)
        start = parse_since(since, zone) if since else None
        with bridge.store.transaction() as session:
            writes = current_writes(session, backend=backend, since=start)
            extra: list[str] = []
            for part in bridge.registry.all("shadow.report"):
                extra += part.obj(session, backend, start)
        shadowed = [name for name in bridge.config.backends if in_shadow(bridge.config, name)]
    finally:
        bridge.close()
    rows = [_row(w, zone) for w in writes]
    if as_json:
        emit_json({"summary": summary_line(writes), "writes": len(writes),
                   "records": len({(w.backend, w.model, w.number) for w in writes}),
                   "shadow_backends": shadowed, "notes": extra, "rows": rows})
        return
    if as_csv:
        out = csv.writer(sys.stdout)
        out.writerow(["backend", "crm_number", "field", "crm_holds", "would_send", "why", "decided"])
        for r in rows:
            out.writerow([r["backend"], r["number"], r["field"], r["holds"], r["would_send"], r["why"], r["decided"]])
        return
    width = min(console.width, WIDTH)
    if rows:
        console.print(_table(writes, zone), width=width)
    console.print(summary_line(writes), width=width)
    for line in extra:
        console.print(line, width=width, highlight=False)
    if not shadowed:
        console.print("no backend is in shadow mode (write_back: shadow) / ни один backend не в теневом режиме",
                      width=width)


def _table(writes: list[ShadowWrite], zone: ZoneInfo) -> Table:
    """80 columns without cutting a word: instants as day.month hour:minute, the record's
    number once per record, "when" beside "why" (both wrap at words)."""
    table = Table("CRM number", "field", "1C holds", "would send", "when · why", box=None, pad_edge=False,
                  header_style="bold underline", title="Shadow mode: writes that would be made / что было бы записано")
    for column in table.columns[:2]:
        column.no_wrap = True
    for column in table.columns[2:4]:  # names and dates wrap at spaces; "when · why" takes the rest
        column.max_width = 14
    ordered = sorted(writes, key=lambda w: (w.backend, w.number))  # stable: a record's fields in decision order
    for index, w in enumerate(ordered):
        first = index == 0 or (ordered[index - 1].backend, ordered[index - 1].number) != (w.backend, w.number)
        last = index == len(ordered) - 1 or (ordered[index + 1].backend, ordered[index + 1].number) != (w.backend, w.number)
        table.add_row(w.number if first else "", w.field, format_value(w.holds_shown, zone, short=True),
                      format_value(w.sends_shown, zone, short=True),
                      f"{w.decided.astimezone(zone):%d.%m %H:%M} · {w.why}", end_section=last)
    return table
