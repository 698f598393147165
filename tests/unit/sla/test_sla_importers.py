"""Importers (xmlcalendar XML, iCal) and the shipped production calendar data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sla import (
    Calendar,
    CalendarDataError,
    CalendarLayer,
    WeeklyCalendar,
    business_between,
    calendar_from_spec,
    load_ical,
    load_production_json,
    load_xmlcalendar,
    parse_ical,
    parse_xmlcalendar,
    ru_production,
)

MSK = ZoneInfo("Europe/Moscow")
H = timedelta(hours=1)
DAY = ["09:00-13:00", "14:00-18:00"]


def office_with(*layers: CalendarLayer) -> WeeklyCalendar:
    cal = calendar_from_spec({"name": "office", "timezone": "Europe/Moscow",
                              "week": {d: DAY for d in ("mon", "tue", "wed", "thu", "fri")}})
    assert isinstance(cal, WeeklyCalendar)
    return cal.layered(*layers)


def hours_on(calendar: Calendar, day: date) -> float:
    start = datetime(day.year, day.month, day.day, tzinfo=MSK)
    return business_between(calendar, start, start + timedelta(days=1)) / H


# --- xmlcalendar -----------------------------------------------------------------------------


def test_xmlcalendar_day_types_become_closed_shortened_and_working_days(fixtures_dir: Path) -> None:
    layer = load_xmlcalendar(fixtures_dir / "xmlcalendar-2024.xml")
    assert layer.years == (2024,)
    cal = office_with(layer)
    assert hours_on(cal, date(2024, 1, 2)) == 0  # t=1
    assert hours_on(cal, date(2024, 3, 7)) == 7  # t=2 on a weekday
    assert hours_on(cal, date(2024, 4, 27)) == 8  # t=3 working Saturday
    assert hours_on(cal, date(2024, 11, 2)) == 7  # t=2 on a Saturday: working and shortened
    assert hours_on(cal, date(2024, 12, 28)) == 8  # named only by f="12.28" (older files)
    assert hours_on(cal, date(2024, 1, 6)) == 0  # named by f= but listed as a day off itself


def test_xmlcalendar_agrees_with_the_shipped_calendar_on_its_days(fixtures_dir: Path) -> None:
    imported = office_with(load_xmlcalendar(fixtures_dir / "xmlcalendar-2024.xml"))
    shipped = office_with(ru_production())
    for day in (date(2024, 3, 7), date(2024, 4, 27), date(2024, 4, 29), date(2024, 11, 2),
                date(2024, 12, 28), date(2024, 12, 30)):
        assert hours_on(imported, day) == hours_on(shipped, day), day


def test_regional_xmlcalendar_layered_on_the_national_calendar(fixtures_dir: Path) -> None:
    regional = load_xmlcalendar(fixtures_dir / "xmlcalendar-regional-2025.xml", name="region")
    cal = office_with(ru_production(), regional)
    assert hours_on(cal, date(2025, 3, 31)) == 0  # regional day off
    assert hours_on(cal, date(2025, 6, 5)) == 7  # regional eve
    assert hours_on(cal, date(2025, 5, 2)) == 0  # national day off kept


def test_several_xmlcalendar_years_load_into_one_layer(fixtures_dir: Path) -> None:
    layer = load_xmlcalendar(fixtures_dir / "xmlcalendar-2024.xml",
                             fixtures_dir / "xmlcalendar-regional-2025.xml", name="both")
    assert layer.years == (2024, 2025)
    assert date(2024, 1, 1) in layer.closed
    assert date(2025, 8, 30) in layer.closed


def test_xmlcalendar_through_a_spec_resolver(fixtures_dir: Path) -> None:
    layer = load_xmlcalendar(fixtures_dir / "xmlcalendar-regional-2025.xml")
    cal = calendar_from_spec({"timezone": "Europe/Moscow", "week": {"mon": DAY},
                              "include": ["ru-production", "region"]}, resolve={"region": layer})
    assert hours_on(cal, date(2025, 3, 31)) == 0


@pytest.mark.parametrize("name", ["doctype-entities.xml", "external-entity.xml"])
def test_xml_with_a_doctype_is_refused(fixtures_dir: Path, name: str) -> None:
    with pytest.raises(CalendarDataError, match="DOCTYPE") as caught:
        load_xmlcalendar(fixtures_dir / name)
    assert caught.value.path.startswith(f"{fixtures_dir / name}:")  # the file and the line


@pytest.mark.parametrize(
    ("xml", "fragment"),
    [
        ("<calendar year='2024'><days><day d='02.30' t='1'/></days></calendar>", "not a date"),
        ("<calendar year='2024'><days><day d='01.01' t='7'/></days></calendar>", "unknown day type"),
        ("<calendar><days/></calendar>", "missing or invalid year"),
        ("<holidays/>", "root element is not <calendar>"),
        ("<calendar year='2024'><days><day d='01.01' t='1'/><day d='01.01' t='3'/></days></calendar>",
         "already listed"),
        ("<calendar year='2024'><days>", "not well-formed"),
    ],
)
def test_malformed_xmlcalendar_is_refused_with_the_place(xml: str, fragment: str) -> None:
    with pytest.raises(CalendarDataError, match=fragment) as caught:
        parse_xmlcalendar(xml, where="x.xml")
    assert caught.value.path.startswith("x.xml")


def test_unreadable_xmlcalendar_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CalendarDataError) as caught:
        load_xmlcalendar(tmp_path / "missing.xml")
    assert caught.value.path.endswith("missing.xml")


def test_xmlcalendar_errors_name_the_line_of_the_element() -> None:
    xml = "<calendar year='2028'>\n<days>\n<day d='01.01' t='1'/>\n<day d='02.30' t='1'/>\n</days></calendar>"
    with pytest.raises(CalendarDataError, match="not a date of the file's year") as caught:
        parse_xmlcalendar(xml, where="ru-2028.xml")
    assert caught.value.path == "ru-2028.xml:4: <day d='02.30'>"


def test_xml_syntax_errors_give_expat_line_and_column_and_the_line_text() -> None:
    with pytest.raises(CalendarDataError, match="mismatched tag") as caught:
        parse_xmlcalendar("<calendar year='2028'>\n<days>\n  </dys>\n</calendar>", where="x.xml")
    assert caught.value.path == "x.xml:3:5"
    assert "(got '</dys>')" in str(caught.value)


def test_an_xmlcalendar_layer_keeps_the_year_of_its_file(fixtures_dir: Path) -> None:
    assert load_xmlcalendar(fixtures_dir / "xmlcalendar-2024.xml").years == (2024,)


# --- iCal ---------------------------------------------------------------------------------------


def test_ical_events_close_dates_and_ranges_and_mark_working_days(fixtures_dir: Path) -> None:
    layer = load_ical(fixtures_dir / "holidays-2026.ics")
    cal = office_with(layer)
    assert business_between(cal, datetime(2026, 1, 1, tzinfo=MSK),
                            datetime(2026, 1, 10, tzinfo=MSK)) == timedelta(0)  # DTEND exclusive
    assert hours_on(cal, date(2026, 1, 12)) == 8
    assert hours_on(cal, date(2026, 1, 5)) == 0  # the cancelled event changes nothing ...
    assert date(2026, 1, 5) in layer.closed  # ... because the holiday block covers it
    assert hours_on(cal, date(2026, 5, 11)) == 4  # timed TZID closure 14:00-18:00
    assert hours_on(cal, date(2026, 5, 12)) == 7  # 06:00-07:00 UTC = 09:00-10:00 Moscow
    assert hours_on(cal, date(2026, 5, 13)) == 7  # floating 09:00-10:00 wall clock
    assert hours_on(cal, date(2026, 12, 26)) == 8  # category WORKDAY on a Saturday
    assert hours_on(cal, date(2026, 12, 30)) == 7  # [shortday] keyword
    assert hours_on(cal, date(2026, 12, 31)) == 0


def test_ical_marker_names_are_configurable(fixtures_dir: Path) -> None:
    data = (fixtures_dir / "holidays-2026.ics").read_bytes()
    layer = parse_ical(data, workday_category="RABOCHIY", shortday_keyword="[короткий]")
    assert date(2026, 12, 26) in layer.closed
    assert date(2026, 12, 30) in layer.closed


def test_recurring_ical_events_are_refused(fixtures_dir: Path) -> None:
    with pytest.raises(CalendarDataError, match="recurring events are not expanded"):
        load_ical(fixtures_dir / "recurring.ics")


def test_a_timed_working_day_event_is_refused(fixtures_dir: Path) -> None:
    with pytest.raises(CalendarDataError, match="timed event cannot mark a working"):
        load_ical(fixtures_dir / "timed-workday.ics")


def test_not_an_ical_file_is_refused() -> None:
    with pytest.raises(CalendarDataError, match="not an iCalendar file"):
        parse_ical(b"hello", where="x.ics")


def test_a_utc_ical_range_stays_exact_in_another_zone(fixtures_dir: Path) -> None:
    layer = load_ical(fixtures_dir / "holidays-2026.ics")
    cal = calendar_from_spec({"timezone": "UTC", "week": {"tue": ["05:00-08:00"]}})
    assert isinstance(cal, WeeklyCalendar)
    start = datetime(2026, 5, 12, tzinfo=UTC)
    assert business_between(cal.layered(layer), start, start + timedelta(days=1)) == 2 * H


# --- production calendar JSON ---------------------------------------------------------------------


SHIPPED = Path(__file__).resolve().parents[3] / "sla" / "data" / "ru-production.json"


def test_shipped_production_calendar_keeps_its_sources() -> None:
    data = json.loads(SHIPPED.read_text(encoding="utf-8"))
    assert "xmlcalendar" in data["_meta"]["sources"]
    assert "labour_code" in data["_meta"]["sources"]
    assert ru_production().years == (2023, 2024, 2025, 2026, 2027)
    assert "xmlcalendar" in ru_production().source


@pytest.mark.parametrize("year", ["2023", "2024", "2025", "2026", "2027"])
def test_shipped_data_matches_its_own_yearly_totals(year: str) -> None:
    data = json.loads(SHIPPED.read_text(encoding="utf-8"))[year]
    cal = office_with(ru_production())
    y = int(year)
    days = sum(1 for n in range((date(y + 1, 1, 1) - date(y, 1, 1)).days)
               if hours_on(cal, date(y, 1, 1) + timedelta(days=n)) > 0)
    assert days == data["working_days"]
    if year == "2027":  # the decree's own totals, not only the file's
        assert (days, data["hours_40h_week"]) == (247, 1972)
    total = business_between(cal, datetime(y, 1, 1, tzinfo=MSK), datetime(y + 1, 1, 1, tzinfo=MSK))
    assert total == data["hours_40h_week"] * H


def test_production_json_loader_reads_the_shipped_format(fixtures_dir: Path) -> None:
    layer = load_production_json(fixtures_dir / "production-mini.json")
    assert layer.name == "production-mini"
    cal = office_with(layer)
    assert hours_on(cal, date(2027, 1, 4)) == 0
    assert hours_on(cal, date(2027, 1, 9)) == 7  # working and shortened Saturday


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("[]", "expected a JSON object"),
        ("{", "cannot read"),
        ('{"2027": {"holidays": {"dates": ["2026-01-01"]}}}', "date outside 2027"),
        ('{"2027": {"holidays": {"dates": ["2027-01-01"]}, "shortened": {"dates": ["2027-01-01"]}}}',
         "both closed and working"),
        ('{"next": {}}', "expected a year object"),
        ('{"2027": {"holidays": ["2027-01-01"]}}', "expected {\"dates\""),
    ],
)
def test_malformed_production_json_is_refused(tmp_path: Path, content: str, fragment: str) -> None:
    file = tmp_path / "bad.json"
    file.write_text(content, encoding="utf-8")
    with pytest.raises(CalendarDataError) as caught:
        load_production_json(file)
    assert fragment in str(caught.value)
    assert str(file) in caught.value.path


# --- iCal: places and years ------------------------------------------------------------------


def test_ical_layer_keeps_the_years_its_events_touch(fixtures_dir: Path) -> None:
    assert load_ical(fixtures_dir / "holidays-2026.ics").years == (2026,)
    ics = ("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nDTSTART;VALUE=DATE:20271231\nDTEND;VALUE=DATE:20280102\n"
           "END:VEVENT\nBEGIN:VEVENT\nUID:b\nDTSTART:20300101T090000\nDTEND:20300101T100000\nEND:VEVENT\n"
           "BEGIN:VEVENT\nUID:c\nSTATUS:CANCELLED\nDTSTART;VALUE=DATE:20350101\nEND:VEVENT\nEND:VCALENDAR\n")
    assert parse_ical(ics).years == (2027, 2028, 2030)  # a cancelled event covers nothing


def test_ical_event_errors_name_the_line_uid_and_summary() -> None:
    ics = ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:closure-7\r\nSUMMARY:Stocktaking\r\n"
           "DTSTART;VALUE=DATE:2026XX01\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    with pytest.raises(CalendarDataError, match="DTSTART is not a date or date-time") as caught:
        parse_ical(ics, where="closures.ics")
    assert caught.value.path == "closures.ics:5: VEVENT 'closure-7' 'Stocktaking'"


def test_recurring_ical_event_is_refused_at_its_rrule_line(fixtures_dir: Path) -> None:
    with pytest.raises(CalendarDataError) as caught:
        load_ical(fixtures_dir / "recurring.ics")
    assert caught.value.path == f"{fixtures_dir / 'recurring.ics'}:9: VEVENT 'rec@test' 'Every New Year'"


def test_broken_ical_structure_is_located() -> None:
    ics = "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20260101\nEND:VCALENDAR\n"
    with pytest.raises(CalendarDataError, match="END:VCALENDAR while BEGIN:VEVENT of line 2 is still open") as caught:
        parse_ical(ics, where="x.ics")
    assert caught.value.path == "x.ics:4"
