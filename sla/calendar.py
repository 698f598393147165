"""Business calendars: a weekly wall-clock pattern in a time zone, date layers, composition.

Semantics (the contract every function in :mod:`sla.due` relies on):

* A ``WeeklyCalendar`` gives each **local date** a tuple of working intervals in seconds of
  the day, half-open, ``24:00`` (86400) being the next midnight. Business time is real
  elapsed time during which the calendar's wall clock shows that date and a time inside
  one of its intervals: a working hour skipped by a spring-forward never happens, one
  repeated by a fall-back counts twice.
* The date's intervals start as the weekday's intervals and then pass through the
  calendar's ``layers`` in order (later layers win). A ``CalendarLayer`` (a production
  calendar, an iCal or xmlcalendar import, the spec's own holidays and overrides) may, for
  a date: replace the intervals (override); make a day off a working day (it gets the
  calendar's *usual workday* intervals); shorten it (cut ``shorten_by`` seconds of working
  time from the end of the day); close it; close part of it (a range of wall time).
* The *usual workday* — the intervals a transferred working Saturday gets — is the
  calendar's ``workday`` when given, else the non-empty weekday pattern shared by the most
  weekdays (ties: the earliest weekday). For Mon–Fri 09–13/14–18 it is 09–13/14–18.
* ``cal_a & cal_b`` (``Calendar.intersect``) is working when both are, ``cal_a | cal_b``
  (``Calendar.union``) when either is; the operands may have different time zones.

Calendars are frozen and hashable; each caches its per-year ``Timeline`` privately (the
cache takes no part in equality), so caching per (calendar, year) is safe. Pure: no I/O.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from crm_bridge.errors import did_you_mean
from sla.errors import CalendarSpecError, InstantOutOfRangeError
from sla.layer import CalendarLayer, check_intervals, format_time
from sla.timeline import (
    MAX_YEAR,
    MIN_YEAR,
    Intervals,
    Timeline,
    intersect_timelines,
    leaf_timeline,
    union_timelines,
)

__all__ = [
    "WEEKDAYS",
    "Calendar",
    "CalendarLayer",
    "ComposedCalendar",
    "Coverage",
    "CoverageGap",
    "Intervals",
    "WeeklyCalendar",
    "check_intervals",
    "format_time",
    "load_zone",
]

#: Weekday keys of a spec's ``week``, Monday first (``date.weekday()`` order).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _local_year(value: datetime, zone: ZoneInfo) -> int:
    """The year of aware `value` in `zone`. From February to November (in the zone `value`
    carries) it is the same year in every zone, as no two UTC offsets are a day apart:
    the zone conversion (0.4 µs, two a cycle the planner evaluates) is left for the weeks
    around New Year."""
    if 1 < value.month < 12 and value.tzinfo is not None:
        return value.year
    return value.astimezone(zone).year


def load_zone(key: str, path: str = "timezone") -> ZoneInfo:
    """``ZoneInfo(key)`` with a ``CalendarSpecError`` naming ``path`` and a close match."""
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        hint = did_you_mean(str(key), sorted(available_timezones()))
        raise CalendarSpecError(
            path, key, "unknown time zone",
            f"Use an IANA zone name such as 'Europe/Moscow'.{hint}",
        ) from exc


@dataclass(frozen=True, slots=True)
class Coverage:
    """The dates one series of date data covers in a calendar (``ru-production``: 2023-01-01
    to 2027-12-31; with a 2028 xmlcalendar file of the same series, to 2028-12-31).

    Attributes:
        name: the layers of the series, ``"ru-production + ru-2028"``.
        years: every year the data covers.
    """

    name: str
    years: frozenset[int]

    @property
    def first(self) -> date:
        return date(min(self.years), 1, 1)

    @property
    def last(self) -> date:
        """The last date the data covers."""
        return date(max(self.years), 12, 31)

    def days_left(self, today: date) -> int:
        """Days of data after ``today`` (negative once it has run out)."""
        return (self.last - today).days


@dataclass(frozen=True, slots=True)
class CoverageGap:
    """Years a computation touched that a series of date data does not cover: the time is
    still computed (the weekly pattern and the layer's ``outside`` rules) but flagged."""

    coverage: Coverage
    years: tuple[int, ...]

    def __str__(self) -> str:
        name = self.coverage.name
        if min(self.years) > self.coverage.last.year:
            return f"computed beyond {name}'s data (ends {self.coverage.last.isoformat()})"
        if max(self.years) < self.coverage.first.year:
            return f"computed before {name}'s data (starts {self.coverage.first.isoformat()})"
        return f"computed without {name}'s data for {', '.join(map(str, self.years))}"


class Calendar(ABC):
    """A business calendar: which instants are working time.

    Build one with ``sla.calendar_from_spec(spec)``; compose with ``a & b`` (both working) and
    ``a | b`` (either working). Use it with the functions of :mod:`sla.due`.
    """

    __slots__ = ()
    name: str
    _timelines: dict[int, Timeline]

    @abstractmethod
    def _build(self, year: int) -> Timeline:
        """Compute the timeline of one UTC year."""

    @abstractmethod
    def coverage(self) -> tuple[Coverage, ...]:
        """The series of date data this calendar uses, with the years each covers."""

    @abstractmethod
    def coverage_gaps(self, start: datetime, end: datetime) -> tuple[CoverageGap, ...]:
        """The gaps in date data a time computed from ``start`` to ``end`` crosses (either
        order; aware datetimes, read as local dates of the calendar). O(1) after the first
        call for a pair of years."""

    def timeline(self, year: int) -> Timeline:
        """The working periods of UTC ``year`` (computed once, then cached).

        Raises:
            InstantOutOfRangeError: ``year`` is outside 2..9998.
        """
        timeline = self._timelines.get(year)
        if timeline is None:
            if not MIN_YEAR <= year <= MAX_YEAR:
                raise InstantOutOfRangeError(f"UTC year {year}")
            timeline = self._timelines[year] = self._build(year)
        return timeline

    def __and__(self, other: Calendar) -> Calendar:
        return Calendar.intersect(self, other)

    def __or__(self, other: Calendar) -> Calendar:
        return Calendar.union(self, other)

    @staticmethod
    def intersect(*calendars: Calendar, name: str | None = None) -> Calendar:
        """Working time common to all ``calendars`` (a team's hours within a customer's
        contracted hours). Time zones may differ: the result is exact in UTC."""
        return ComposedCalendar(calendars, "intersection", name or "")

    @staticmethod
    def union(*calendars: Calendar, name: str | None = None) -> Calendar:
        """Working time of any of ``calendars`` (two shifts covering one queue)."""
        return ComposedCalendar(calendars, "union", name or "")


def _usual_workday(week: tuple[Intervals, ...]) -> Intervals:
    counts = Counter(day for day in week if day)
    if not counts:
        return ()
    return max(counts, key=lambda day: (counts[day], -week.index(day)))


@dataclass(frozen=True, slots=True)
class WeeklyCalendar(Calendar):
    """A weekly wall-clock pattern in a time zone with date layers.

    Attributes:
        name: the calendar's name (errors and explanations).
        timezone: IANA zone name, e.g. ``Europe/Moscow``.
        week: seven interval tuples, Monday first (seconds of the day).
        layers: date layers applied in order; the last wins.
        workday: the usual workday for transferred working days; ``None`` = the weekday
            pattern shared by most weekdays.

    Raises:
        CalendarSpecError: unknown zone, ``week`` not of seven days, bad intervals.
    """

    name: str
    timezone: str
    week: tuple[Intervals, ...]
    layers: tuple[CalendarLayer, ...] = ()
    workday: Intervals | None = None
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _usual: Intervals = field(init=False, repr=False, compare=False)
    _timelines: dict[int, Timeline] = field(init=False, repr=False, compare=False)
    _gaps: dict[tuple[int, int], tuple[CoverageGap, ...]] = field(init=False, repr=False, compare=False)
    _coverage: tuple[Coverage, ...] = field(init=False, repr=False, compare=False)
    _covered: tuple[frozenset[int] | None, ...] = field(init=False, repr=False, compare=False)
    _superseded: tuple[frozenset[int], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        zone = load_zone(self.timezone)
        if len(self.week) != len(WEEKDAYS):
            raise CalendarSpecError("week", self.week, "a week has seven days",
                                    "Give intervals for mon..sun (an empty list is a day off).")
        week = tuple(check_intervals(day, f"week.{key}")
                     for key, day in zip(WEEKDAYS, self.week, strict=True))
        object.__setattr__(self, "week", week)
        if self.workday is not None:
            object.__setattr__(self, "workday", check_intervals(self.workday, "workday"))
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_usual",
                           self.workday if self.workday is not None else _usual_workday(week))
        object.__setattr__(self, "_timelines", {})
        object.__setattr__(self, "_gaps", {})
        # Layers of one series continue each other: a year is covered when any of them
        # covers it, and only then are a layer's `outside` rules left aside.
        series: dict[str, list[CalendarLayer]] = {}
        for layer in self.layers:
            if layer.years:
                series.setdefault(layer.key, []).append(layer)
        years = {key: frozenset(y for layer in group for y in layer.years) for key, group in series.items()}
        object.__setattr__(self, "_coverage", tuple(
            Coverage(" + ".join(dict.fromkeys(layer.name for layer in group)), years[key])
            for key, group in series.items()))
        object.__setattr__(self, "_covered", tuple(years[layer.key] if layer.years else None for layer in self.layers))
        # A year a later layer of the same series covers is that layer's: an integrator's
        # file of 2028 and a release shipping 2028 never count its days twice.
        object.__setattr__(self, "_superseded", tuple(
            frozenset(y for later in self.layers[i + 1:] if later.years and later.key == layer.key for y in later.years)
            if layer.years else frozenset() for i, layer in enumerate(self.layers)))

    def coverage(self) -> tuple[Coverage, ...]:
        return self._coverage

    def coverage_gaps(self, start: datetime, end: datetime) -> tuple[CoverageGap, ...]:
        if not self._coverage:
            return ()
        low, high = (start, end) if start <= end else (end, start)
        first, last = _local_year(low, self._zone), _local_year(high, self._zone)
        found = self._gaps.get((first, last))
        if found is None:
            found = self._gaps[(first, last)] = tuple(
                CoverageGap(c, missing) for c in self._coverage
                if (missing := tuple(y for y in range(first, last + 1) if y not in c.years)))
        return found

    @property
    def zone(self) -> ZoneInfo:
        """The calendar's time zone."""
        return self._zone

    @property
    def usual_workday(self) -> Intervals:
        """The intervals a transferred working day gets (see the module docstring)."""
        return self._usual

    def intervals_on(self, day: date) -> Intervals:
        """The working intervals of local date ``day`` after all layers (seconds of day)."""
        intervals = self.week[day.weekday()]
        shortened = False
        for layer, covered, superseded in zip(self.layers, self._covered, self._superseded, strict=True):
            if day.year in superseded:
                continue
            intervals, shortened = layer.apply(day, intervals, workday=self._usual, zone=self._zone,
                                               covered=covered is None or day.year in covered, shortened=shortened)
        return intervals

    def layered(self, *layers: CalendarLayer, name: str | None = None) -> WeeklyCalendar:
        """This calendar with ``layers`` laid on top (a regional calendar on a national
        one, next year's import); the new layers win over the existing ones."""
        return WeeklyCalendar(name or self.name, self.timezone, self.week,
                              self.layers + layers, self.workday)

    def _build(self, year: int) -> Timeline:
        return leaf_timeline(self._zone, year, self.intervals_on)


@dataclass(frozen=True, slots=True)
class ComposedCalendar(Calendar):
    """The intersection or union of calendars, computed exactly on UTC periods.

    Attributes:
        parts: the calendars composed (at least one).
        operation: ``"intersection"`` or ``"union"``.
        name: defaults to ``(a & b)`` / ``(a | b)``.
    """

    parts: tuple[Calendar, ...]
    operation: Literal["intersection", "union"]
    name: str = ""
    _combine: Callable[[int, list[Timeline]], Timeline] = field(
        init=False, repr=False, compare=False
    )
    _timelines: dict[int, Timeline] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = tuple(self.parts)
        if not parts or not all(isinstance(p, Calendar) for p in parts):
            raise CalendarSpecError(self.operation, parts, "expected one or more calendars",
                                    "Compose Calendar objects, e.g. team & customer.")
        symbol = " & " if self.operation == "intersection" else " | "
        object.__setattr__(self, "parts", parts)
        if not self.name:
            object.__setattr__(self, "name", "(" + symbol.join(p.name for p in parts) + ")")
        object.__setattr__(self, "_combine", intersect_timelines
                           if self.operation == "intersection" else union_timelines)
        object.__setattr__(self, "_timelines", {})

    def coverage(self) -> tuple[Coverage, ...]:
        return tuple(dict.fromkeys(c for part in self.parts for c in part.coverage()))

    def coverage_gaps(self, start: datetime, end: datetime) -> tuple[CoverageGap, ...]:
        return tuple(dict.fromkeys(g for part in self.parts for g in part.coverage_gaps(start, end)))

    def _build(self, year: int) -> Timeline:
        return self._combine(year, [part.timeline(year) for part in self.parts])
