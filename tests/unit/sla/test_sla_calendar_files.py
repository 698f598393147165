"""Calendar files named in crm-bridge.yaml: read relative to the file, errors at their lines."""

from __future__ import annotations

import shutil
import textwrap
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from crm_bridge.app import load_registry
from crm_bridge.config import ConfigErrors, config_from_text, load_config
from crm_bridge.registry import Registry
from sla import WeeklyCalendar, add_business
from sla.settings import SlaConfig

MSK = ZoneInfo("Europe/Moscow")
H = timedelta(hours=1)

CLOSURES = """\
BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//ACME//closures//EN
BEGIN:VEVENT
UID:stocktaking-2027@acme
DTSTAMP:20261201T000000Z
SUMMARY:Stocktaking
DTSTART;VALUE=DATE:20270111
END:VEVENT
END:VCALENDAR
"""


def config_text(*includes: str) -> str:
    """An office calendar (Mon-Fri 09-13/14-18 Moscow) with ``includes`` after ru-production.
    The include list is on line 9, ru-production; ``includes`` follow, one entry a line."""
    entries = "".join(f"\n        - {entry}" for entry in includes)
    return textwrap.dedent("""\
        store:
          url: sqlite:///bridge.db
        sla:
          policies: [{name: all, calendar: office, targets: {resolution: 8h}}]
          calendars:
            office:
              timezone: Europe/Moscow
              week: {mon: &day ["09:00-13:00", "14:00-18:00"], tue: *day, wed: *day, thu: *day, fri: *day}
              include:
                - ru-production""") + entries + "\n"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()[0]


@pytest.fixture
def folder(tmp_path: Path, fixtures_dir: Path) -> Path:
    """A configuration folder with calendars/ru-2027.xml and calendars/closures.ics."""
    (tmp_path / "calendars").mkdir()
    shutil.copy(fixtures_dir / "xmlcalendar-2027.xml", tmp_path / "calendars" / "ru-2027.xml")
    (tmp_path / "calendars" / "closures.ics").write_text(CLOSURES, encoding="utf-8")
    return tmp_path


def load(folder: Path, registry: Registry, *includes: str) -> SlaConfig:
    path = folder / "crm-bridge.yaml"
    path.write_text(config_text(*includes), encoding="utf-8")
    settings: SlaConfig = load_config(path, registry).section("sla")
    return settings


def problems(folder: Path, registry: Registry, *includes: str) -> str:
    with pytest.raises(ConfigErrors) as caught:
        load(folder, registry, *includes)
    assert len(caught.value.problems) == 1
    return caught.value.problems[0]


# --- files change the due dates -----------------------------------------------------------------


def test_calendar_files_next_to_the_config_move_the_due_date(folder: Path, registry: Registry) -> None:
    opened = datetime(2027, 12, 30, 17, 0, tzinfo=MSK)  # 31 Dec 2027 is off in ru-production
    days = "".join(f'<day d="01.{d:02d}" t="1"/>' for d in (*range(1, 9), 10))  # a decree moving 8 Jan to 10 Jan
    (folder / "calendars" / "ru-2028.xml").write_text(
        f'<calendar year="2028" country="ru"><days>{days}</days></calendar>', encoding="utf-8")
    (folder / "calendars" / "closures-2028.ics").write_text(
        CLOSURES.replace("2027", "2028"), encoding="utf-8")  # stocktaking on Tuesday 11 Jan 2028
    plain = load(folder, registry).calendar("office")
    # ru-production ends with 2027: past it the Labour Code's 1-8 January stand in (flagged)
    assert add_business(plain, opened, 8 * H) == datetime(2028, 1, 10, 17, 0, tzinfo=MSK)
    assert plain.coverage_gaps(opened, datetime(2028, 1, 10, tzinfo=MSK))
    national = load(folder, registry, "{xmlcalendar: calendars/ru-2028.xml}").calendar("office")
    # the national 2028 file continues the shipped data (series ru) and wins: Tuesday 11 January
    assert add_business(national, opened, 8 * H) == datetime(2028, 1, 11, 17, 0, tzinfo=MSK)
    assert national.coverage_gaps(opened, datetime(2028, 1, 11, tzinfo=MSK)) == ()
    company = load(folder, registry, "{xmlcalendar: calendars/ru-2028.xml}",
                   "{ical: calendars/closures-2028.ics, name: acme closures}").calendar("office")
    assert add_business(company, opened, 8 * H) == datetime(2028, 1, 12, 17, 0, tzinfo=MSK)  # stocktaking day
    assert isinstance(company, WeeklyCalendar)
    assert [(layer.name, layer.years) for layer in company.layers] == [
        ("ru-production", (2023, 2024, 2025, 2026, 2027)), ("ru-2028", (2028,)), ("acme closures", (2028,))]


def test_an_absolute_path_is_taken_as_it_is(folder: Path, registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    settings = load(elsewhere, registry, f"{{xmlcalendar: {folder / 'calendars' / 'ru-2027.xml'}}}")
    office = settings.calendar("office")
    assert isinstance(office, WeeklyCalendar)
    assert office.layers[-1].name == "ru-2027"


def test_config_text_without_a_file_reads_relative_paths_from_the_current_folder(
        folder: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(folder)
    settings: SlaConfig = config_from_text(config_text("{ical: calendars/closures.ics}"), registry).section("sla")
    office = settings.calendar("office")
    assert isinstance(office, WeeklyCalendar)
    assert office.layers[-1].name == "closures"  # the file's stem by default


# --- malformed files and entries: the config's line and the file's -----------------------------


def test_a_missing_file_names_the_include_line_and_where_it_was_looked_for(folder: Path, registry: Registry) -> None:
    problem = problems(folder, registry, "{ical: calendars/closures.ics}", "{xmlcalendar: calendars/ru-2028.xml}")
    config = folder / "crm-bridge.yaml"
    assert problem.startswith(f"{config}:12:12: sla.calendars.office.include.2.xmlcalendar: "
                              f"{folder / 'calendars' / 'ru-2028.xml'}: no such file (looked for ")
    assert "read from the configuration file's folder; fix the path or add the file" in problem


def test_an_xml_syntax_error_names_the_include_and_the_xml_line(folder: Path, registry: Registry) -> None:
    (folder / "calendars" / "ru-2027.xml").write_text(
        '<calendar year="2027">\n<days>\n    <day d="01.01" t="1">\n</days>\n</calendar>\n', encoding="utf-8")
    problem = problems(folder, registry, "{xmlcalendar: calendars/ru-2027.xml}")
    xml = folder / "calendars" / "ru-2027.xml"
    assert problem.startswith(f"{folder / 'crm-bridge.yaml'}:11:11: sla.calendars.office.include.1: "
                              f"{xml}:4:3: not well-formed XML: mismatched tag (got '</days>').")


def test_a_bad_day_attribute_names_the_element_line(folder: Path, registry: Registry) -> None:
    xml = folder / "calendars" / "ru-2027.xml"
    xml.write_text(xml.read_text(encoding="utf-8").replace('<day d="02.23" t="1"/>', '<day d="02.30" t="1"/>'),
                   encoding="utf-8")
    problem = problems(folder, registry, "{xmlcalendar: calendars/ru-2027.xml}")
    assert problem == (f"{folder / 'crm-bridge.yaml'}:11:11: sla.calendars.office.include.1: {xml}:20: "
                       """<day d='02.30'>: not a date of the file's year (got '02.30'). Write d="MM.DD", e.g. d="01.07".""")


def test_a_recurring_ical_event_names_the_rrule_line_and_the_event(folder: Path, registry: Registry) -> None:
    ics = folder / "calendars" / "closures.ics"
    ics.write_text(CLOSURES.replace("END:VEVENT", "RRULE:FREQ=YEARLY\nEND:VEVENT"), encoding="utf-8")
    problem = problems(folder, registry, "{ical: calendars/closures.ics}")
    assert problem.startswith(f"{folder / 'crm-bridge.yaml'}:11:11: sla.calendars.office.include.1: "
                              f"{ics}:9: VEVENT 'stocktaking-2027@acme' 'Stocktaking': recurring events are not expanded")
    assert "Export the calendar with one event per occurrence" in problem


def test_a_broken_ical_file_names_its_line(folder: Path, registry: Registry) -> None:
    ics = folder / "calendars" / "closures.ics"
    ics.write_text(CLOSURES.replace("END:VEVENT\n", ""), encoding="utf-8")
    problem = problems(folder, registry, "{ical: calendars/closures.ics}")
    assert problem.startswith(f"{folder / 'crm-bridge.yaml'}:11:11: sla.calendars.office.include.1: "
                              f"{ics}:9: not an iCalendar file: END:VCALENDAR while BEGIN:VEVENT of line 4 is still open.")


def test_an_unknown_key_in_an_include_entry_gets_a_did_you_mean(folder: Path, registry: Registry) -> None:
    problem = problems(folder, registry, "{xmlcal: calendars/ru-2027.xml}")
    assert problem.startswith(f"{folder / 'crm-bridge.yaml'}:11:12: sla.calendars.office.include.1.xmlcal: "
                              "unknown key in an include entry (got 'xmlcal').")
    assert problem.endswith("Did you mean 'xmlcalendar'?")


def test_an_entry_naming_two_files_is_refused(folder: Path, registry: Registry) -> None:
    problem = problems(folder, registry, "{xmlcalendar: calendars/ru-2027.xml, ical: calendars/closures.ics}")
    assert f"{folder / 'crm-bridge.yaml'}:11:11: sla.calendars.office.include.1: an include entry names exactly one file" in problem


def test_a_spec_error_points_at_its_field_not_at_the_sla_key(folder: Path, registry: Registry) -> None:
    path = folder / "crm-bridge.yaml"
    path.write_text(config_text().replace('tue: *day', 'tue: ["18:00-09:00"]'), encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_config(path, registry)
    assert caught.value.problems[0].startswith(
        f"{path}:8:62: sla.calendars.office.week.tue.0: the interval ends before it starts (got '18:00-09:00').")


def test_a_policy_on_an_undefined_calendar_points_at_its_calendar_key(folder: Path, registry: Registry) -> None:
    path = folder / "crm-bridge.yaml"
    path.write_text(config_text().replace("calendar: office", "calendar: ofice"), encoding="utf-8")
    with pytest.raises(ConfigErrors) as caught:
        load_config(path, registry)
    assert caught.value.problems == [
        f"{path}:4:26: sla.policies.0.calendar: policy 'all' uses calendar 'ofice', which is not defined. "
        "Did you mean 'office'? Defined: office"]
