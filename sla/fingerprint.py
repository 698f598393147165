"""What a calendar's working time looks like day by day, and which days an edit changed.

``sla.tick`` keeps each configured calendar's fingerprint in the store. When the calendar
data changes — a new year of the production calendar shipped, a file of closures edited,
the week changed — the days whose working periods differ are found here, and the open
requests whose due dates stand on them are re-planned with the reason
``calendar office changed for 2027-01-01..2027-01-08``.

A fingerprint holds every day of a window of years (by default two before and two after
today's) with working time, as ``{"2027-01-11": [[32400, 46800], [50400, 64800]]}``:
seconds from the local midnight (the calendar's zone; UTC for a composed calendar of
several zones). Pure: no clock, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sla.calendar import Calendar
from sla.timeline import US, utc_year

__all__ = ["Fingerprint", "changed_days", "day_bounds", "describe_days", "fingerprint", "window"]

Fingerprint = dict[str, list[list[int]]]
_YEARS_AROUND = 2


def _zone(calendar: Calendar) -> ZoneInfo:
    zone = getattr(calendar, "zone", None)
    return zone if isinstance(zone, ZoneInfo) else ZoneInfo("UTC")


@lru_cache(maxsize=64)
def fingerprint(calendar: Calendar, first_year: int, last_year: int) -> tuple[str, Fingerprint]:
    """The digest and the days with working time of local years ``first_year..last_year``."""
    zone = _zone(calendar)
    days: Fingerprint = {}
    day, end = date(first_year, 1, 1), date(last_year + 1, 1, 1)
    while day < end:
        lo = int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()) * US
        nxt = day + timedelta(days=1)
        hi = int(datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone).timestamp()) * US
        periods: list[list[int]] = []
        for year in sorted({utc_year(lo), utc_year(hi - 1)}):
            periods += [[(a - lo) // US, (b - lo) // US] for a, b in calendar.timeline(year).periods_between(lo, hi)]
        if periods:
            days[day.isoformat()] = periods
        day = nxt
    text = json.dumps(days, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest(), days


def window(today: date) -> tuple[int, int]:
    """The years a fingerprint taken ``today`` covers."""
    return today.year - _YEARS_AROUND, today.year + _YEARS_AROUND


def changed_days(old: Fingerprint, new: Fingerprint) -> list[date]:
    """The days whose working periods differ between two fingerprints, in order."""
    return sorted(date.fromisoformat(d) for d in set(old) | set(new) if old.get(d) != new.get(d))


def describe_days(days: list[date], *, most: int = 3) -> str:
    """``2027-01-01..2027-01-08, 2027-02-22`` — runs of consecutive days, at most `most`,
    then how many more."""
    runs: list[list[date]] = []
    for day in days:
        if runs and day - runs[-1][1] == timedelta(days=1):
            runs[-1][1] = day
        else:
            runs.append([day, day])
    shown = [a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}" for a, b in runs[:most]]
    if len(runs) > most:
        shown.append(f"and {len(runs) - most} more")
    return ", ".join(shown)


def day_bounds(calendar: Calendar, days: list[date]) -> tuple[datetime, datetime]:
    """The instants from the first day's local midnight to the end of the last day."""
    zone = _zone(calendar)
    first, last = days[0], days[-1] + timedelta(days=1)
    return (datetime(first.year, first.month, first.day, tzinfo=zone).astimezone(UTC),
            datetime(last.year, last.month, last.day, tzinfo=zone).astimezone(UTC))
