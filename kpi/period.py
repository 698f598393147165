"""Report periods as people type them, read in the configured time zone. Pure.

``2026-11`` (a month), ``2026-Q4`` (a quarter), ``2026`` (a year), ``2026-11-01..2026-11-15``
(days, both included), ``last-30d`` / ``last-12h`` (the span ending now). A period is the
half-open interval ``[start, end)`` of aware instants: midnight in the configured zone, so
a request opened at 00:30 Moscow time on 1 December is December's, not November's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from kpi.errors import BadPeriod

__all__ = ["Period", "parse_period"]

_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_YEAR = re.compile(r"^(\d{4})$")
_DAYS = re.compile(r"^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$")
_LAST = re.compile(r"^last-(\d+)([dh])$")
EXAMPLES = ("2026-11", "2026-Q4", "2026", "2026-11-01..2026-11-15", "last-30d")


@dataclass(frozen=True)
class Period:
    """``[start, end)`` as aware instants, and the text it was read from."""

    label: str
    start: datetime
    end: datetime

    def cut(self, now: datetime) -> datetime:
        """The instant a "state at the end of the period" (backlog) is read at: the end, or
        `now` for a period still running."""
        return min(self.end, now)


def _midnight(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone)


def _month_start(year: int, month: int) -> date:
    return date(year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def parse_period(text: str, zone: tzinfo, now: datetime) -> Period:
    """Read `text` (see the module docstring) in `zone`; `now` (aware) anchors ``last-…``.

    Raises:
        BadPeriod: the text is none of the forms, or names no real date; the message lists them.
    """
    value = text.strip()
    try:
        if m := _MONTH.match(value):
            year, month = int(m[1]), int(m[2])
            if not 1 <= month <= 12:
                raise BadPeriod(text, f"month {month} is not 1-12")
            return Period(value, _midnight(date(year, month, 1), zone), _midnight(_month_start(year, month + 1), zone))
        if m := _QUARTER.match(value):
            year, first = int(m[1]), 3 * (int(m[2]) - 1) + 1
            return Period(value, _midnight(date(year, first, 1), zone), _midnight(_month_start(year, first + 3), zone))
        if m := _YEAR.match(value):
            year = int(m[1])
            return Period(value, _midnight(date(year, 1, 1), zone), _midnight(date(year + 1, 1, 1), zone))
        if m := _DAYS.match(value):
            day1, day2 = date.fromisoformat(m[1]), date.fromisoformat(m[2])
            if day2 < day1:
                raise BadPeriod(text, "the last day is before the first")
            return Period(value, _midnight(day1, zone), _midnight(day2 + timedelta(days=1), zone))
        if m := _LAST.match(value):
            span = timedelta(days=int(m[1])) if m[2] == "d" else timedelta(hours=int(m[1]))
            if not span:
                raise BadPeriod(text, "the span is empty")
            end = now.astimezone(zone)
            return Period(value, end - span, end)
    except ValueError as exc:  # date(2026, 2, 30)
        raise BadPeriod(text, str(exc)) from exc
    raise BadPeriod(text, "not a period")
