"""Named cases of the business-time math on the Moscow office calendar (Mon–Fri
09:00–13:00 / 14:00–18:00) with the Russian production calendar 2024–2026, and DST cases."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from crm_bridge.errors import BridgeError
from sla import (
    Calendar,
    CalendarHasNoWorkingTime,
    InvalidDurationError,
    NaiveDatetimeError,
    add_business,
    business_between,
    calendar_from_spec,
    is_working,
    next_working_instant,
    working_periods,
)

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
H = timedelta(hours=1)


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=MSK)


def day_hours(calendar: Calendar, day: date) -> float:
    start = datetime(day.year, day.month, day.day, tzinfo=MSK)
    return business_between(calendar, start, start + timedelta(days=1)) / H


# --- the office week -------------------------------------------------------------------


def test_request_opened_friday_evening_is_due_monday_after_lunch(ru_calendar: Calendar) -> None:
    # Friday 1 March 2024 17:00 + 6 h: 1 h on Friday, 4 h Monday morning, 1 h after lunch.
    assert add_business(ru_calendar, msk(2024, 3, 1, 17), 6 * H) == msk(2024, 3, 4, 15)


def test_duration_ending_when_lunch_begins_is_due_at_13_00_not_14_00(ru_calendar: Calendar) -> None:
    assert add_business(ru_calendar, msk(2024, 3, 4, 9), 4 * H) == msk(2024, 3, 4, 13)


def test_one_second_more_than_the_morning_is_due_one_second_after_lunch(ru_calendar: Calendar) -> None:
    due = add_business(ru_calendar, msk(2024, 3, 4, 9), 4 * H + timedelta(seconds=1))
    assert due == msk(2024, 3, 4, 14, 0, 1)


def test_zero_duration_is_due_at_the_start_even_in_closed_time(ru_calendar: Calendar) -> None:
    saturday_night = msk(2024, 3, 2, 3, 17)
    assert add_business(ru_calendar, saturday_night, timedelta(0)) is saturday_night


def test_start_in_closed_time_counts_from_the_next_working_minute(ru_calendar: Calendar) -> None:
    assert add_business(ru_calendar, msk(2024, 3, 2, 3, 17), 30 * timedelta(minutes=1)) == msk(2024, 3, 4, 9, 30)


def test_start_during_lunch_counts_from_14_00(ru_calendar: Calendar) -> None:
    assert add_business(ru_calendar, msk(2024, 3, 4, 13, 20), H) == msk(2024, 3, 4, 15)


def test_seconds_and_microseconds_are_kept(ru_calendar: Calendar) -> None:
    start = msk(2024, 3, 4, 10, 0, 7, 123456)
    due = add_business(ru_calendar, start, timedelta(hours=2, seconds=5, microseconds=1))
    assert due == msk(2024, 3, 4, 12, 0, 12, 123457)
    assert business_between(ru_calendar, start, due) == timedelta(hours=2, seconds=5, microseconds=1)


def test_due_instant_is_returned_in_the_start_time_zone(ru_calendar: Calendar) -> None:
    start_utc = datetime(2024, 3, 4, 6, tzinfo=UTC)  # 09:00 in Moscow
    due = add_business(ru_calendar, start_utc, H)
    assert due.tzinfo is UTC
    assert due == datetime(2024, 3, 4, 7, tzinfo=UTC)
    plus_five = timezone(timedelta(hours=5))
    assert add_business(ru_calendar, start_utc.astimezone(plus_five), H).tzinfo is plus_five


# --- the Russian production calendar ----------------------------------------------------


def test_saturday_27_april_2024_is_a_full_working_day(ru_calendar: Calendar) -> None:
    assert day_hours(ru_calendar, date(2024, 4, 27)) == 8


def test_after_27_april_2024_the_may_holidays_push_the_due_date_to_2_may(ru_calendar: Calendar) -> None:
    # 29 and 30 April are transferred days off, 1 May a holiday.
    assert add_business(ru_calendar, msk(2024, 4, 27, 17), 2 * H) == msk(2024, 5, 2, 10)


def test_saturday_2_november_2024_is_working_and_one_hour_shorter(ru_calendar: Calendar) -> None:
    assert day_hours(ru_calendar, date(2024, 11, 2)) == 7
    assert add_business(ru_calendar, msk(2024, 11, 1, 17), 2 * H) == msk(2024, 11, 2, 10)


def test_after_shortened_saturday_2_november_2024_monday_4_november_is_a_holiday(
    ru_calendar: Calendar,
) -> None:
    assert add_business(ru_calendar, msk(2024, 11, 2, 16, 30), H) == msk(2024, 11, 5, 9, 30)


def test_saturday_28_december_2024_is_a_full_working_day_then_new_year_holidays(
    ru_calendar: Calendar,
) -> None:
    assert day_hours(ru_calendar, date(2024, 12, 28)) == 8
    # 30-31 Dec 2024 transferred days off, 1-8 Jan 2025 holidays: next working day 9 Jan.
    assert add_business(ru_calendar, msk(2024, 12, 28, 17), 2 * H) == msk(2025, 1, 9, 10)


def test_saturday_1_november_2025_is_working_and_shortened_and_3_november_is_off(
    ru_calendar: Calendar,
) -> None:
    assert day_hours(ru_calendar, date(2025, 11, 1)) == 7
    assert day_hours(ru_calendar, date(2025, 11, 3)) == 0
    assert add_business(ru_calendar, msk(2025, 11, 1, 16), 2 * H) == msk(2025, 11, 5, 10)


def test_pre_holiday_days_end_at_17_00(ru_calendar: Calendar) -> None:
    for day in (date(2024, 3, 7), date(2025, 4, 30), date(2026, 11, 3)):
        assert day_hours(ru_calendar, day) == 7
        assert is_working(ru_calendar, msk(day.year, day.month, day.day, 16, 59, 59))
        assert not is_working(ru_calendar, msk(day.year, day.month, day.day, 17))


def test_new_year_holidays_2026_run_to_friday_9_january(ru_calendar: Calendar) -> None:
    # 31 Dec 2025 is a transferred day off; 1-8 Jan holidays; 9 Jan transferred from 3 Jan.
    assert add_business(ru_calendar, msk(2025, 12, 30, 17), 2 * H) == msk(2026, 1, 12, 10)


def test_a_years_official_hours_end_at_its_last_working_instant(ru_calendar: Calendar) -> None:
    # 1979 hours in 2024 (40-hour week): the last working instant is 28 Dec 18:00.
    assert add_business(ru_calendar, msk(2024, 1, 1), 1979 * H) == msk(2024, 12, 28, 18)


@pytest.mark.parametrize(("year", "hours"), [(2023, 1973), (2024, 1979), (2025, 1972), (2026, 1972), (2027, 1972)])
def test_yearly_business_hours_match_the_official_production_calendar(
    ru_calendar: Calendar, year: int, hours: int
) -> None:
    assert business_between(ru_calendar, msk(year, 1, 1), msk(year + 1, 1, 1)) == hours * H


def test_durations_longer_than_a_year_walk_the_years(ru_calendar: Calendar) -> None:
    start = msk(2024, 1, 9, 9)
    duration = (1979 + 1972 + 1972 + 3) * H  # all of 2024-2026, then 3 hours
    due = add_business(ru_calendar, start, duration)
    assert due == msk(2027, 1, 11, 12)  # 1-8 Jan 2027 off, 9-10 Jan a weekend
    assert business_between(ru_calendar, start, due) == duration


def test_technical_request_opened_before_new_year_2027_is_due_after_the_holidays(ru_calendar: Calendar) -> None:
    # 29 Dec from 10:56: 6 h 04 min; 30 Dec: 8 h; 31 Dec 2026 a transferred day off; 1-8 Jan
    # 2027 holidays, 9-10 Jan a weekend; 11 Jan: 8 h; 12 Jan: the last 1 h 56 min, from 09:00.
    due = add_business(ru_calendar, msk(2026, 12, 29, 10, 56), 24 * H)
    assert due == msk(2027, 1, 12, 10, 56)
    assert business_between(ru_calendar, msk(2026, 12, 29, 10, 56), due) == 24 * H


# --- elapsed time, helpers ---------------------------------------------------------------


def test_business_between_is_negative_when_the_end_is_before_the_start(ru_calendar: Calendar) -> None:
    assert business_between(ru_calendar, msk(2024, 3, 4, 15), msk(2024, 3, 4, 9)) == -5 * H


def test_business_between_over_a_weekend_counts_only_working_hours(ru_calendar: Calendar) -> None:
    assert business_between(ru_calendar, msk(2024, 3, 1, 17), msk(2024, 3, 4, 10)) == 2 * H


def test_interval_end_is_not_working_and_its_start_is(ru_calendar: Calendar) -> None:
    assert is_working(ru_calendar, msk(2024, 3, 4, 9))
    assert is_working(ru_calendar, msk(2024, 3, 4, 12, 59, 59, 999999))
    assert not is_working(ru_calendar, msk(2024, 3, 4, 13))
    assert not is_working(ru_calendar, msk(2024, 3, 2, 10))


def test_next_working_instant_after_friday_evening_is_monday_nine(ru_calendar: Calendar) -> None:
    assert next_working_instant(ru_calendar, msk(2024, 3, 1, 18)) == msk(2024, 3, 4, 9)
    inside = msk(2024, 3, 4, 10, 30)
    assert next_working_instant(ru_calendar, inside) is inside


def test_working_periods_list_what_was_counted(ru_calendar: Calendar) -> None:
    periods = working_periods(ru_calendar, msk(2024, 11, 1, 12), msk(2024, 11, 5, 10))
    assert periods == [
        (msk(2024, 11, 1, 12), msk(2024, 11, 1, 13)),
        (msk(2024, 11, 1, 14), msk(2024, 11, 1, 18)),
        (msk(2024, 11, 2, 9), msk(2024, 11, 2, 13)),
        (msk(2024, 11, 2, 14), msk(2024, 11, 2, 17)),
        (msk(2024, 11, 5, 9), msk(2024, 11, 5, 10)),
    ]
    assert working_periods(ru_calendar, msk(2024, 11, 5), msk(2024, 11, 1)) == []


def test_working_periods_of_a_24x7_calendar_are_one_period_across_new_year() -> None:
    always = calendar_from_spec({"timezone": "Europe/Moscow", "week": "24x7"})
    start, end = msk(2024, 12, 31, 20), msk(2025, 1, 1, 4)
    assert working_periods(always, start, end) == [(start, end)]
    assert business_between(always, start, end) == 8 * H


# --- errors --------------------------------------------------------------------------------


def test_a_naive_start_is_refused_with_a_value_error_naming_the_argument(ru_calendar: Calendar) -> None:
    with pytest.raises(NaiveDatetimeError, match="start: .* has no time zone") as caught:
        add_business(ru_calendar, datetime(2024, 3, 4, 9), H)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, BridgeError)
    with pytest.raises(NaiveDatetimeError, match="end: "):
        business_between(ru_calendar, msk(2024, 3, 4, 9), datetime(2024, 3, 4, 10))
    with pytest.raises(NaiveDatetimeError):
        is_working(ru_calendar, datetime(2024, 3, 4, 10))


def test_a_negative_duration_is_refused(ru_calendar: Calendar) -> None:
    with pytest.raises(InvalidDurationError, match="negative"):
        add_business(ru_calendar, msk(2024, 3, 4, 9), -H)


def test_a_calendar_without_working_time_raises_instead_of_searching_forever() -> None:
    never = calendar_from_spec({"name": "closed-shop", "timezone": "Europe/Moscow", "week": {}})
    with pytest.raises(CalendarHasNoWorkingTime, match="'closed-shop' has no working time") as caught:
        add_business(never, msk(2024, 3, 4, 9), H)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(CalendarHasNoWorkingTime):
        next_working_instant(never, msk(2024, 3, 4, 9))
    assert business_between(never, msk(2024, 1, 1), msk(2026, 1, 1)) == timedelta(0)


def test_working_time_that_ends_forever_raises_after_the_horizon() -> None:
    once = calendar_from_spec({"name": "one-day", "timezone": "UTC", "week": {},
                               "overrides": {"2024-03-04": ["09:00-10:00"]}})
    start = datetime(2024, 3, 4, 9, tzinfo=UTC)
    assert add_business(once, start, H) == datetime(2024, 3, 4, 10, tzinfo=UTC)
    with pytest.raises(CalendarHasNoWorkingTime, match="one-day"):
        add_business(once, start, 2 * H)


# --- daylight saving time ------------------------------------------------------------------


def night_calendar(zone: str) -> Calendar:
    """Every day 00:00-06:00 wall clock: the DST hours fall inside it."""
    return calendar_from_spec({"timezone": zone, "week": {d: ["00:00-06:00"] for d in
                                                          ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}})


def test_berlin_spring_forward_working_hour_never_happens() -> None:
    cal = night_calendar("Europe/Berlin")
    day = datetime(2024, 3, 31, tzinfo=BERLIN)
    assert business_between(cal, day, day + timedelta(days=1)) == 5 * H
    due = add_business(cal, datetime(2024, 3, 31, 1, 30, tzinfo=BERLIN), H)
    assert due == datetime(2024, 3, 31, 3, 30, tzinfo=BERLIN)
    # Real elapsed time (same-zone subtraction in Python is wall-clock, so compare in UTC).
    assert due.astimezone(UTC) - datetime(2024, 3, 31, 1, 30, tzinfo=BERLIN).astimezone(UTC) == H


def test_berlin_fall_back_working_hour_counts_twice() -> None:
    cal = night_calendar("Europe/Berlin")
    day = datetime(2024, 10, 27, tzinfo=BERLIN)
    assert business_between(cal, day, day + timedelta(days=1)) == 7 * H
    due = add_business(cal, datetime(2024, 10, 27, 1, 30, tzinfo=BERLIN), 2 * H)
    # 01:30 CEST + 2 real hours = 02:30 CET, the second 02:30 of the night.
    assert due.fold == 1
    assert due.utcoffset() == H
    assert due.astimezone(UTC) == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)


def test_new_york_spring_forward_and_fall_back_days() -> None:
    cal = night_calendar("America/New_York")
    spring = datetime(2024, 3, 10, tzinfo=NEW_YORK)
    fall = datetime(2024, 11, 3, tzinfo=NEW_YORK)
    assert business_between(cal, spring, spring + timedelta(days=1)) == 5 * H
    assert business_between(cal, fall, fall + timedelta(days=1)) == 7 * H
    assert add_business(cal, spring, 3 * H) == datetime(2024, 3, 10, 4, tzinfo=NEW_YORK)


def test_new_york_office_week_with_the_dst_change_on_sunday_keeps_eight_hour_days() -> None:
    cal = calendar_from_spec({"timezone": "America/New_York",
                              "week": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}})
    friday = datetime(2024, 3, 8, 16, tzinfo=NEW_YORK)
    assert add_business(cal, friday, 2 * H) == datetime(2024, 3, 11, 10, tzinfo=NEW_YORK)
    assert business_between(cal, friday, datetime(2024, 3, 11, 10, tzinfo=NEW_YORK)) == 2 * H
