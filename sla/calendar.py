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

import math
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from crm_bridge.errors import did_you_mean
from sla.errors import CalendarSpecError, InstantOutOfRangeError
from sla.timeline import (
    DAY_SECONDS,
    MAX_YEAR,
    MIN_YEAR,
    Intervals,
    Timeline,
    intersect_timelines,
    leaf_timeline,
    union_timelines,
)

if TYPE_CHECKING:
    from sla.spec import Resolver

__all__ = [
    "WEEKDAYS",
    "Calendar",
    "CalendarLayer",
    "ComposedCalendar",
    "Intervals",
    "WeeklyCalendar",
    "check_intervals",
    "format_time",
    "load_zone",
]

#: Weekday keys of a spec's ``week``, Monday first (``date.weekday()`` order).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def format_time(seconds: int) -> str:
    """Seconds of the day as ``HH:MM`` or ``HH:MM:SS`` (86400 is ``24:00``)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if secs else "")


def _format_interval(interval: tuple[int, int]) -> str:
    return f"{format_time(interval[0])}-{format_time(interval[1])}"


def check_intervals(value: Iterable[tuple[int, int]], path: str) -> Intervals:
    """Validate intervals given as seconds of the day; return them sorted and merged.

    Raises:
        CalendarSpecError: an interval is empty, inverted, outside ``[0, 86400]`` or
            overlaps another (``path[i]`` names it). Touching intervals merge.
    """
    items = list(value)
    for i, (start, end) in enumerate(items):
        if not 0 <= start < DAY_SECONDS or not 0 < end <= DAY_SECONDS:
            raise CalendarSpecError(
                f"{path}[{i}]", (start, end), "interval outside the day",
                "Use seconds of the day from 0 to 86400 (24:00).",
            )
        if start >= end:
            raise CalendarSpecError(
                f"{path}[{i}]", _format_interval((start, end)), "interval is empty or inverted",
                "An interval lies within one day; split a night shift at 24:00.",
            )
    order = sorted(range(len(items)), key=lambda k: items[k])
    merged: list[tuple[int, int]] = []
    previous = -1
    for k in order:
        start, end = items[k]
        if merged and start < merged[-1][1]:
            raise CalendarSpecError(
                f"{path}[{k}]", _format_interval(items[k]),
                f"interval overlaps {path}[{previous}] {_format_interval(items[previous])}",
                "Intervals of one day must not overlap; merge them or fix the times.",
            )
        if merged and start == merged[-1][1]:
            merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
        previous = k
    return tuple(merged)


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


def _cut_end(intervals: Intervals, seconds: int) -> Intervals:
    """Remove the last ``seconds`` of working time of the day."""
    out = list(intervals)
    rest = seconds
    while out and rest > 0:
        start, end = out[-1]
        if end - start > rest:
            out[-1] = (start, end - rest)
            rest = 0
        else:
            rest -= end - start
            out.pop()
    return tuple(out)


def _subtract(intervals: Intervals, start: int, end: int) -> Intervals:
    out: list[tuple[int, int]] = []
    for a, b in intervals:
        if b <= start or a >= end:
            out.append((a, b))
            continue
        if a < start:
            out.append((a, start))
        if end < b:
            out.append((end, b))
    return tuple(out)


def _day_part(range_start: datetime, range_end: datetime, day: date) -> tuple[int, int] | None:
    """The part of a naive wall-clock range on ``day``, seconds of the day (whole seconds,
    widened outwards), or ``None``."""
    midnight = datetime(day.year, day.month, day.day)  # noqa: DTZ001 - wall clock, no zone
    a = max((range_start - midnight).total_seconds(), 0.0)
    b = min((range_end - midnight).total_seconds(), float(DAY_SECONDS))
    if a >= b:
        return None
    return math.floor(a), math.ceil(b)


@dataclass(frozen=True, slots=True)
class CalendarLayer:
    """Date rules laid over a weekly pattern: a production calendar, an import, a spec's
    own holidays and overrides.

    For a date, in this order: an override replaces the intervals; otherwise a ``working``
    date that has no intervals gets the calendar's usual workday; a ``shortened`` date
    loses its last ``shorten_by`` seconds of working time; a ``closed`` date has none; a
    closed range removes wall time (naive bounds: the calendar's wall clock; aware bounds
    are converted to it).

    Attributes:
        name: shown in explanations and errors.
        closed: dates with no working time (holidays, transferred days off).
        working: dates that are working days even on a weekly day off (transfers).
        shortened: pre-holiday days, shortened by ``shorten_by`` seconds.
        overrides: ``(date, intervals)`` pairs replacing the date's intervals.
        closed_ranges: ``(start, end)`` wall-clock ranges without working time.
        shorten_by: seconds cut from a shortened day (3600: art. 95 of the Labour Code).
        source: where the data comes from (citation, file name).
        years: the years the data covers (informational).
    """

    name: str
    closed: frozenset[date] = frozenset()
    working: frozenset[date] = frozenset()
    shortened: frozenset[date] = frozenset()
    overrides: tuple[tuple[date, Intervals], ...] = ()
    closed_ranges: tuple[tuple[datetime, datetime], ...] = ()
    shorten_by: int = 3600
    source: str = ""
    years: tuple[int, ...] = ()
    _override_map: dict[date, Intervals] = field(init=False, repr=False, compare=False)
    _ranges_by_day: dict[date, tuple[tuple[datetime, datetime], ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        overrides: dict[date, Intervals] = {}
        for day, intervals in self.overrides:
            path = f"{self.name}.overrides[{day.isoformat()}]"
            if day in overrides:
                raise CalendarSpecError(path, day.isoformat(), "date overridden twice",
                                        "Give each date one list of intervals.")
            overrides[day] = check_intervals(intervals, path)
        by_day: dict[date, list[tuple[datetime, datetime]]] = {}
        for i, (start, end) in enumerate(self.closed_ranges):
            path = f"{self.name}.closed_ranges[{i}]"
            if (start.tzinfo is None) != (end.tzinfo is None):
                raise CalendarSpecError(path, (start, end), "one bound has a time zone and "
                                        "the other not", "Give both bounds the same form.")
            if start >= end:
                raise CalendarSpecError(path, f"{start.isoformat()}/{end.isoformat()}",
                                        "range ends before it starts",
                                        "Write 'start/end' with start < end.")
            # Index by every date the range can touch on any wall clock (±1 day for zones).
            day = start.date() - timedelta(days=1)
            while day <= end.date() + timedelta(days=1):
                by_day.setdefault(day, []).append((start, end))
                day += timedelta(days=1)
        if self.shorten_by < 0:
            raise CalendarSpecError(f"{self.name}.shorten_by", self.shorten_by,
                                    "negative shortening", "Use seconds >= 0.")
        object.__setattr__(self, "_override_map", overrides)
        object.__setattr__(self, "_ranges_by_day", {k: tuple(v) for k, v in by_day.items()})

    def apply(self, day: date, intervals: Intervals, *, workday: Intervals,
              zone: ZoneInfo) -> Intervals:
        """The intervals of ``day`` after this layer (see the class docstring)."""
        override = self._override_map.get(day)
        if override is not None:
            intervals = override
        elif not intervals and day in self.working:
            intervals = workday
        if day in self.shortened:
            intervals = _cut_end(intervals, self.shorten_by)
        if day in self.closed:
            return ()
        for start, end in self._ranges_by_day.get(day, ()):
            if start.tzinfo is not None:
                start = start.astimezone(zone).replace(tzinfo=None)
                end = end.astimezone(zone).replace(tzinfo=None)
            part = _day_part(start, end, day)
            if part is not None:
                intervals = _subtract(intervals, *part)
        return intervals

    @staticmethod
    def merge(layers: Iterable[CalendarLayer], *, name: str, source: str = "") -> CalendarLayer:
        """One layer holding the rules of ``layers`` (e.g. several years of one source).

        Raises:
            CalendarSpecError: two layers override the same date.
        """
        items = list(layers)
        return CalendarLayer(
            name=name,
            closed=frozenset().union(*(x.closed for x in items)),
            working=frozenset().union(*(x.working for x in items)),
            shortened=frozenset().union(*(x.shortened for x in items)),
            overrides=tuple(o for x in items for o in x.overrides),
            closed_ranges=tuple(r for x in items for r in x.closed_ranges),
            shorten_by=items[0].shorten_by if items else 3600,
            source=source or "; ".join(x.source for x in items if x.source),
            years=tuple(sorted({y for x in items for y in x.years})),
        )


class Calendar(ABC):
    """A business calendar: which instants are working time.

    Build one with ``Calendar.from_spec(spec)``; compose with ``a & b`` (both working) and
    ``a | b`` (either working). Use it with the functions of :mod:`sla.due`.
    """

    __slots__ = ()
    name: str
    _timelines: dict[int, Timeline]

    @abstractmethod
    def _build(self, year: int) -> Timeline:
        """Compute the timeline of one UTC year."""

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

    @classmethod
    def from_spec(cls, spec: Mapping[str, object], *, resolve: Resolver | None = None,
                  name: str | None = None, path: str = "") -> Calendar:
        """Build a calendar from a plain spec (the shape of the YAML config).

        See :func:`sla.spec.calendar_from_spec` for the keys, ``include`` and ``resolve``.

        Raises:
            CalendarSpecError: the spec is invalid; ``.path`` names the field.
        """
        from sla.spec import calendar_from_spec  # spec imports this module: import late

        return calendar_from_spec(spec, resolve=resolve, name=name, path=path)


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
        for layer in self.layers:
            intervals = layer.apply(day, intervals, workday=self._usual, zone=self._zone)
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

    def _build(self, year: int) -> Timeline:
        return self._combine(year, [part.timeline(year) for part in self.parts])
