"""Calendar data that runs out: the Labour Code's rules stand in, and the time is flagged."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sla import Calendar, CalendarLayer, add_business, business_between, calendar_from_spec
from sla.clock import TicketFacts, evaluate
from sla.coverage import WARN_DAYS, coverage_lines
from sla.fingerprint import changed_days, describe_days, fingerprint
from sla.labour_code import labour_code_year
from sla.policy import PolicySpec
from sla.settings import SlaConfig

MSK = ZoneInfo("Europe/Moscow")
H = timedelta(hours=1)
DAY = ["09:00-13:00", "14:00-18:00"]
SHIPPED = Path(__file__).resolve().parents[3] / "sla" / "data" / "ru-production.json"


def office(*layers: str | CalendarLayer) -> Calendar:
    names = [x for x in layers if isinstance(x, str)]
    extra = {x.name: x for x in layers if isinstance(x, CalendarLayer)}
    spec = {"timezone": "Europe/Moscow", "week": dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), DAY),
            "include": [*names, *extra]}
    return calendar_from_spec(spec, resolve=extra)


def msk(*args: int) -> datetime:
    return datetime(*args, tzinfo=MSK)  # type: ignore[misc]


def test_labour_code_year_2028_closes_the_fixed_holidays_and_moves_a_weekend_one() -> None:
    rules = labour_code_year(2028)
    assert {date(2028, 1, d) for d in range(1, 9)} <= rules.closed
    assert {date(2028, 2, 23), date(2028, 3, 8), date(2028, 5, 1), date(2028, 5, 9), date(2028, 6, 12),
            date(2028, 11, 4)} <= rules.closed
    assert date(2028, 11, 6) in rules.closed  # 4 Nov 2028 is a Saturday: Monday 6 Nov off (art. 112 p. 2)
    assert date(2028, 1, 10) not in rules.closed  # January weekend holidays wait for the decree
    # art. 95: the weekday before a holiday is an hour shorter; a Sunday eve shortens nothing
    assert rules.shortened == {date(2028, 2, 22), date(2028, 3, 7), date(2028, 5, 8), date(2028, 11, 3)}


@pytest.mark.parametrize("year", [2023, 2024, 2025, 2026, 2027])
def test_the_labour_code_rules_close_only_days_the_official_calendars_close(year: int) -> None:
    official = {date.fromisoformat(d) for d in json.loads(SHIPPED.read_text("utf-8"))[str(year)]["holidays"]["dates"]}
    extra = labour_code_year(year).closed - official
    # 2025's decree moved the automatic transfers of 23 Feb (Sun) and 8 Mar (Sat) to 8 May and 13 Jun.
    assert extra == ({date(2025, 2, 24), date(2025, 3, 10)} if year == 2025 else set())


def test_a_due_date_past_the_shipped_data_is_computed_on_the_labour_code_and_flagged() -> None:
    cal = office("ru-production")
    opened = msk(2027, 12, 29, 10, 56)
    due = add_business(cal, opened, 24 * H)
    # 29 Dec 6 h 04, 30 Dec 8 h, 31 Dec 2027 off (decree), 1-8 Jan 2028 holidays, 10 Jan 8 h, 11 Jan 1 h 56
    assert due == msk(2028, 1, 11, 10, 56)
    assert [str(g) for g in cal.coverage_gaps(opened, due)] == ["computed beyond ru-production's data (ends 2027-12-31)"]
    assert cal.coverage_gaps(msk(2027, 1, 1), msk(2027, 12, 31, 23, 59)) == ()
    assert [str(g) for g in cal.coverage_gaps(msk(2022, 12, 30), msk(2023, 1, 10))] == [
        "computed before ru-production's data (starts 2023-01-01)"]


def test_a_later_layer_of_the_same_series_continues_the_data_and_wins() -> None:
    # a national file of 2028 (as load_xmlcalendar gives it) holds the whole year: its own holidays
    holidays = {date(2028, 1, d) for d in range(1, 9)} | {date(2028, 1, 10)}
    decree_2028 = CalendarLayer(name="ru-2028", closed=frozenset(holidays), years=(2028,), series="ru")
    cal = office("ru-production", decree_2028)
    opened = msk(2027, 12, 29, 10, 56)
    due = add_business(cal, opened, 24 * H)
    assert due == msk(2028, 1, 12, 10, 56)  # the file's 10 Jan day off: the file wins, no fixed rule stands in
    assert cal.coverage_gaps(opened, due) == ()
    assert [(c.name, c.last) for c in cal.coverage()] == [("ru-production + ru-2028", date(2028, 12, 31))]


def test_a_layer_of_another_series_is_flagged_on_its_own() -> None:
    closures = CalendarLayer(name="company-closures", closed=frozenset({date(2026, 7, 6)}), years=(2026,))
    cal = office("ru-production", closures)
    notes = [str(g) for g in cal.coverage_gaps(msk(2026, 12, 30), msk(2027, 1, 12))]
    assert notes == ["computed beyond company-closures's data (ends 2026-12-31)"]


def test_without_a_flag_2026_plans_keep_their_dates() -> None:
    cal = office("ru-production")
    assert business_between(cal, msk(2026, 1, 1), msk(2027, 1, 1)) == 1972 * H


def test_the_clock_notes_and_records_a_time_computed_past_the_data() -> None:
    policy = PolicySpec.model_validate({"name": "all", "calendar": "office", "targets": {"resolution": "24h"}})
    cal = office("ru-production")
    facts = TicketFacts(msk(2027, 12, 29, 10, 56), {"type": "technical_problem", "priority": "normal", "status": "in_progress"})
    evaluation = evaluate(facts, [policy], lambda _name: cal, msk(2027, 12, 29, 12, 0))
    resolution = evaluation.current("resolution")
    assert resolution is not None
    assert resolution.due == msk(2028, 1, 11, 10, 56)
    assert resolution.notes == ["computed beyond ru-production's data (ends 2027-12-31)"]
    flagged = [e for e in evaluation.events if e.kind == "beyond_data" and e.metric == "resolution"]
    assert [(e.at, e.data["note"]) for e in flagged] == [(facts.created_at, resolution.notes[0])]
    earlier = TicketFacts(msk(2026, 12, 29, 10, 56), facts.initial)
    inside = evaluate(earlier, [policy], lambda _name: cal, msk(2026, 12, 29, 12, 0))
    assert [c.due for c in inside.cycles] == [msk(2027, 1, 12, 10, 56)]
    assert all(not c.notes for c in inside.cycles)  # a request across New Year 2027 stands on data


def test_coverage_lines_warn_sixty_days_before_the_data_ends() -> None:
    settings = SlaConfig()
    early = {(x.calendar, x.days_left) for x in coverage_lines(settings, date(2027, 10, 1))}
    assert early == {("office", (date(2027, 12, 31) - date(2027, 10, 1)).days)}  # 24x7 uses no date data
    [late] = coverage_lines(settings, date(2027, 11, 15))
    assert late.days_left == 46 < WARN_DAYS
    advice = late.advice()
    assert "ru-production's data ends 2027-12-31, in 46 day(s)" in advice
    assert "{xmlcalendar: calendars/ru-2028.xml}" in advice
    assert "sla.calendars.office.include" in advice


def test_fingerprints_find_the_days_an_edit_changed() -> None:
    before = office("ru-production")
    after = office("ru-production", CalendarLayer(name="closure", closed=frozenset({date(2027, 1, 11), date(2027, 1, 12),
                                                                                        date(2027, 3, 1)})))
    digest_a, days_a = fingerprint(before, 2026, 2027)
    digest_b, days_b = fingerprint(after, 2026, 2027)
    assert digest_a != digest_b
    assert days_a["2027-01-11"] == [[9 * 3600, 13 * 3600], [14 * 3600, 18 * 3600]]
    changed = changed_days(days_a, days_b)
    assert changed == [date(2027, 1, 11), date(2027, 1, 12), date(2027, 3, 1)]
    assert describe_days(changed) == "2027-01-11..2027-01-12, 2027-03-01"
    assert fingerprint(office("ru-production"), 2026, 2027)[0] == digest_a  # equal calendars, equal digests


def test_a_national_xmlcalendar_file_of_2028_continues_the_shipped_data(tmp_path: Path) -> None:
    days = "".join(f'<day d="01.{d:02d}" t="1"/>' for d in range(1, 9)) + '<day d="01.10" t="1"/>'
    (tmp_path / "ru-2028.xml").write_text(f'<?xml version="1.0"?><calendar year="2028" country="ru"><days>{days}'
                                          '</days></calendar>', encoding="utf-8")
    (tmp_path / "region-2026.xml").write_text('<?xml version="1.0"?><calendar year="2026" country="ru-ta"><days>'
                                              '<day d="08.30" t="1"/></days></calendar>', encoding="utf-8")
    spec = {"timezone": "Europe/Moscow", "week": dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), DAY)}
    settings = SlaConfig.model_validate({"calendars": {
        "office": {**spec, "include": ["ru-production", {"xmlcalendar": "ru-2028.xml"}]},
        "kazan": {**spec, "include": ["ru-production", {"xmlcalendar": "region-2026.xml", "name": "tatarstan"}]},
    }, "policies": [{"name": "all", "calendar": "office", "targets": {"resolution": "24h"}}]},
        context={"base_dir": tmp_path})
    office_cal, kazan = settings.calendar("office"), settings.calendar("kazan")
    opened = msk(2027, 12, 29, 10, 56)
    assert add_business(office_cal, opened, 24 * H) == msk(2028, 1, 12, 10, 56)  # the file's 10 Jan counts
    assert office_cal.coverage_gaps(opened, msk(2028, 12, 31)) == ()
    assert [(c.name, c.last) for c in office_cal.coverage()] == [("ru-production + ru-2028", date(2028, 12, 31))]
    assert [str(g) for g in kazan.coverage_gaps(msk(2026, 12, 28), msk(2027, 1, 12))] == [
        "computed beyond tatarstan's data (ends 2026-12-31)"]


def test_a_pre_holiday_day_two_layers_shorten_loses_one_hour_not_two() -> None:
    regional = CalendarLayer(name="tatarstan", shortened=frozenset({date(2026, 11, 3)}), years=(2026,), series="ru-ta")
    cal = office("ru-production", regional)  # ru-production shortens 3 Nov 2026 as well
    day = msk(2026, 11, 3)
    assert business_between(cal, day, day + timedelta(days=1)) == 7 * H


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kamchatka", "UTC", "Europe/Moscow"])
def test_a_gap_is_found_by_the_calendars_local_year_from_an_instant_in_any_zone(zone: str) -> None:
    # coverage_gaps skips the zone conversion from February to November: the year must be the
    # converted one on every day, the days around New Year in zones 26 hours apart included
    calendar = office("ru-production")
    here = ZoneInfo(zone)
    for start in (datetime(2026, 1, 1, tzinfo=here), datetime(2026, 1, 31, 23, 59, tzinfo=here),
                  datetime(2026, 2, 1, tzinfo=here), datetime(2027, 11, 30, 23, 59, tzinfo=here),
                  datetime(2027, 12, 1, tzinfo=here), datetime(2027, 12, 31, 23, 59, tzinfo=here)):
        for end in (start, start + timedelta(hours=1), start + timedelta(days=400)):
            converted = calendar.coverage_gaps(start.astimezone(MSK), end.astimezone(MSK))
            assert calendar.coverage_gaps(start, end) == converted, (start, end)
