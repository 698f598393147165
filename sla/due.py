"""Business-time math on a ``Calendar``: due instants, elapsed business time, helpers.

Conventions (see :mod:`sla.calendar` for what counts as working time):

* Every datetime argument must be timezone-aware (``NaiveDatetimeError`` otherwise).
  Results are returned in the time zone of the first datetime argument (``start`` /
  ``instant``), as the same ``tzinfo`` object.
* Working periods are half-open: an instant exactly at an interval's end is not working.
* Exact to the microsecond: instants are handled as integer UTC epoch microseconds.
* Cost: O(log n) per call (a ``bisect`` in the year's sorted periods) once the calendar's
  UTC year is built (lazily, once per calendar and year); durations longer than a year
  walk whole years in O(1) each.
* A calendar with no working time for ``HORIZON_YEARS`` consecutive years raises
  ``CalendarHasNoWorkingTime`` instead of searching forever.

Pure: no clock, no I/O.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import UTC, datetime, timedelta, tzinfo

from sla.calendar import Calendar
from sla.errors import CalendarHasNoWorkingTime, InvalidDurationError, NaiveDatetimeError
from sla.timeline import US, utc_year, year_start_us

__all__ = [
    "HORIZON_YEARS",
    "add_business",
    "business_between",
    "is_working",
    "next_working_instant",
    "working_periods",
]

#: Consecutive years without working time after which the search gives up.
HORIZON_YEARS = 5

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FLOAT_EXACT = 2**32 * US


def _instant(value: datetime, argument: str) -> int:
    """UTC epoch microseconds of an aware datetime (exact integer arithmetic)."""
    try:
        delta = value - _EPOCH
    except TypeError:  # naive minus aware: the cheapest check that `value` is aware
        raise NaiveDatetimeError(argument, value) from None
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def _datetime(instant: int, zone: tzinfo | None) -> datetime:
    """An aware datetime for UTC epoch microseconds, in ``zone``.

    Within ±2**32 s of the epoch (years 1834-2106) a float timestamp is exact to the
    microsecond (its error is under 0.25 µs and ``fromtimestamp`` rounds to the nearest
    microsecond) and four times faster; elsewhere timedelta arithmetic is used.
    """
    if -_FLOAT_EXACT < instant < _FLOAT_EXACT:
        return datetime.fromtimestamp(instant / US, zone)
    value = _EPOCH + timedelta(microseconds=instant)
    return value.astimezone(zone)


def add_business(calendar: Calendar, start: datetime, duration: timedelta) -> datetime:
    """The due instant: the earliest instant at which ``duration`` of business time has
    elapsed since ``start``.

    Args:
        calendar: the business calendar.
        start: an aware datetime; it may lie in closed time (counting starts at the next
            working instant).
        duration: business time, ``>= 0``. Zero returns ``start`` itself.

    Returns:
        The due instant, in ``start``'s time zone. A duration that runs out exactly when
        a working interval ends gives that end (13:00 before a lunch break), never the
        start of the next interval.

    Raises:
        NaiveDatetimeError: ``start`` has no time zone.
        InvalidDurationError: ``duration`` is negative.
        CalendarHasNoWorkingTime: no working time within ``HORIZON_YEARS`` years.
        InstantOutOfRangeError: the due instant would fall after the year 9998.
    """
    # The hot path: _instant() and _datetime() are inlined here.
    try:
        delta = start - _EPOCH
    except TypeError:
        raise NaiveDatetimeError("start", start) from None
    u = (delta.days * 86_400 + delta.seconds) * US + delta.microseconds
    need = (duration.days * 86_400 + duration.seconds) * US + duration.microseconds
    if need <= 0:
        if need == 0:
            return start
        raise InvalidDurationError(duration)
    year = utc_year(u)
    timeline = calendar.timeline(year)
    # Business time of the year before `start` (inlined Timeline.elapsed_until).
    starts = timeline.starts
    i = bisect_right(starts, u) - 1
    if i >= 0:
        end = timeline.ends[i]
        need += timeline.prefix[i] + (u - starts[i] if u < end else end - starts[i])
    empty = 0
    while need > timeline.total:
        need -= timeline.total
        empty = empty + 1 if timeline.total == 0 else 0
        if empty >= HORIZON_YEARS:
            raise CalendarHasNoWorkingTime(calendar.name, year - empty + 1, year)
        year += 1
        timeline = calendar.timeline(year)
    prefix = timeline.prefix
    k = bisect_left(prefix, need, 1)
    due = timeline.starts[k - 1] + need - prefix[k - 1]
    if -_FLOAT_EXACT < due < _FLOAT_EXACT:
        return datetime.fromtimestamp(due / US, start.tzinfo)
    return _datetime(due, start.tzinfo)


def business_between(calendar: Calendar, start: datetime, end: datetime) -> timedelta:
    """Business time elapsed from ``start`` to ``end``.

    Returns:
        A ``timedelta``; **negative** when ``end`` is before ``start`` (so "overdue by"
        reads as ``business_between(cal, due, now)`` either way):
        ``business_between(c, a, b) == -business_between(c, b, a)``.

    Raises:
        NaiveDatetimeError: either datetime has no time zone.
    """
    try:
        d1 = start - _EPOCH
        d2 = end - _EPOCH
    except TypeError:
        _instant(start, "start")
        raise NaiveDatetimeError("end", end) from None
    u1 = (d1.days * 86_400 + d1.seconds) * US + d1.microseconds
    u2 = (d2.days * 86_400 + d2.seconds) * US + d2.microseconds
    sign = 1
    if u2 < u1:
        u1, u2, sign = u2, u1, -1
    y1 = utc_year(u1)
    y2 = utc_year(u2)
    first = calendar.timeline(y1)
    if y1 == y2:
        # Both ends in one year: two bisects (inlined Timeline.elapsed_until).
        starts, ends, prefix = first.starts, first.ends, first.prefix
        i = bisect_right(starts, u1) - 1
        j = bisect_right(starts, u2) - 1
        total = 0
        if j >= 0:
            total = prefix[j] + (u2 - starts[j] if u2 < ends[j] else ends[j] - starts[j])
        if i >= 0:
            total -= prefix[i] + (u1 - starts[i] if u1 < ends[i] else ends[i] - starts[i])
    else:
        total = first.total - first.elapsed_until(u1)
        for year in range(y1 + 1, y2):
            total += calendar.timeline(year).total
        total += calendar.timeline(y2).elapsed_until(u2)
    return timedelta(microseconds=sign * total)


def is_working(calendar: Calendar, instant: datetime) -> bool:
    """Whether ``instant`` is working time (intervals are half-open: 13:00 of a 09:00-13:00
    interval is not).

    Raises:
        NaiveDatetimeError: ``instant`` has no time zone.
    """
    u = _instant(instant, "instant")
    return calendar.timeline(utc_year(u)).contains(u)


def next_working_instant(calendar: Calendar, instant: datetime) -> datetime:
    """``instant`` itself when it is working time, else the start of the next working
    period; in ``instant``'s time zone.

    Raises:
        NaiveDatetimeError: ``instant`` has no time zone.
        CalendarHasNoWorkingTime: nothing within ``HORIZON_YEARS`` years.
    """
    u = _instant(instant, "instant")
    year = utc_year(u)
    for offset in range(HORIZON_YEARS + 1):
        found = calendar.timeline(year + offset).next_start(u)
        if found is not None:
            return instant if found == u else _datetime(found, instant.tzinfo)
    raise CalendarHasNoWorkingTime(calendar.name, year, year + HORIZON_YEARS)


def working_periods(calendar: Calendar, start: datetime,
                    end: datetime) -> list[tuple[datetime, datetime]]:
    """The working periods counted between ``start`` and ``end``, clipped to them, in
    ``start``'s time zone; ``[]`` when ``end <= start``. Periods touching across
    midnight or a year boundary are one period. For ``sla explain``.

    Raises:
        NaiveDatetimeError: either datetime has no time zone.
    """
    u1 = _instant(start, "start")
    u2 = _instant(end, "end")
    merged: list[list[int]] = []
    if u2 <= u1:
        return []
    for year in range(utc_year(u1), utc_year(u2) + 1):
        lo = max(u1, year_start_us(year))
        for a, b in calendar.timeline(year).periods_between(lo, u2):
            if merged and merged[-1][1] == a:
                merged[-1][1] = b
            else:
                merged.append([a, b])
    zone = start.tzinfo
    return [(_datetime(a, zone), _datetime(b, zone)) for a, b in merged]
