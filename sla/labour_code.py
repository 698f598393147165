"""The Russian Labour Code's fixed rules: what a year looks like before its decree is known.

A production calendar's data ends with the last year whose transfer decree is published.
For a date past it the fixed rules of the Labour Code still hold every year, so due dates
keep their main holidays instead of falling on 1 January:

* art. 112 p. 1 — non-working holidays: 1–8 January, 23 February, 8 March, 1 May,
  9 May, 12 June, 4 November;
* art. 112 p. 2 — a holiday falling on a Saturday or Sunday moves the day off to the next
  working day (not the January holidays: the government's decree places those two);
* art. 95 p. 1 — a working day immediately before a holiday is one hour shorter.

What the decree adds (bridging days, working Saturdays, where the January weekend days
go) cannot be known in advance: a time computed over such a year is computed on these
rules and flagged (see ``CalendarLayer.outside``). Pure: no I/O.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

from sla.layer import CalendarLayer

__all__ = ["HOLIDAYS", "RULES", "labour_code_year"]

#: Art. 112 p. 1: (month, day) of every non-working holiday.
HOLIDAYS = (*((1, d) for d in range(1, 9)), (2, 23), (3, 8), (5, 1), (5, 9), (6, 12), (11, 4))
#: How explanations name these rules.
RULES = "the Labour Code's fixed holidays (art. 112) on a five-day week"
_SATURDAY = 5


def _weekend(day: date) -> bool:
    return day.weekday() >= _SATURDAY


@cache
def labour_code_year(year: int) -> CalendarLayer:
    """The Labour Code's holidays, automatic transfers and shortened days of ``year``.

    Each January holiday stays where it falls; any other holiday on a weekend gives the
    next working day off (art. 112 p. 2). A Monday–Friday day before a holiday that is a
    working day is shortened (art. 95), 31 December included (before 1 January).
    """
    holidays = {date(year, month, day) for month, day in HOLIDAYS}
    closed = set(holidays)
    for holiday in sorted(holidays):
        if holiday.month == 1 or not _weekend(holiday):
            continue
        moved = holiday + timedelta(days=1)
        while _weekend(moved) or moved in closed:
            moved += timedelta(days=1)
        if moved.year == year:
            closed.add(moved)
    shortened: set[date] = set()
    for holiday in (*holidays, date(year + 1, 1, 1)):
        before = holiday - timedelta(days=1)
        if before.year == year and not _weekend(before) and before not in closed:
            shortened.add(before)
    return CalendarLayer(name=f"Labour Code {year}", closed=frozenset(closed), shortened=frozenset(shortened),
                         source=RULES, years=(year,))
