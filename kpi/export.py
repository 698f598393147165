"""KPI rows as people and spreadsheets read them: a table's columns, JSON, CSV and XLSX.

One list of columns serves every form: the terminal shows durations as ``5h 20m`` and
shares as ``93%``; CSV and XLSX carry numbers (hours, fractions — XLSX formats them as
``0.0`` and ``0%``), so a spreadsheet can sum and chart them. Empty figures are "—" on
screen, empty cells in files, ``null`` in JSON.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kpi.figures import METRICS, KpiReport, KpiRow, Times

__all__ = ["Column", "duration", "kpi_columns", "report_json", "row_json", "screen_columns", "shown", "sla_columns", "to_cells", "write_csv", "write_xlsx"]

NONE = "—"


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[KpiRow], Any]
    kind: str = "n"  # n (count), dur (seconds), pct (fraction), money, hours, score, text; dur2 (screen only)


def _times(title: str, get: Callable[[KpiRow], Times]) -> list[Column]:
    return [Column(f"{title} median (business)", lambda r: get(r).business_median, "dur"),
            Column(f"{title} p90 (business)", lambda r: get(r).business_p90, "dur"),
            Column(f"{title} median (calendar)", lambda r: get(r).calendar_median, "dur"),
            Column(f"{title} p90 (calendar)", lambda r: get(r).calendar_p90, "dur")]


def _key(by: Sequence[str]) -> list[Column]:
    def part(i: int) -> Callable[[KpiRow], str]:
        return lambda r: r.key[i]

    return [Column(name, part(i), "text") for i, name in enumerate(by)] or [Column("", part(0), "text")]


def _sla(metric: str) -> Callable[[KpiRow], float | None]:
    return lambda r: r.sla[metric].share if metric in r.sla else None


def kpi_columns(by: Sequence[str]) -> list[Column]:
    """Every column of ``kpi report`` grouped by `by`."""
    return [*_key(by),
            Column("opened", lambda r: r.created), Column("resolved", lambda r: r.resolved),
            *_times("first response", lambda r: r.first_response), *_times("resolution", lambda r: r.resolution),
            *(Column(f"SLA {m.replace('_', ' ')}", _sla(m), "pct") for m in METRICS),
            Column("backlog", lambda r: r.backlog), Column("backlog age median", lambda r: r.backlog_age_median, "dur"),
            Column("backlog age p90", lambda r: r.backlog_age_p90, "dur"),
            Column("reopen rate", lambda r: r.reopen_rate, "pct"), Column("repeat rate", lambda r: r.repeat_rate, "pct"),
            Column("CSAT", lambda r: r.csat_score, "score"), Column("CSAT responses", lambda r: r.csat_response_rate, "pct"),
            Column("hours worked", lambda r: r.worked_hours, "hours"),
            Column("cost per request", lambda r: r.cost_per_request, "money")]


def screen_columns(by: Sequence[str]) -> list[Column]:
    """The terminal's narrower table: each time cell holds business time over calendar time."""
    def both(get: Callable[[KpiRow], Times], which: str) -> Callable[[KpiRow], tuple[float | None, float | None]]:
        return lambda r: (getattr(get(r), f"business_{which}"), getattr(get(r), f"calendar_{which}"))

    return [*_key(by), Column("opened", lambda r: r.created), Column("resolved", lambda r: r.resolved),
            Column("1st response\nmedian\nbus / cal", both(lambda r: r.first_response, "median"), "dur2"),
            Column("1st response\np90\nbus / cal", both(lambda r: r.first_response, "p90"), "dur2"),
            Column("MTTR\nmedian\nbus / cal", both(lambda r: r.resolution, "median"), "dur2"),
            Column("MTTR\np90\nbus / cal", both(lambda r: r.resolution, "p90"), "dur2"),
            *(Column(f"SLA\n{m.replace('_', ' ')}", _sla(m), "pct") for m in METRICS),
            Column("backlog", lambda r: r.backlog), Column("backlog\nage\nmedian", lambda r: r.backlog_age_median, "dur"),
            Column("reopen\nrate", lambda r: r.reopen_rate, "pct"), Column("repeat\nrate", lambda r: r.repeat_rate, "pct"),
            Column("CSAT", lambda r: r.csat_score, "score"),
            Column("cost\nper\nrequest", lambda r: r.cost_per_request, "money")]


def sla_columns() -> list[Column]:
    """The columns of ``kpi sla-report``."""
    def ended(m: str) -> Callable[[KpiRow], int]:
        return lambda r: r.sla[m].ended if m in r.sla else 0

    def met(m: str) -> Callable[[KpiRow], int]:
        return lambda r: r.sla[m].met if m in r.sla else 0

    cols = [*_key(("customer", "contract", "policy")), Column("opened", lambda r: r.created)]
    for m in METRICS:
        title = m.replace("_", " ")
        cols += [Column(f"{title} ended", ended(m)), Column(f"{title} met", met(m)), Column(f"{title} SLA", _sla(m), "pct")]
    return [*cols, Column("resolution median (business)", lambda r: r.resolution.business_median, "dur"),
            Column("open past due", lambda r: r.breached_open)]


def duration(seconds: float | None) -> str:
    """``45m``, ``5h 20m``, ``3d 4h`` (days of 24 h)."""
    if seconds is None:
        return NONE
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def shown(value: Any, kind: str) -> str:
    """A cell for the terminal."""
    if value is None:
        return NONE
    if kind == "dur2":
        return f"{duration(value[0])}\n{duration(value[1])}"
    if kind == "dur":
        return duration(value)
    if kind == "pct":
        return f"{value:.0%}" if value in (0, 1) else f"{value:.1%}"
    if kind in ("money", "hours"):
        return f"{value:,.0f}" if kind == "money" else f"{value:,.1f}"
    if kind == "score":
        return f"{value:.2f}"
    return str(value)


def to_cells(columns: Sequence[Column], row: KpiRow) -> list[Any]:
    """A row for files: durations in hours, shares as fractions, rounded; None stays None."""
    out: list[Any] = []
    for col in columns:
        value = col.value(row)
        if value is not None and col.kind == "dur":
            value = round(value / 3600, 2)
        elif value is not None and col.kind in ("pct", "score"):
            value = round(value, 4)
        elif value is not None and col.kind in ("money", "hours"):
            value = round(value, 2)
        out.append(value)
    return out


def _file_header(col: Column) -> str:
    return f"{col.header} (h)" if col.kind == "dur" else col.header


def write_csv(out: IO[str], columns: Sequence[Column], rows: Sequence[KpiRow]) -> None:
    writer = csv.writer(out)
    writer.writerow([_file_header(c) for c in columns])
    for row in rows:
        writer.writerow(["" if v is None else v for v in to_cells(columns, row)])


_FORMATS = {"dur": "0.00", "pct": "0.0%", "money": "#,##0.00", "hours": "0.0", "score": "0.00"}


def write_xlsx(path: Path, sheets: Sequence[tuple[str, Sequence[Column], Sequence[KpiRow]]]) -> None:
    """One sheet per (title, columns, rows); a bold, frozen header row; numbers as numbers."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    for title, columns, rows in sheets:
        sheet = book.create_sheet(title[:31])
        sheet.append([_file_header(c) for c in columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        for row in rows:
            sheet.append(to_cells(columns, row))
        for i, col in enumerate(columns, start=1):
            letter = get_column_letter(i)
            sheet.column_dimensions[letter].width = max(10, min(40, len(_file_header(col)) + 2))
            if col.kind in _FORMATS:
                for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                    cell.number_format = _FORMATS[col.kind]
    book.save(path)


def row_json(row: KpiRow, by: Sequence[str]) -> dict[str, Any]:
    """A row for scripts: seconds and fractions, every figure's parts (counts behind shares)."""
    names = list(by) or ["group"]
    return {
        **dict(zip(names, row.key[:len(names)], strict=True)),
        "opened": row.created, "resolved": row.resolved,
        "first_response_seconds": vars(row.first_response), "resolution_seconds": vars(row.resolution),
        "sla": {m: {"ended": c.ended, "met": c.met, "share": c.share} for m, c in row.sla.items()},
        "backlog": {"open": row.backlog, "age_median_seconds": row.backlog_age_median, "age_p90_seconds": row.backlog_age_p90},
        "reopen": {"resolved": row.resolved, "reopened": row.reopened, "reopens": row.reopens, "rate": row.reopen_rate},
        "repeat": {"contacts": row.repeat_base, "opened_with_customer": row.repeat_base - row.repeat_messages,
                   "repeat_messages": row.repeat_messages, "repeats": row.repeats, "rate": row.repeat_rate},
        "csat": {"surveys": row.csat_surveys, "answered": row.csat_answered, "score": row.csat_score,
                 "response_rate": row.csat_response_rate},
        "cost": {"hours_worked": row.worked_hours, "total": row.cost_total, "per_request": row.cost_per_request},
        "open_past_due": row.breached_open,
    }


def report_json(report: KpiReport) -> dict[str, Any]:
    return {
        "period": {"label": report.period.label, "start": report.period.start, "end": report.period.end},
        "by": list(report.by), "filters": report.filters.given(),
        "currency": report.currency, "repeat_within_days": report.repeat_within_days, "csat_source": report.csat,
        "rows": [row_json(r, report.by) for r in report.rows],
        "total": row_json(report.total, ()),
        "volume": report.volume,
        "agent_load": [{"agent": r.key[0], "open": r.backlog, "resolved": r.resolved, "hours_worked": r.worked_hours,
                        "cost": r.cost_total} for r in report.load],
    }
