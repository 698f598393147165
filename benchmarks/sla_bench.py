"""Benchmark of the SLA business-time math against what a user would otherwise pick.

    python benchmarks/sla_bench.py [--n 100000] [--subset 1000] [--seed 7]

Cases: the Moscow office calendar (Mon–Fri 09:00–13:00 / 14:00–18:00, Europe/Moscow) with
the shipped Russian production calendar; random starts over 2024–2026 (second
granularity), durations up to 200 business hours, elapsed-time ends up to 60 days after
the start.

Measured in the same run:

* ``sla.add_business`` and ``sla.business_between`` on all ``n`` cases (after the
  calendar's year tables are built; their one-off cost is printed too);
* PyPI ``businesstimedelta`` (WorkDayRule 09–18 + LunchTimeRule 13–14 + HolidayRule with the
  production calendar's closed dates, naive Moscow wall time) on the first ``subset``
  cases;
* a day-by-day loop over ``workalendar.europe.Russia().is_working_day`` with the same
  intervals, on the same subset.

Neither alternative models transferred working Saturdays or shortened days, and
workalendar misses most transferred days off, so results are compared only on cases
whose span (start date to due/end date) contains no date on which the alternative's day
differs from ours. Mismatches on comparable cases are reported and make the exit status 1.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import businesstimedelta
from workalendar.europe import Russia

from sla import (
    WeeklyCalendar,
    add_business,
    business_between,
    calendar_from_spec,
    ru_production,
)

MSK = ZoneInfo("Europe/Moscow")
OFFICE = ((clock(9), clock(13)), (clock(14), clock(18)))
FIRST_START = datetime(2024, 1, 1, tzinfo=MSK)
START_SPAN_SECONDS = int((datetime(2027, 1, 1, tzinfo=MSK) - FIRST_START).total_seconds())
MAX_DURATION_SECONDS = 200 * 3600
MAX_SPAN_SECONDS = 60 * 86400

Case = tuple[datetime, timedelta, datetime]  # start, duration, elapsed-time end


def office_calendar() -> WeeklyCalendar:
    """The benchmark calendar: Moscow office hours with the Russian production calendar."""
    day = [f"{a:%H:%M}-{b:%H:%M}" for a, b in OFFICE]
    cal = calendar_from_spec({"name": "office", "timezone": "Europe/Moscow",
                              "week": {d: day for d in ("mon", "tue", "wed", "thu", "fri")},
                              "include": ["ru-production"]})
    assert isinstance(cal, WeeklyCalendar)
    return cal


def make_cases(n: int, seed: int) -> list[Case]:
    """``n`` random (start, duration, end) cases; durations of at least one second."""
    rng = random.Random(seed)
    cases = []
    for _ in range(n):
        start = FIRST_START + timedelta(seconds=rng.randrange(START_SPAN_SECONDS))
        duration = timedelta(seconds=rng.randrange(1, MAX_DURATION_SECONDS + 1))
        end = start + timedelta(seconds=rng.randrange(MAX_SPAN_SECONDS + 1))
        cases.append((start, duration, end))
    return cases


@dataclass
class Alternative:
    """Timings and agreement of one alternative on the subset."""

    name: str
    add_us: float = 0.0
    between_us: float = 0.0
    add_compared: int = 0
    add_agree: int = 0
    between_compared: int = 0
    between_agree: int = 0
    mismatches: list[str] = field(default_factory=list)


@dataclass
class Result:
    """Everything the benchmark measured."""

    n: int
    repeat: int
    build_ms: float
    add_per_s: float
    between_per_s: float
    round_trip_ok: int
    alternatives: list[Alternative]

    @property
    def add_us(self) -> float:
        return 1e6 / self.add_per_s

    @property
    def between_us(self) -> float:
        return 1e6 / self.between_per_s


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    """Best wall time of ``repeat`` runs (garbage collector off while timing) and the
    last result. Every contender is timed the same way."""
    best = float("inf")
    value: object = None
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            began = time.perf_counter()
            value = fn()
            best = min(best, time.perf_counter() - began)
        finally:
            gc.enable()
    return best, value


# --- the alternatives ---------------------------------------------------------------------


def businesstimedelta_rules(cal: WeeklyCalendar) -> object:
    """WorkDayRule + LunchTimeRule + HolidayRule equivalent to the office calendar.

    HolidayRule looks ahead at most five years day by day and crashes (``None``) when no
    holiday follows; Sundays after the data's last year are added as sentinels. They are
    days off anyway, so the semantics do not change.
    """
    layer = ru_production()
    sentinels = {d for d in _days(date(2027, 1, 1), date(2032, 12, 31)) if d.weekday() == 6}
    workdays = [0, 1, 2, 3, 4]
    return businesstimedelta.Rules([
        businesstimedelta.WorkDayRule(start_time=clock(9), end_time=clock(18), working_days=workdays),
        businesstimedelta.LunchTimeRule(start_time=clock(13), end_time=clock(14), working_days=workdays),
        businesstimedelta.HolidayRule(set(layer.closed) | sentinels),
    ])


def btd_add(rules: object, start: datetime, duration: timedelta) -> datetime:
    due: datetime = start + businesstimedelta.BusinessTimeDelta(rules, timedelta=duration)
    return due.replace(tzinfo=None)


def btd_between(rules: object, start: datetime, end: datetime) -> timedelta:
    delta: timedelta = rules.difference(start, end).timedelta  # type: ignore[attr-defined]
    return delta


def workalendar_add(wc: Russia, start: datetime, duration: timedelta) -> datetime:
    """Day-by-day loop: is_working_day per date, then the office intervals."""
    day, rest = start.date(), duration
    while True:
        if wc.is_working_day(day):
            for a, b in OFFICE:
                begin = max(datetime.combine(day, a), start)
                finish = datetime.combine(day, b)
                if begin < finish:
                    if finish - begin >= rest:
                        return begin + rest
                    rest -= finish - begin
        day += timedelta(days=1)


def workalendar_between(wc: Russia, start: datetime, end: datetime) -> timedelta:
    total = timedelta(0)
    for day in _days(start.date(), end.date()):
        if wc.is_working_day(day):
            for a, b in OFFICE:
                begin = max(datetime.combine(day, a), start)
                finish = min(datetime.combine(day, b), end)
                if begin < finish:
                    total += finish - begin
    return total


# --- the run ----------------------------------------------------------------------------------


def _compare(alt: Alternative, cases: Sequence[Case], dues: Sequence[datetime],
             elapsed: Sequence[timedelta], add: Callable[[datetime, timedelta], datetime],
             between: Callable[[datetime, datetime], timedelta],
             comparable: Callable[[date, date], bool], repeat: int) -> None:
    naive = [(s.replace(tzinfo=None), d, e.replace(tzinfo=None)) for s, d, e in cases]
    seconds, theirs_due = _timed(lambda: [add(s, d) for s, d, _ in naive], repeat)
    alt.add_us = seconds / len(naive) * 1e6
    seconds, theirs_between = _timed(lambda: [between(s, e) for s, _, e in naive], repeat)
    alt.between_us = seconds / len(naive) * 1e6
    assert isinstance(theirs_due, list)
    assert isinstance(theirs_between, list)
    for (s, d, _), ours, theirs in zip(naive, dues, theirs_due, strict=True):
        if comparable(s.date(), ours.date()):
            alt.add_compared += 1
            if ours.replace(tzinfo=None) == theirs:
                alt.add_agree += 1
            elif len(alt.mismatches) < 5:
                alt.mismatches.append(f"due {s} + {d}: sla {ours}, {alt.name} {theirs}")
    for (s, _, e), ours_delta, theirs_delta in zip(naive, elapsed, theirs_between, strict=True):
        if comparable(s.date(), e.date()):
            alt.between_compared += 1
            if ours_delta == theirs_delta:
                alt.between_agree += 1
            elif len(alt.mismatches) < 10:
                alt.mismatches.append(f"between {s} .. {e}: sla {ours_delta}, {alt.name} {theirs_delta}")


def run(n: int = 100_000, subset: int = 1000, seed: int = 7, repeat: int = 3) -> Result:
    """Run the benchmark and return the figures (also used by tests/bench).

    Each timing is the best of ``repeat`` runs, for sla and for the alternatives alike.
    """
    cal = office_calendar()
    cases = make_cases(n, seed)
    build_s, _ = _timed(lambda: [cal.timeline(year) for year in range(2023, 2028)], repeat=1)

    add_s, dues_obj = _timed(lambda: [add_business(cal, s, d) for s, d, _ in cases], repeat)
    between_s, elapsed_obj = _timed(lambda: [business_between(cal, s, e) for s, _, e in cases],
                                    repeat)
    dues: list[datetime] = dues_obj  # type: ignore[assignment]
    elapsed: list[timedelta] = elapsed_obj  # type: ignore[assignment]
    round_trip = sum(business_between(cal, s, due) == d for (s, d, _), due in zip(cases, dues, strict=True))

    layer = ru_production()
    special = layer.working | layer.shortened  # what neither alternative models

    def plain_span(first: date, last: date) -> bool:
        return not any(day in special for day in _days(first, last))

    rules = businesstimedelta_rules(cal)
    btd = Alternative("businesstimedelta")
    _compare(btd, cases[:subset], dues[:subset], elapsed[:subset],
             lambda s, d: btd_add(rules, s, d), lambda s, e: btd_between(rules, s, e), plain_span,
             repeat)

    wc = Russia()
    wal = Alternative("workalendar")

    def same_days(first: date, last: date) -> bool:
        return plain_span(first, last) and all(
            wc.is_working_day(day) == bool(cal.intervals_on(day)) for day in _days(first, last))

    _compare(wal, cases[:subset], dues[:subset], elapsed[:subset],
             lambda s, d: workalendar_add(wc, s, d), lambda s, e: workalendar_between(wc, s, e),
             same_days, repeat)
    return Result(n=n, repeat=repeat, build_ms=build_s * 1e3, add_per_s=n / add_s, between_per_s=n / between_s,
                  round_trip_ok=round_trip, alternatives=[btd, wal])


def report(result: Result) -> int:
    """Print the figures; return the exit status (1 on mismatches in comparable cases)."""
    print(f"sla benchmark: {result.n} cases; Mon-Fri 09-13/14-18 Europe/Moscow + ru-production;"
          f" starts 2024-2026, durations <= 200 business hours")
    print(f"  year tables 2023-2027 built once in {result.build_ms:.1f} ms; timings: best of {result.repeat}")
    print(f"  sla.add_business      {result.add_us:7.2f} us/op  {result.add_per_s:12,.0f} due dates/s")
    print(f"  sla.business_between  {result.between_us:7.2f} us/op  {result.between_per_s:12,.0f} elapsed/s")
    print(f"  round trip business_between(start, due) == duration: {result.round_trip_ok}/{result.n}")
    status = 0 if result.round_trip_ok == result.n else 1
    for alt in result.alternatives:
        print(f"{alt.name} (subset):")
        print(f"  add     {alt.add_us:9.1f} us/op  -> sla is {alt.add_us / result.add_us:7.1f}x faster;"
              f" agree {alt.add_agree}/{alt.add_compared} comparable cases")
        print(f"  between {alt.between_us:9.1f} us/op  -> sla is {alt.between_us / result.between_us:7.1f}x faster;"
              f" agree {alt.between_agree}/{alt.between_compared} comparable cases")
        for line in alt.mismatches:
            print(f"  MISMATCH {line}")
        if alt.add_agree != alt.add_compared or alt.between_agree != alt.between_compared:
            status = 1
    fastest_add = min(alt.add_us for alt in result.alternatives)
    fastest_between = min(alt.between_us for alt in result.alternatives)
    print("targets:")
    print(f"  >= 100,000 due dates/s: {'met' if result.add_per_s >= 100_000 else 'MISSED'}"
          f" ({result.add_per_s:,.0f}/s)")
    print(f"  >= 10x the fastest alternative: add {fastest_add / result.add_us:.0f}x,"
          f" between {fastest_between / result.between_us:.0f}x"
          f" ({'met' if min(fastest_add / result.add_us, fastest_between / result.between_us) >= 10 else 'MISSED'})")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100_000, help="cases for sla (default 100000)")
    parser.add_argument("--subset", type=int, default=1000, help="cases for the alternatives")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="best of N runs per timing")
    args = parser.parse_args(argv)
    return report(run(args.n, min(args.subset, args.n), args.seed, args.repeat))


if __name__ == "__main__":
    sys.exit(main())
