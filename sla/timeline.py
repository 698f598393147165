"""One UTC year of a calendar's working time as sorted integer arrays with prefix sums.

A ``Timeline`` holds the working periods of one calendar inside one UTC year
``[Jan 1 00:00 UTC, next Jan 1 00:00 UTC)`` as UTC epoch **microseconds** (integers, so
sub-second inputs stay exact): ``starts`` and ``ends`` are sorted, disjoint and merged
(a period that ends where the next begins is one period), and ``prefix[i]`` is the
business time before period ``i``. Every query is a ``bisect``: O(log n) per call.

Cutting the time line at UTC year boundaries (not local ones) makes the blocks of every
calendar line up, so composing calendars is a merge of two sorted lists per year, and a
year never depends on another year.

Local wall-clock intervals become UTC periods through the zone's offset segments: on a
segment with constant offset ``o`` the wall interval ``[ws, we)`` is the UTC range
``[ws - o, we - o)`` clipped to the segment. So a wall hour skipped by a spring-forward
yields nothing and a wall hour repeated by a fall-back yields two UTC hours — exactly
"real time during which the wall clock is inside the interval".

Pure: no I/O; offset segments are memoised per (zone, year).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

__all__ = [
    "DAY_SECONDS",
    "MAX_YEAR",
    "MIN_YEAR",
    "US",
    "Intervals",
    "Timeline",
    "intersect_timelines",
    "leaf_timeline",
    "union_timelines",
    "utc_year",
    "year_start_us",
]

#: Working intervals of one local date: sorted, disjoint ``(start, end)`` seconds of the
#: day, ``0 <= start < end <= 86400`` (86400 is ``24:00``, the next midnight).
Intervals = tuple[tuple[int, int], ...]

US = 1_000_000
DAY_SECONDS = 86_400
_DAY_US = DAY_SECONDS * US
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: Years the math supports; one year of margin on each side of ``datetime``'s range so
#: that local dates next to a UTC year boundary still exist.
MIN_YEAR = 2
MAX_YEAR = 9998
#: Offset sampling step when looking for zone transitions (no real zone has two
#: transitions within six hours).
_SAMPLE_SECONDS = 6 * 3600


class Timeline:
    """Working periods of one calendar within one UTC year.

    Attributes:
        year: the UTC year.
        starts, ends: period bounds, UTC epoch microseconds, sorted, disjoint, merged.
        prefix: ``prefix[i]`` = business microseconds before period ``i``;
            ``len(prefix) == len(starts) + 1`` and ``prefix[-1] == total``.
        total: business microseconds in the year.
    """

    __slots__ = ("ends", "prefix", "starts", "total", "year")

    def __init__(self, year: int, periods: Iterable[tuple[int, int]]) -> None:
        starts: list[int] = []
        ends: list[int] = []
        for start, end in periods:
            if start >= end:
                continue
            if ends and start <= ends[-1]:
                # Adjacent (or, defensively, overlapping) periods merge into one.
                if end > ends[-1]:
                    ends[-1] = end
                continue
            starts.append(start)
            ends.append(end)
        prefix = [0]
        running = 0
        for start, end in zip(starts, ends, strict=True):
            running += end - start
            prefix.append(running)
        self.year = year
        self.starts = starts
        self.ends = ends
        self.prefix = prefix
        self.total = running

    def elapsed_until(self, instant: int) -> int:
        """Business microseconds in this year before ``instant`` (UTC epoch µs)."""
        i = bisect_right(self.starts, instant) - 1
        if i < 0:
            return 0
        start = self.starts[i]
        end = self.ends[i]
        return self.prefix[i] + (instant - start if instant < end else end - start)

    def instant_at(self, elapsed: int) -> int:
        """Earliest instant (UTC epoch µs) at which ``elapsed`` business µs have passed.

        ``0 < elapsed <= total``; an amount that ends exactly at a period's end gives that
        end (a duration that runs out when the lunch break begins is due at 13:00).
        """
        k = bisect_left(self.prefix, elapsed, 1)
        return self.starts[k - 1] + elapsed - self.prefix[k - 1]

    def contains(self, instant: int) -> bool:
        """Whether ``instant`` (UTC epoch µs) is working time (periods are half-open)."""
        i = bisect_right(self.starts, instant) - 1
        return i >= 0 and instant < self.ends[i]

    def next_start(self, instant: int) -> int | None:
        """The instant itself when working, else the next period start in this year."""
        i = bisect_right(self.starts, instant) - 1
        if i >= 0 and instant < self.ends[i]:
            return instant
        if i + 1 < len(self.starts):
            return self.starts[i + 1]
        return None

    def periods(self) -> list[tuple[int, int]]:
        """The periods as ``(start, end)`` pairs of UTC epoch µs."""
        return list(zip(self.starts, self.ends, strict=True))

    def periods_between(self, lo: int, hi: int) -> list[tuple[int, int]]:
        """The periods clipped to ``[lo, hi)``, UTC epoch µs."""
        out: list[tuple[int, int]] = []
        i = max(bisect_right(self.starts, lo) - 1, 0)
        starts, ends = self.starts, self.ends
        while i < len(starts) and starts[i] < hi:
            start, end = max(starts[i], lo), min(ends[i], hi)
            if start < end:
                out.append((start, end))
            i += 1
        return out


def year_start_us(year: int) -> int:
    """UTC epoch microseconds of ``year``-01-01 00:00 UTC."""
    return (date(year, 1, 1).toordinal() - _EPOCH_ORDINAL) * _DAY_US


def utc_year(instant: int) -> int:
    """The UTC year of an instant given as UTC epoch microseconds."""
    # An estimate from the mean Gregorian year is off by at most one near New Year.
    year = 1970 + instant // _MEAN_YEAR_US
    index = year - _TABLE_FIRST_YEAR
    if 0 <= index < len(_YEAR_STARTS) - 1:
        if instant < _YEAR_STARTS[index]:
            return year - 1
        if instant >= _YEAR_STARTS[index + 1]:
            return year + 1
        return year
    return date.fromordinal(instant // _DAY_US + _EPOCH_ORDINAL).year


#: UTC year starts of the years most instants fall in (1900-2200): a table look-up
#: instead of building a date.
_MEAN_YEAR_US = 31_556_952 * US
_TABLE_FIRST_YEAR = 1900
_YEAR_STARTS = [year_start_us(year) for year in range(_TABLE_FIRST_YEAR, 2202)]


def _offset_at(zone: ZoneInfo, second: int) -> int:
    """The zone's UTC offset in whole seconds at UTC epoch ``second``."""
    offset = datetime.fromtimestamp(second, zone).utcoffset()
    assert offset is not None, "a ZoneInfo always has an offset"
    return offset.days * DAY_SECONDS + offset.seconds


@lru_cache(maxsize=1024)
def _offset_segments(zone: ZoneInfo, year: int) -> tuple[tuple[int, int, int], ...]:
    """Constant-offset segments ``(start, end, offset)`` (UTC epoch seconds) of a UTC year."""
    lo = year_start_us(year) // US
    hi = year_start_us(year + 1) // US
    segments: list[tuple[int, int, int]] = []
    seg_start = lo
    current = _offset_at(zone, lo)
    previous = lo
    sample = lo
    while sample < hi - 1:
        sample = min(sample + _SAMPLE_SECONDS, hi - 1)
        while _offset_at(zone, sample) != current:
            # Bisect (previous, sample] for the first second with another offset.
            a, b = previous, sample
            while b - a > 1:
                mid = (a + b) // 2
                if _offset_at(zone, mid) == current:
                    a = mid
                else:
                    b = mid
            segments.append((seg_start, b, current))
            seg_start = previous = b
            current = _offset_at(zone, b)
        previous = sample
    segments.append((seg_start, hi, current))
    return tuple(segments)


def leaf_timeline(zone: ZoneInfo, year: int, intervals_on: Callable[[date], Intervals]) -> Timeline:
    """Build the timeline of a wall-clock calendar for one UTC year.

    Args:
        zone: the calendar's time zone.
        year: the UTC year.
        intervals_on: the working intervals of a local date (seconds of the day).
    """
    segments = _offset_segments(zone, year)
    periods: list[tuple[int, int]] = []
    # Local dates whose wall day can reach into the UTC year (offsets are under a day).
    day = date(year - 1, 12, 30)
    last = date(year + 1, 1, 2)
    one_day = timedelta(days=1)
    while day <= last:
        intervals = intervals_on(day)
        if intervals:
            midnight = (day.toordinal() - _EPOCH_ORDINAL) * DAY_SECONDS
            for a, b in intervals:
                wall_start, wall_end = midnight + a, midnight + b
                for seg_start, seg_end, offset in segments:
                    start = max(wall_start - offset, seg_start)
                    end = min(wall_end - offset, seg_end)
                    if start < end:
                        periods.append((start * US, end * US))
        day += one_day
    # A fall-back can interleave the UTC pieces of neighbouring intervals.
    periods.sort()
    return Timeline(year, periods)


def _intersect(a: Sequence[tuple[int, int]], b: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start = max(a[i][0], b[j][0])
        end = min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def intersect_timelines(year: int, timelines: Sequence[Timeline]) -> Timeline:
    """The working time common to all ``timelines`` (same UTC year)."""
    periods = timelines[0].periods()
    for other in timelines[1:]:
        periods = _intersect(periods, other.periods())
    return Timeline(year, periods)


def union_timelines(year: int, timelines: Sequence[Timeline]) -> Timeline:
    """The working time of any of ``timelines`` (same UTC year)."""
    periods = sorted(p for timeline in timelines for p in timeline.periods())
    return Timeline(year, periods)
