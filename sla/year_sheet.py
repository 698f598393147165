"""A calendar's year as a wall calendar shows it: each date's kind and hours, the totals,
and the date layers with the years they cover.

``year_sheet(calendar, year)`` is pure (no clock, no I/O) and returns plain data;
``crm-bridge sla calendar show`` renders it. A date is one of:

* ``working`` — the weekday's usual hours (the calendar's ``week``);
* ``shortened`` — fewer working hours than the weekday's pattern (a pre-holiday day, a
  partly closed day);
* ``day_off`` — no working time at all;
* ``transferred`` — working time on a day the week leaves free (a working Saturday); its
  ``shortened`` flag says whether it is also shorter than the usual workday.

A holiday on a weekday is a ``day_off``: layers record that a date is closed, not whether
a weekend day off was moved onto it. A ``ComposedCalendar`` (an intersection) has no week
of its own: its dates are read from ``working_periods`` between the local midnights of the
first part's zone, and each weekday's pattern is the working time that weekday has most
often in the year.

Example::

    sheet = year_sheet(settings.calendar("office"), 2026)
    sheet.working_days, sheet.working_seconds // 3600     # (247, 1972)
    [d.day for d in sheet.days if d.kind == "shortened"]  # 30 Apr, 8 May, 11 Jun, 3 Nov
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from sla.calendar import Calendar, CalendarLayer, ComposedCalendar, Intervals, WeeklyCalendar
from sla.due import working_periods
from sla.timeline import DAY_SECONDS

__all__ = ["DAY_KINDS", "DayEntry", "DayKind", "LayerCoverage", "YearSheet", "year_sheet"]

DayKind = Literal["working", "shortened", "day_off", "transferred"]
DAY_KINDS: tuple[DayKind, ...] = ("working", "shortened", "day_off", "transferred")


@dataclass(frozen=True, slots=True)
class DayEntry:
    """One local date.

    Attributes:
        day: the date, in the calendar's zone.
        kind: see the module docstring.
        intervals: the working intervals, seconds of the local day (``86400`` = 24:00).
        seconds: the working time of the day, in seconds (wall clock).
        shortened: fewer working seconds than the weekday's pattern (for a transferred day:
            than the usual workday).
    """

    day: date
    kind: DayKind
    intervals: Intervals
    seconds: int
    shortened: bool


@dataclass(frozen=True, slots=True)
class LayerCoverage:
    """A date layer of the calendar and the years it covers.

    Attributes:
        calendar: the weekly calendar that holds the layer (a part of a composed one).
        name: the layer's name (``ru-production``, a file's stem, ``office spec``).
        years: the years the data declares; when it declares none, the years of its dates.
        declared: whether ``years`` comes from the data itself.
        source: where the data comes from.
    """

    calendar: str
    name: str
    years: tuple[int, ...]
    declared: bool
    source: str


@dataclass(frozen=True, slots=True)
class YearSheet:
    """The dates of one year of a calendar, 1 January to 31 December, in order."""

    calendar: str
    year: int
    timezone: str
    days: tuple[DayEntry, ...]
    layers: tuple[LayerCoverage, ...]

    @property
    def working_days(self) -> int:
        """Dates with any working time (working, shortened and transferred)."""
        return sum(1 for d in self.days if d.seconds > 0)

    @property
    def working_seconds(self) -> int:
        """The year's working time, in seconds."""
        return sum(d.seconds for d in self.days)

    def count(self, kind: DayKind) -> int:
        """How many dates are of ``kind``."""
        return sum(1 for d in self.days if d.kind == kind)

    @property
    def uncovered(self) -> bool:
        """The calendar includes dated data (layers that declare their years) but none of it
        covers this year: the year shows no holidays, only the week (``ru-production`` alone
        for a year not yet shipped)."""
        declared = [x for x in self.layers if x.declared]
        return bool(declared) and not any(self.year in x.years for x in declared)


def _length(intervals: Intervals) -> int:
    return sum(end - start for start, end in intervals)


def _zone(calendar: Calendar) -> ZoneInfo:
    """The zone whose local dates a calendar is read in: its own, or its first part's."""
    if isinstance(calendar, WeeklyCalendar):
        return calendar.zone
    if isinstance(calendar, ComposedCalendar):
        for part in calendar.parts:
            return _zone(part)
    return ZoneInfo("UTC")


def _weekly_parts(calendar: Calendar) -> list[WeeklyCalendar]:
    if isinstance(calendar, WeeklyCalendar):
        return [calendar]
    if isinstance(calendar, ComposedCalendar):
        return [w for part in calendar.parts for w in _weekly_parts(part)]
    return []


def _seconds_of_day(moment: datetime) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _days_from_periods(calendar: Calendar, year: int, zone: ZoneInfo) -> dict[date, Intervals]:
    """Each local date's working intervals, cut from the calendar's working periods."""
    found: dict[date, list[tuple[int, int]]] = {}
    start, end = datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)
    for first, last in working_periods(calendar, start, end):
        moment, until = first.astimezone(zone), last.astimezone(zone)
        while moment < until:  # a period may run past midnight: cut it at each one
            midnight = datetime.combine(moment.date() + timedelta(days=1), time(), tzinfo=zone)
            piece = min(until, midnight)
            stop = DAY_SECONDS if piece == midnight else _seconds_of_day(piece)
            found.setdefault(moment.date(), []).append((_seconds_of_day(moment), stop))
            moment = piece
    return {day: tuple(parts) for day, parts in found.items()}


def _most_common(counts: Counter[int]) -> int:
    """The value counted most often (ties: the larger); 0 when nothing was counted."""
    return max(counts, key=lambda value: (counts[value], value), default=0)


def _layer_years(layer: CalendarLayer) -> tuple[int, ...]:
    dates = layer.closed | layer.working | layer.shortened | {d for d, _ in layer.overrides}
    years = {d.year for d in dates} | {s.year for r in layer.closed_ranges for s in r}
    return tuple(sorted(years))


def year_sheet(calendar: Calendar, year: int) -> YearSheet:
    """Classify every date of ``year`` of ``calendar`` (see the module docstring).

    Raises:
        InstantOutOfRangeError: ``year`` is outside the years the SLA math supports.
    """
    zone = _zone(calendar)
    first = date(year, 1, 1)
    dates = [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]
    if isinstance(calendar, WeeklyCalendar):
        intervals = {day: calendar.intervals_on(day) for day in dates}
        pattern = [_length(day) for day in calendar.week]
        usual = _length(calendar.usual_workday)
    else:
        found = _days_from_periods(calendar, year, zone)
        intervals = {day: found.get(day, ()) for day in dates}
        by_weekday: list[Counter[int]] = [Counter() for _ in range(7)]
        for day in dates:
            by_weekday[day.weekday()][_length(intervals[day])] += 1
        pattern = [_most_common(c) for c in by_weekday]
        usual = _most_common(Counter(p for p in pattern if p))
    entries = []
    for day in dates:
        seconds = _length(intervals[day])
        reference = pattern[day.weekday()] or usual
        shortened = 0 < seconds < reference
        kind: DayKind
        if seconds == 0:
            kind = "day_off"
        elif pattern[day.weekday()] == 0:
            kind = "transferred"
        else:
            kind = "shortened" if shortened else "working"
        entries.append(DayEntry(day, kind, intervals[day], seconds, shortened))
    layers = tuple(
        LayerCoverage(part.name, layer.name, layer.years or _layer_years(layer), bool(layer.years),
                      layer.source)
        for part in _weekly_parts(calendar) for layer in part.layers
    )
    return YearSheet(calendar.name, year, zone.key, tuple(entries), layers)
