"""A calendar's year as a wall calendar: day kinds and totals, checked against the data."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sla import Calendar, WeeklyCalendar, business_between, calendar_from_spec, load_xmlcalendar
from sla.calendar_cli import sheet_json
from sla.year_sheet import year_sheet

SHIPPED = json.loads((Path(__file__).resolve().parents[3] / "sla" / "data" / "ru-production.json")
                     .read_text(encoding="utf-8"))
MSK = ZoneInfo("Europe/Moscow")


def kinds(calendar: Calendar, year: int) -> dict[date, str]:
    return {d.day: d.kind for d in year_sheet(calendar, year).days}


def test_the_2026_office_year_classifies_holidays_and_eves_as_the_data_says(ru_calendar: Calendar) -> None:
    days = kinds(ru_calendar, 2026)
    assert len(days) == 365
    assert all(days[date(2026, 1, d)] == "day_off" for d in range(1, 10))  # 1-8 Jan and the 9th (from 3 Jan)
    assert days[date(2026, 12, 31)] == "day_off"  # from Sunday 4 January
    assert days[date(2026, 1, 12)] == "working"
    assert days[date(2026, 1, 17)] == "day_off"  # a Saturday
    shortened = sorted(d.isoformat() for d, kind in days.items() if kind == "shortened")
    assert shortened == SHIPPED["2026"]["shortened"]["dates"]
    closed_weekdays = sorted(d.isoformat() for d, kind in days.items() if kind == "day_off" and d.weekday() < 5)
    assert closed_weekdays == sorted(x for x in SHIPPED["2026"]["holidays"]["dates"] if date.fromisoformat(x).weekday() < 5)
    assert "transferred" not in days.values()  # 2026 has no working weekend days


@pytest.mark.parametrize("year", ["2023", "2024", "2025", "2026"])
def test_yearly_totals_match_the_shipped_data(ru_calendar: Calendar, year: str) -> None:
    sheet = year_sheet(ru_calendar, int(year))
    assert sheet.working_days == SHIPPED[year]["working_days"]
    assert sheet.working_seconds == SHIPPED[year]["hours_40h_week"] * 3600
    start = datetime(int(year), 1, 1, tzinfo=MSK)
    assert timedelta(seconds=sheet.working_seconds) == business_between(ru_calendar, start, start.replace(year=int(year) + 1))


def test_working_weekend_days_are_transferred_and_may_be_shortened(ru_calendar: Calendar) -> None:
    sheet = year_sheet(ru_calendar, 2024)
    transferred = {d.day.isoformat(): (d.shortened, d.seconds // 3600) for d in sheet.days if d.kind == "transferred"}
    assert sorted(transferred) == SHIPPED["2024"]["working_weekends"]["dates"]
    assert transferred["2024-11-02"] == (True, 7)  # a working Saturday before 4 November
    assert transferred["2024-04-27"] == (False, 8)


def test_a_year_from_an_xmlcalendar_file_gives_the_official_totals(ru_calendar: Calendar, fixtures_dir: Path) -> None:
    assert isinstance(ru_calendar, WeeklyCalendar)
    office = ru_calendar.layered(load_xmlcalendar(fixtures_dir / "xmlcalendar-2027.xml"))
    sheet = year_sheet(office, 2027)
    assert (sheet.working_days, sheet.working_seconds // 3600) == (247, 1972)  # the 2027 decree's figures
    feb20 = sheet.days[31 + 19]
    assert (feb20.day, feb20.kind, feb20.shortened, feb20.seconds // 3600) == (date(2027, 2, 20), "transferred", True, 7)
    assert not sheet.uncovered
    # the file's 2027 and the shipped 2027 are one series: the year counts once (shortened days once)
    assert [(x.name, x.years) for x in sheet.layers] == [("ru-production", (2023, 2024, 2025, 2026, 2027)),
                                                         ("xmlcalendar-2027", (2027,))]
    assert (year_sheet(ru_calendar, 2027).working_seconds, year_sheet(ru_calendar, 2027).uncovered) == (
        sheet.working_seconds, False)
    assert year_sheet(ru_calendar, 2028).uncovered  # ru-production ends with 2027


def test_an_intersection_is_read_from_its_working_periods(ru_calendar: Calendar) -> None:
    customer = calendar_from_spec({"name": "acme", "timezone": "Europe/Berlin",
                                   "week": {d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}})
    both = Calendar.intersect(ru_calendar, customer, name="office & acme")
    sheet = year_sheet(both, 2026)
    start = datetime(2026, 1, 1, tzinfo=MSK)
    assert timedelta(seconds=sheet.working_seconds) == business_between(both, start, start.replace(year=2027))
    winter, summer = sheet.days[1 + 31 + 28], sheet.days[31 + 28 + 31 + 30 + 31 + 14]  # Mon 2 Mar, Mon 15 Jun
    # Berlin 08-17 is Moscow 10-19 in winter and 09-18 in summer: summer is the usual day
    assert (winter.kind, winter.intervals) == ("shortened", ((36000, 46800), (50400, 64800)))
    assert (summer.kind, summer.seconds) == ("working", 8 * 3600)
    assert sheet.days[0].kind == "day_off"
    assert {x.calendar for x in sheet.layers} == {"office"}


def test_a_round_the_clock_day_is_one_interval_to_midnight() -> None:
    sheet = year_sheet(calendar_from_spec({"name": "24x7", "timezone": "Europe/Moscow", "week": "24x7"}), 2026)
    assert sheet.working_seconds == 365 * 86400
    assert sheet_json(sheet)["days"][0] == {"date": "2026-01-01", "kind": "working", "shortened": False,
                                             "intervals": ["00:00-24:00"], "hours": 24.0}


def test_json_lists_every_day_with_its_intervals_and_the_totals(ru_calendar: Calendar) -> None:
    data = sheet_json(year_sheet(ru_calendar, 2026))
    assert len(data["days"]) == 365
    assert data["days"][119] == {"date": "2026-04-30", "kind": "shortened", "shortened": True,
                                 "intervals": ["09:00-13:00", "14:00-17:00"], "hours": 7.0}
    assert data["totals"] == {"working_days": SHIPPED["2026"]["working_days"],
                              "working_hours": SHIPPED["2026"]["hours_40h_week"], "shortened_days": 4,
                              "transferred_days": 0, "day_off_days": 365 - SHIPPED["2026"]["working_days"]}
    assert data["layers"][0]["years"] == [2023, 2024, 2025, 2026, 2027]
