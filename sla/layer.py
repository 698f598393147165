"""Date layers: the rules a production calendar, an import or a spec lays over a week.

A ``CalendarLayer`` changes the working intervals of single local dates (see its
docstring for the order of its rules). ``check_intervals`` validates the interval tuples
every calendar uses: sorted, disjoint ``(start, end)`` seconds of the day, half-open,
``86400`` being ``24:00``. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sla.errors import CalendarSpecError
from sla.timeline import DAY_SECONDS, Intervals

__all__ = ["CalendarLayer", "check_intervals", "format_time"]


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
        years: the years the data covers; empty for rules that hold every year (a spec's
            own holidays). A time computed over a date outside them is flagged (see
            ``WeeklyCalendar.coverage_gaps``).
        series: layers of one series continue each other (the shipped ``ru-production``
            and a national xmlcalendar file of a later year: ``"ru"``); default the name.
        outside: the rules for a year the data does not cover (``year -> layer``), e.g.
            the Labour Code's fixed holidays; ``None``: nothing is known outside.
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
    series: str = ""
    outside: Callable[[int], CalendarLayer] | None = field(default=None, compare=False)
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

    @property
    def key(self) -> str:
        """The series this layer's years belong to (``series`` or the name)."""
        return self.series or self.name

    def apply(self, day: date, intervals: Intervals, *, workday: Intervals, zone: ZoneInfo,
              covered: bool = True, shortened: bool = False) -> tuple[Intervals, bool]:
        """The intervals of ``day`` after this layer (see the class docstring) — for a day its
        series does not cover (``covered=False``), after its ``outside`` rules — and whether
        the day is now shortened. `shortened`: an earlier layer shortened it already, so a
        pre-holiday day is one hour shorter however many layers (a national and a regional
        calendar) say so; an override sets the day's intervals afresh."""
        if not covered and self.outside is not None:
            return self.outside(day.year).apply(day, intervals, workday=workday, zone=zone, shortened=shortened)
        override = self._override_map.get(day)
        if override is not None:
            intervals, shortened = override, False
        elif not intervals and day in self.working:
            intervals = workday
        if day in self.shortened and not shortened:
            intervals, shortened = _cut_end(intervals, self.shorten_by), True
        if day in self.closed:
            return (), shortened
        for start, end in self._ranges_by_day.get(day, ()):
            if start.tzinfo is not None:
                start = start.astimezone(zone).replace(tzinfo=None)
                end = end.astimezone(zone).replace(tzinfo=None)
            part = _day_part(start, end, day)
            if part is not None:
                intervals = _subtract(intervals, *part)
        return intervals, shortened

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
            series=items[0].series if items else "",
            outside=items[0].outside if items else None,
        )
