"""Calendar specs: what they mean, and the errors bad ones give (path, value, hint)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from crm_bridge.errors import ConfigError
from sla import (
    Calendar,
    CalendarLayer,
    CalendarSpecError,
    ComposedCalendar,
    WeeklyCalendar,
    add_business,
    business_between,
    calendar_from_spec,
    working_periods,
)

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
H = timedelta(hours=1)
Office = Callable[..., dict[str, object]]


def msk(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0,
        microsecond: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=MSK)


def hours_on(calendar: Calendar, day: date) -> float:
    start = datetime(day.year, day.month, day.day, tzinfo=MSK)
    return business_between(calendar, start, start + timedelta(days=1)) / H


# --- meaning ------------------------------------------------------------------------------


def test_spec_from_the_issue_builds_the_calendar_it_describes() -> None:
    day = ["09:00-13:00", "14:00-18:00"]
    cal = calendar_from_spec({
        "timezone": "Europe/Moscow",
        "week": {"mon": day, "tue": day, "wed": day, "thu": day, "fri": day, "sat": [], "sun": []},
        "holidays": ["2026-01-01", "2026-03-09", "2026-05-11T14:00/2026-05-11T18:00"],
        "overrides": {"2026-11-03": ["09:00-13:00", "14:00-17:00"],
                      "2026-12-27": ["09:00-13:00", "14:00-18:00"]},
        "include": ["ru-production"],
    })
    assert hours_on(cal, date(2026, 5, 11)) == 0  # a holiday in the production calendar anyway
    assert hours_on(cal, date(2026, 11, 3)) == 7
    assert hours_on(cal, date(2026, 12, 27)) == 8  # a Sunday made working by an override
    assert hours_on(cal, date(2026, 3, 9)) == 0


def test_partial_holiday_closes_only_its_wall_clock_range(office: Office) -> None:
    cal = calendar_from_spec(office(holidays=["2026-05-12T14:00/2026-05-12T16:30"]))
    assert hours_on(cal, date(2026, 5, 12)) == 5.5
    assert add_business(cal, msk(2026, 5, 12, 12), 2 * H) == msk(2026, 5, 12, 17, 30)


def test_partial_holiday_with_an_offset_is_converted_to_the_calendar_clock(office: Office) -> None:
    cal = calendar_from_spec(office(holidays=["2026-05-12T11:00+00:00/2026-05-12T13:00+00:00"]))
    # 11:00-13:00 UTC is 14:00-16:00 in Moscow.
    assert hours_on(cal, date(2026, 5, 12)) == 6


def test_inclusive_date_range_closes_every_day_of_it(office: Office) -> None:
    cal = calendar_from_spec(office(holidays=["2026-07-06/2026-07-10"]))
    assert business_between(cal, msk(2026, 7, 6), msk(2026, 7, 13)) == timedelta(0)


def test_yaml_dates_are_accepted_as_date_objects(office: Office) -> None:
    cal = calendar_from_spec(office(holidays=[date(2026, 7, 6)],
                                    overrides={date(2026, 7, 11): ["10:00-12:00"]}))
    assert hours_on(cal, date(2026, 7, 6)) == 0
    assert hours_on(cal, date(2026, 7, 11)) == 2


def test_intervals_up_to_24_00_and_seconds_are_kept() -> None:
    cal = calendar_from_spec({"timezone": "UTC", "week": {"mon": ["18:00:30-24:00"],
                                                          "tue": ["00:00-06:00"]}})
    start = datetime(2024, 3, 4, 18, tzinfo=UTC)
    assert working_periods(cal, start, start + timedelta(days=1)) == [
        (datetime(2024, 3, 4, 18, 0, 30, tzinfo=UTC), datetime(2024, 3, 5, 6, tzinfo=UTC)),
    ]


def test_24x7_week_shorthand_is_always_working() -> None:
    cal = calendar_from_spec({"timezone": "Europe/Moscow", "week": "24x7"})
    assert business_between(cal, msk(2024, 1, 1), msk(2025, 1, 1)) == timedelta(days=366)


def test_empty_yaml_values_mean_nothing_configured() -> None:
    # `sat:` / `holidays:` with nothing after them load from YAML as None.
    cal = calendar_from_spec({"timezone": "UTC", "week": {"mon": ["09:00-10:00"], "sat": None},
                              "holidays": None, "overrides": {"2024-03-05": None},
                              "include": None})
    assert business_between(cal, datetime(2024, 3, 4, tzinfo=UTC),
                            datetime(2024, 3, 11, tzinfo=UTC)) == H


def test_an_unsorted_day_is_sorted_and_touching_intervals_merge() -> None:
    cal = calendar_from_spec({"timezone": "UTC", "week": {"mon": ["14:00-18:00", "09:00-14:00"]}})
    assert isinstance(cal, WeeklyCalendar)
    assert cal.week[0] == ((9 * 3600, 18 * 3600),)


def test_transferred_working_saturday_gets_the_usual_workday_not_fridays_hours() -> None:
    long_day, short_friday = ["09:00-18:00"], ["09:00-16:45"]
    cal = calendar_from_spec({"timezone": "Europe/Moscow", "include": ["ru-production"],
                              "week": {"mon": long_day, "tue": long_day, "wed": long_day,
                                       "thu": long_day, "fri": short_friday}})
    assert hours_on(cal, date(2024, 4, 27)) == 9  # Mon-Thu pattern


def test_workday_key_sets_the_hours_of_transferred_working_days(office: Office) -> None:
    cal = calendar_from_spec(office(include=["ru-production"], workday=["10:00-15:00"]))
    assert hours_on(cal, date(2024, 4, 27)) == 5
    assert hours_on(cal, date(2024, 11, 2)) == 4  # and shortened by an hour


def test_spec_overrides_win_over_included_layers(office: Office) -> None:
    cal = calendar_from_spec(office(include=["ru-production"],
                                    overrides={"2024-04-29": ["10:00-12:00"]}))
    assert hours_on(cal, date(2024, 4, 29)) == 2


def test_calendars_are_hashable_and_equal_when_built_from_equal_specs(office: Office) -> None:
    a = calendar_from_spec(office(include=["ru-production"]))
    b = calendar_from_spec(office(include=["ru-production"]))
    c = calendar_from_spec(office())
    assert a == b
    assert hash(a) == hash(b)
    assert a != c
    add_business(a, msk(2024, 3, 4, 9), H)  # fills a's cache; equality is unaffected
    assert a == b
    assert len({a, b, c}) == 2


# --- composition and layering ----------------------------------------------------------------


def test_team_calendar_intersected_with_customer_hours_in_another_zone(office: Office) -> None:
    team = calendar_from_spec(office(name="team"))
    customer = calendar_from_spec({"name": "customer", "timezone": "Europe/Berlin",
                                   "week": {d: ["08:00-16:00"] for d in ("mon", "tue", "wed", "thu", "fri")}})
    both = team & customer
    assert isinstance(both, ComposedCalendar)
    assert both.name == "(team & customer)"
    # March: Berlin UTC+1, Moscow UTC+3: the customer's 08:00-16:00 is 10:00-18:00 in Moscow.
    assert working_periods(both, msk(2024, 3, 4), msk(2024, 3, 5)) == [
        (msk(2024, 3, 4, 10), msk(2024, 3, 4, 13)),
        (msk(2024, 3, 4, 14), msk(2024, 3, 4, 18)),
    ]
    # April: Berlin on summer time (UTC+2): 09:00-17:00 in Moscow.
    assert business_between(both, msk(2024, 4, 1), msk(2024, 4, 2)) == 7 * H
    assert Calendar.intersect(team, customer) == both


def test_union_of_two_shifts_covers_both(office: Office) -> None:
    day = calendar_from_spec(office(name="day"))
    night = calendar_from_spec({"name": "night", "timezone": "Europe/Moscow",
                                "week": {"mon": ["18:00-24:00"]}})
    either = day | night
    assert either.name == "(day | night)"
    assert business_between(either, msk(2024, 3, 4), msk(2024, 3, 5)) == 14 * H
    assert working_periods(either, msk(2024, 3, 4, 12), msk(2024, 3, 4, 20))[-1] == (
        msk(2024, 3, 4, 14), msk(2024, 3, 4, 20))


def test_regional_layer_on_the_national_calendar_adds_its_days_off(ru_calendar: Calendar) -> None:
    assert isinstance(ru_calendar, WeeklyCalendar)
    regional = CalendarLayer(name="republic", closed=frozenset({date(2025, 8, 30), date(2025, 3, 31)}))
    layered = ru_calendar.layered(regional)
    assert hours_on(layered, date(2025, 3, 31)) == 0
    assert hours_on(ru_calendar, date(2025, 3, 31)) == 8
    assert hours_on(layered, date(2025, 5, 2)) == 0  # national days off are kept


def test_include_and_intersect_resolve_through_a_caller_mapping(office: Office) -> None:
    regional = CalendarLayer(name="republic", closed=frozenset({date(2025, 3, 31)}))
    national = calendar_from_spec(office(name="national", include=["ru-production"]))
    customer = calendar_from_spec({"timezone": "Europe/Moscow", "week": {"mon": ["10:00-12:00"]}})
    names: dict[str, Calendar | CalendarLayer] = {
        "republic": regional, "national": national, "customer": customer}
    cal = calendar_from_spec(office(include=["national", "republic"], intersect=["customer"]),
                             resolve=names)
    assert hours_on(cal, date(2025, 3, 31)) == 0  # regional day off (a Monday)
    assert hours_on(cal, date(2025, 4, 7)) == 2  # customer hours only
    assert hours_on(cal, date(2025, 5, 5)) == 2

    def lookup(name: str) -> Calendar | CalendarLayer | None:
        return names.get(name)

    assert calendar_from_spec(office(include=["republic"]), resolve=lookup) is not None


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("week", "path", "fragment"),
    [
        ({"mon": ["9:00-25:00"]}, "week.mon[0]", "25:00 is not a time of day"),
        ({"mon": ["18:00-09:00"]}, "week.mon[0]", "ends before it starts"),
        ({"tue": ["09:00-09:00"]}, "week.tue[0]", "empty"),
        ({"mon": ["09:00-13:00", "12:00-15:00"]}, "week.mon[1]", "overlaps week.mon[0]"),
        ({"mon": ["nine-five"]}, "week.mon[0]", "is not a time"),
        ({"mon": ["09:00"]}, "week.mon[0]", "one '-'"),
        ({"mon": ["09:60-10:00"]}, "week.mon[0]", "not a time of day"),
        ({"mon": ["24:00-24:00"]}, "week.mon[0]", "cannot start at 24:00"),
        ({"mon": ["20:00-24:30"]}, "week.mon[0]", "24:30 is not a time of day"),
        ({"mon": [900]}, "week.mon[0]", "expected an interval string"),
        ({"monday": ["09:00-18:00"]}, "week.monday", "unknown weekday"),
        ({"mo": ["09:00-18:00"]}, "week.mo", "unknown weekday"),
        ("weekdays", "week", "expected a mapping"),
    ],
)
def test_bad_week_is_refused_naming_the_field_and_value(week: object, path: str, fragment: str) -> None:
    with pytest.raises(CalendarSpecError) as caught:
        calendar_from_spec({"timezone": "Europe/Moscow", "week": week})
    assert caught.value.path == path
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"{path}: ")
    assert isinstance(caught.value, ConfigError)


def test_overlap_error_shows_both_intervals_and_a_hint() -> None:
    with pytest.raises(CalendarSpecError) as caught:
        calendar_from_spec({"timezone": "UTC", "week": {"mon": ["09:00-13:00", "12:00-15:00"]}})
    message = str(caught.value)
    assert "'12:00-15:00'" in message
    assert "09:00-13:00" in message
    assert "must not overlap" in message


def test_night_shift_error_suggests_splitting_at_midnight() -> None:
    with pytest.raises(CalendarSpecError, match=r"'18:00-24:00' on this day and '00:00-09:00'"):
        calendar_from_spec({"timezone": "UTC", "week": {"fri": ["18:00-09:00"]}})


def test_unknown_weekday_suggests_the_key() -> None:
    with pytest.raises(CalendarSpecError, match="Did you mean 'mon'"):
        calendar_from_spec({"timezone": "UTC", "week": {"monday": []}})


def test_unknown_time_zone_is_refused_with_a_close_match() -> None:
    with pytest.raises(CalendarSpecError, match="Did you mean 'Europe/Moscow'") as caught:
        calendar_from_spec({"timezone": "Europe/Moskow", "week": {}})
    assert caught.value.path == "timezone"
    assert caught.value.value == "Europe/Moskow"


@pytest.mark.parametrize(
    ("extra", "path", "fragment"),
    [
        ({"holidays": ["2026-02-30"]}, "holidays[0]", "expected a date"),
        ({"holidays": ["2026-05-11T18:00/2026-05-11T14:00"]}, "holidays[0]", "ends before"),
        ({"holidays": ["2026-05-11T14:00/2026-05-11T18:00+03:00"]}, "holidays[0]", "offset"),
        ({"holidays": ["2026-05-08/2026-05-01"]}, "holidays[0]", "ends before"),
        ({"holidays": "2026-01-01"}, "holidays", "expected a list"),
        ({"overrides": {"2026-13-01": []}}, "overrides.2026-13-01", "expected a date"),
        ({"overrides": {"2026-11-03": ["09:00-13:00", "14:00-25:00"]}}, "overrides.2026-11-03[1]",
         "not a time of day"),
        ({"holidays": ["2026-11-03"], "overrides": {"2026-11-03": []}}, "overrides.2026-11-03",
         "both a holiday and overridden"),
        ({"include": ["ru-prodution"]}, "include[0]", "Did you mean 'ru-production'"),
        ({"intersect": ["ru-production"]}, "intersect[0]", "date data, not a calendar"),
        ({"workday": ["09:00-08:00"]}, "workday[0]", "ends before"),
        ({"holliday": []}, "holliday", "Did you mean 'holidays'"),
        ({"name": ""}, "name", "non-empty"),
    ],
)
def test_bad_spec_fields_are_refused_naming_the_path(
    office: Office, extra: dict[str, object], path: str, fragment: str
) -> None:
    with pytest.raises(CalendarSpecError) as caught:
        calendar_from_spec(office(**extra))
    assert caught.value.path == path
    assert fragment in str(caught.value)


def test_missing_timezone_and_path_prefix_for_config_loaders() -> None:
    with pytest.raises(CalendarSpecError) as caught:
        calendar_from_spec({"week": {}}, path="calendars.support")
    assert caught.value.path == "calendars.support.timezone"
    with pytest.raises(CalendarSpecError) as caught:
        calendar_from_spec({"timezone": "UTC", "week": {"mon": ["x"]}}, path="calendars.support")
    assert caught.value.path == "calendars.support.week.mon[0]"


def test_a_composed_calendar_cannot_be_included(office: Office) -> None:
    composed = calendar_from_spec(office()) & calendar_from_spec(office())
    with pytest.raises(CalendarSpecError, match="cannot be included"):
        calendar_from_spec(office(include=["both"]), resolve={"both": composed})


def test_direct_construction_validates_too() -> None:
    with pytest.raises(CalendarSpecError, match="seven days"):
        WeeklyCalendar("x", "UTC", ((),) * 6)
    with pytest.raises(CalendarSpecError) as caught:
        WeeklyCalendar("x", "UTC", (((3600, 7200), (7000, 9000)),) + ((),) * 6)
    assert caught.value.path == "week.mon[1]"
    with pytest.raises(CalendarSpecError, match="expected one or more calendars"):
        Calendar.intersect()


def test_the_fields_a_plan_depends_on_follow_what_the_policies_match_on() -> None:
    from sla.policy import PolicySpec, fields_read
    from sla.settings import SlaConfig

    policies = [PolicySpec.model_validate(p) for p in (
        {"name": "vip", "match": {"customer": ["ООО Ромашка"], "channel": ["phone"]}, "calendar": "office",
         "targets": {"resolution": "4h"}},
        {"name": "night", "match": {"team": ["Вторая линия"], "when": "priority == 'high' and number != ''"},
         "calendar": "office", "targets": {"resolution": "8h"}},
        {"name": "rest", "calendar": "office", "targets": {"resolution": "48h"}})]
    assert fields_read(policies) == {"customer_id", "channel", "team_id", "priority", "number"}
    planned = SlaConfig().planned_from  # the default policies match on type, priority and channel, not on text
    assert {"status", "created_at", "resolved_at", "deleted", "type", "priority"} <= planned
    assert not {"subject", "description", "number", "tags"} & planned


def test_every_request_field_the_plan_reads_is_an_input_of_the_plan_or_matchable_by_a_policy() -> None:
    """Ties ``SlaConfig.planned_from`` to what building a request's facts really reads: a
    field read there but in neither set would be skipped by the import's re-plan check."""
    from datetime import datetime
    from typing import Any
    from zoneinfo import ZoneInfo

    from sla import engine
    from sla.policy import _FACT_SOURCE, _FIELDS
    from sla.settings import _CLOCK_FIELDS

    read: set[str] = set()

    class Recording:
        def __getattr__(self, name: str) -> Any:
            read.add(name)
            return datetime(2026, 12, 1, 9, 0, tzinfo=ZoneInfo("UTC")) if name.endswith("_at") else []

    engine._facts(Recording(), [], None, None)  # type: ignore[arg-type]
    matchable = {_FACT_SOURCE.get(name, name) for name in _FIELDS}
    assert read - {"id"} <= _CLOCK_FIELDS | matchable, read - _CLOCK_FIELDS - matchable
    assert {"created_at", "status", "priority", "type"} <= read  # the recording saw the real reads


def test_a_match_copied_with_new_conditions_explains_and_checks_the_new_ones() -> None:
    from sla.policy import Match

    match = Match(priority=["high"], team=["Линия 1"])
    assert (match.reason, [name for name, _, _ in match.listed]) == ("priority in high; team in Линия 1", ["priority", "team"])
    copy = match.model_copy(update={"team": None, "segment": ["VIP"]})
    assert copy.reason == "priority in high; segment in VIP"
    assert [(name, shown) for name, _, shown in copy.listed] == [("priority", "high"), ("segment", "VIP")]
    assert match.reason == "priority in high; team in Линия 1"  # the original keeps its own
