"""Properties of the business-time math, checked against a brute-force minute-stepping
reference on random calendars (random minute-granular intervals, holidays, partial
closures, overrides, transferred working and shortened days) in DST zones."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla import (
    Calendar,
    CalendarLayer,
    add_business,
    business_between,
    calendar_from_spec,
    is_working,
    next_working_instant,
    working_periods,
)

ZONES = ("America/New_York", "Europe/Berlin", "Europe/Moscow", "UTC")
# Windows around the 2024/2025 DST changes of New York and Berlin, and a year boundary.
ANCHORS = (date(2024, 3, 8), date(2024, 3, 29), date(2024, 10, 25), date(2024, 11, 1),
           date(2024, 12, 28), date(2025, 3, 7), date(2025, 10, 24))
WINDOW_DAYS = 9
MINUTE = timedelta(minutes=1)
EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Minutes = tuple[tuple[int, int], ...]


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def day_intervals(draw: st.DrawFn) -> Minutes:
    points = sorted(draw(st.lists(st.integers(0, 1440), unique=True, max_size=6)))
    points = points[: len(points) // 2 * 2]
    return tuple((points[i], points[i + 1]) for i in range(0, len(points), 2))


@dataclass(frozen=True)
class Scenario:
    zone: str
    anchor: date
    week: tuple[Minutes, ...]
    holidays: frozenset[date]
    partial: tuple[tuple[date, int, int], ...]
    overrides: dict[date, Minutes]
    working: frozenset[date]
    shortened: frozenset[date]
    cut: int  # minutes cut from a shortened day

    def calendar(self) -> Calendar:
        def strings(intervals: Minutes) -> list[str]:
            return [f"{hhmm(a)}-{hhmm(b)}" for a, b in intervals]

        def wall(day: date, minute: int) -> str:
            return (datetime(day.year, day.month, day.day) + minute * MINUTE).isoformat()

        layer = CalendarLayer(name="transfers", working=self.working, shortened=self.shortened,
                              shorten_by=self.cut * 60)
        spec = {
            "name": "random", "timezone": self.zone, "include": ["transfers"],
            "week": {k: strings(v) for k, v in zip(("mon", "tue", "wed", "thu", "fri", "sat", "sun"),
                                                   self.week, strict=True)},
            "holidays": [d.isoformat() for d in sorted(self.holidays)]
            + [f"{wall(d, a)}/{wall(d, b)}" for d, a, b in self.partial],
            "overrides": {d.isoformat(): strings(v) for d, v in self.overrides.items()},
        }
        return calendar_from_spec(spec, resolve={"transfers": layer})

    def minutes_on(self, day: date) -> set[int]:
        """The reference rules, written independently of the implementation."""
        def expand(intervals: Minutes) -> set[int]:
            return {m for a, b in intervals for m in range(a, b)}

        minutes = expand(self.week[day.weekday()])
        if not minutes and day in self.working:
            patterns = [frozenset(expand(w)) for w in self.week if w]
            counts = Counter(patterns)

            def rank(pattern: frozenset[int]) -> tuple[int, int]:
                return counts[pattern], -patterns.index(pattern)  # most common, then earliest

            if patterns:
                best: frozenset[int] = max(patterns, key=rank)
                minutes = set(best)
        if day in self.shortened:
            minutes -= set(sorted(minutes)[-self.cut:]) if self.cut else set()
        if day in self.overrides:
            minutes = expand(self.overrides[day])
        if day in self.holidays:
            minutes = set()
        for d, a, b in self.partial:
            if d == day:
                minutes -= set(range(a, b))
        return minutes


@st.composite
def scenarios(draw: st.DrawFn, zones: tuple[str, ...] = ZONES) -> Scenario:
    anchor = draw(st.sampled_from(ANCHORS))
    dates = [anchor + timedelta(days=i) for i in range(-2, WINDOW_DAYS + 2)]
    week = tuple(draw(day_intervals()) for _ in range(7))
    overrides = draw(st.dictionaries(st.sampled_from(dates), day_intervals(), max_size=3))
    holidays = frozenset(draw(st.lists(st.sampled_from(dates), max_size=3))) - overrides.keys()
    partial = []
    for day in draw(st.lists(st.sampled_from(dates), max_size=2)):
        a, b = sorted(draw(st.lists(st.integers(0, 1440), min_size=2, max_size=2, unique=True)))
        partial.append((day, a, b))
    return Scenario(
        zone=draw(st.sampled_from(zones)), anchor=anchor, week=week, holidays=holidays,
        partial=tuple(partial), overrides=overrides,
        working=frozenset(draw(st.lists(st.sampled_from(dates), max_size=3))),
        shortened=frozenset(draw(st.lists(st.sampled_from(dates), max_size=3))),
        cut=draw(st.sampled_from((0, 30, 60, 90))),
    )


def brute_force(sc: Scenario) -> tuple[datetime, list[bool]]:
    """Step minute by minute through the window: is the wall clock inside an interval?"""
    zone = ZoneInfo(sc.zone)
    lo = datetime(sc.anchor.year, sc.anchor.month, sc.anchor.day, tzinfo=UTC) - timedelta(days=1)
    cache: dict[date, set[int]] = {}
    flags = []
    for i in range(WINDOW_DAYS * 1440):
        local = (lo + i * MINUTE).astimezone(zone)
        day = local.date()
        if day not in cache:
            cache[day] = sc.minutes_on(day)
        flags.append(local.hour * 60 + local.minute in cache[day])
    return lo, flags


def cumulative(flags: list[bool]) -> list[int]:
    out = [0]
    for flag in flags:
        out.append(out[-1] + flag)
    return out


@EXAMPLES
@given(sc=scenarios(), data=st.data())
def test_math_agrees_with_a_minute_stepping_reference(sc: Scenario, data: st.DataObject) -> None:
    cal = sc.calendar()
    lo, flags = brute_force(sc)
    counts = cumulative(flags)
    n = len(flags)
    for _ in range(5):
        s = data.draw(st.integers(0, n - 1))
        start = (lo + s * MINUTE).astimezone(ZoneInfo(sc.zone))
        assert is_working(cal, start) == flags[s]
        available = counts[n] - counts[s]
        need = data.draw(st.integers(0, available))
        due = add_business(cal, start, need * MINUTE)
        j = s if need == 0 else next(k for k in range(s + 1, n + 1) if counts[k] - counts[s] == need)
        assert due.astimezone(UTC) == lo + j * MINUTE
        e = data.draw(st.integers(0, n))
        end = lo + e * MINUTE
        assert business_between(cal, start, end) == (counts[e] - counts[s]) * MINUTE
        periods = working_periods(cal, start, end)
        assert sum((b - a for a, b in ((p.astimezone(UTC), q.astimezone(UTC)) for p, q in periods)),
                   timedelta(0)) == max(counts[e] - counts[s], 0) * MINUTE
        if available:
            first = next(k for k in range(s, n) if flags[k])
            assert next_working_instant(cal, start).astimezone(UTC) == lo + first * MINUTE


@EXAMPLES
@given(a=scenarios(), b=scenarios(zones=("Europe/Berlin", "America/New_York")), data=st.data())
def test_intersection_and_union_agree_with_the_reference(
    a: Scenario, b: Scenario, data: st.DataObject
) -> None:
    b = Scenario(b.zone, a.anchor, b.week, b.holidays, b.partial, b.overrides, b.working,
                 b.shortened, b.cut)
    lo, flags_a = brute_force(a)
    _, flags_b = brute_force(b)
    both = cumulative([x and y for x, y in zip(flags_a, flags_b, strict=True)])
    either = cumulative([x or y for x, y in zip(flags_a, flags_b, strict=True)])
    cal_a, cal_b = a.calendar(), b.calendar()
    s, e = sorted(data.draw(st.lists(st.integers(0, len(flags_a)), min_size=2, max_size=2)))
    start, end = lo + s * MINUTE, lo + e * MINUTE
    assert business_between(cal_a & cal_b, start, end) == (both[e] - both[s]) * MINUTE
    assert business_between(cal_a | cal_b, start, end) == (either[e] - either[s]) * MINUTE


microseconds = st.integers(0, 200 * 3600 * 10**6)


@EXAMPLES
@given(sc=scenarios(), offset=st.integers(0, WINDOW_DAYS * 86400 * 10**6), d1=microseconds,
       d2=microseconds)
def test_add_then_measure_returns_the_duration_and_due_dates_are_monotonic(
    sc: Scenario, offset: int, d1: int, d2: int
) -> None:
    if not any(sc.week):
        return  # no weekly working time: covered by the no-working-time tests
    cal = sc.calendar()
    start = (datetime(sc.anchor.year, sc.anchor.month, sc.anchor.day, tzinfo=UTC)
             + timedelta(microseconds=offset)).astimezone(ZoneInfo(sc.zone))
    short, long = sorted((timedelta(microseconds=d1), timedelta(microseconds=d2)))
    due_short = add_business(cal, start, short)
    due_long = add_business(cal, start, long)
    assert business_between(cal, start, due_short) == short
    assert business_between(cal, start, due_long) == long
    assert due_short.astimezone(UTC) <= due_long.astimezone(UTC)
    if long:
        # The due instant is never in closed time, except exactly at an interval's end:
        # the microsecond before it is always working time.
        just_before = due_long.astimezone(UTC) - timedelta(microseconds=1)
        assert is_working(cal, just_before)
        if not is_working(cal, due_long):
            assert working_periods(cal, start, due_long)[-1][1] == due_long  # a period's end
