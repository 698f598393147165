"""Time off imported from CSV and iCalendar files: what each reads as, the mistakes a
person makes in them reported at the file's line, the files named relative to the
configuration and read again when they change."""

from __future__ import annotations

import logging
import os
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from crm_bridge.app import load_registry
from crm_bridge.config import ConfigErrors, load_config
from routing.roster import file_leaves
from routing.settings import RoutingConfig
from routing.timeoff import TimeOff, TimeOffFileError, parse_csv, parse_ics, read_time_off

MSK = ZoneInfo("Europe/Moscow")


def test_a_csv_lists_leaves_with_both_ends_included_and_an_optional_reason() -> None:
    text = ("agent,from,to,reason\n# exported from the HR sheet\n"
            "Иванова Мария,2026-12-28,2027-01-08,отпуск\n\"Петров, Пётр\",2026-11-24,2026-11-24\n")
    assert parse_csv(text, "leave.csv") == [
        TimeOff("Иванова Мария", date(2026, 12, 28), date(2027, 1, 8), "отпуск", 3),
        TimeOff("Петров, Пётр", date(2026, 11, 24), date(2026, 11, 24), "", 4)]


@pytest.mark.parametrize(("text", "expected"), [
    ("who,from,to\nx,2026-01-01,2026-01-02\n",
     "leave.csv:1: the header needs the columns agent,from,to[,reason]; missing agent (found who, from, to)"),
    ("agent,from,to\nx,2026-01-01,2026-01-02\ny,28.12.2026,2026-12-30\n",
     "leave.csv:3: from '28.12.2026' is not a date; write it as 2026-12-28"),
    ("agent,from,to\nx,2026-01-05,2026-01-02\n",
     "leave.csv:2: time off ends (2026-01-02) before it starts (2026-01-05); swap from and to"),
    ("agent,from,to\n,2026-01-01,2026-01-02\n", "leave.csv:2: no agent; write the agent's name or e-mail first"),
    ("agent,from,to\nx,2026-01-01\n", "leave.csv:2: from and to are both needed (the same day twice for one day)"),
    ("agent,from,to,reason\nПетров, Пётр,2026-01-01,2026-01-02,sick\n",
     "leave.csv:2: 5 values for 4 columns; quote a value holding a comma"),
])
def test_a_broken_csv_is_reported_at_its_line_with_the_fix(text: str, expected: str) -> None:
    with pytest.raises(TimeOffFileError) as caught:
        parse_csv(text, "leave.csv")
    assert str(caught.value) == expected


ICS = """BEGIN:VCALENDAR
VERSION:2.0
BEGIN:VEVENT
DTSTART;VALUE=DATE:20261228
DTEND;VALUE=DATE:20270109
SUMMARY:Иванова Мария - отпуск
END:VEVENT
BEGIN:VEVENT
ATTENDEE;CN=Пётр:mailto:petrov@example.com
SUMMARY:Больничный
DTSTART;TZID=Europe/Moscow:20261124T090000
DTEND;TZID=Europe/Moscow:20261125T000000
END:VEVENT
BEGIN:VEVENT
DTSTART:20261130T220000Z
DTEND:20261201T080000Z
SUMMARY:sidorov@exam
 ple.com: training
END:VEVENT
END:VCALENDAR
"""


def test_an_ics_reads_the_agent_from_attendee_or_summary_and_all_day_ends_exclusive() -> None:
    assert parse_ics(ICS, "leave.ics", MSK) == [
        TimeOff("Иванова Мария", date(2026, 12, 28), date(2027, 1, 8), "отпуск", 6),
        TimeOff("petrov@example.com", date(2026, 11, 24), date(2026, 11, 24), "Больничный", 9),
        # 22:00Z is 01:00 in Moscow on 1 December; a folded SUMMARY is unfolded
        TimeOff("sidorov@example.com", date(2026, 12, 1), date(2026, 12, 1), "training", 17)]


@pytest.mark.parametrize(("event", "expected"), [
    ("DTSTART;VALUE=DATE:20261228\nRRULE:FREQ=WEEKLY\nSUMMARY:x: y\n",
     "leave.ics:4: a recurring time off (RRULE) is not supported; list each leave as its own event"),
    ("SUMMARY:x: y\n", "leave.ics:2: this VEVENT has no DTSTART; give the first day off"),
    ("DTSTART;VALUE=DATE:2026-12-28\nSUMMARY:x\n",
     "leave.ics:3: '2026-12-28' is not an iCalendar date (20261228) or date-time (20261228T090000Z)"),
    ("DTSTART;VALUE=DATE:20261228\n",
     "leave.ics:2: this VEVENT names no agent: add ATTENDEE:mailto:<e-mail> or a SUMMARY '<agent>: <reason>'"),
    ("DTSTART;TZID=Mars/Olympus:20261228T090000\nSUMMARY:x\n",
     "leave.ics:3: unknown time zone TZID=Mars/Olympus; use an IANA name like Europe/Moscow"),
])
def test_a_broken_ics_event_is_reported_at_its_line(event: str, expected: str) -> None:
    with pytest.raises(TimeOffFileError) as caught:
        parse_ics(f"BEGIN:VCALENDAR\nBEGIN:VEVENT\n{event}END:VEVENT\nEND:VCALENDAR\n", "leave.ics", MSK)
    assert str(caught.value) == expected


def test_an_ics_cut_short_is_reported_where_the_event_begins() -> None:
    with pytest.raises(TimeOffFileError, match=r"^leave.ics:2: this VEVENT has no END:VEVENT"):
        parse_ics("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261228\n", "leave.ics", MSK)


def test_a_missing_file_says_where_it_was_looked_for(tmp_path: Path) -> None:
    with pytest.raises(TimeOffFileError) as caught:
        read_time_off(tmp_path / "nope.csv", MSK, shown="nope.csv")
    assert str(caught.value) == "nope.csv: no such file; check routing.time_off_files (relative to the configuration file)"


CONFIG = """store: {{url: "sqlite://"}}
routing:
  agents:
    Иванова Мария: {{}}
    Петров Пётр: {{}}
  time_off_files: [{file}]
"""


def write_config(tmp_path: Path, leave: str, *, name: str = "leave/hr.csv") -> Path:
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(leave, encoding="utf-8")
    (tmp_path / "crm-bridge.yaml").write_text(CONFIG.format(file=name), encoding="utf-8")
    return tmp_path / "crm-bridge.yaml"


def test_a_file_is_named_relative_to_the_configuration_and_checked_at_load(tmp_path: Path) -> None:
    registry, _ = load_registry()
    path = write_config(tmp_path, "agent,from,to\nИванова Мария,2026-12-28,2027-01-08\nivanova@example.com,2026-11-01,2026-11-02\n")
    config: RoutingConfig = load_config(path, registry).section("routing")
    assert config.time_off_files == [str(tmp_path / "leave/hr.csv")]
    assert [t.agent for t in file_leaves(config, MSK)] == ["Иванова Мария", "ivanova@example.com"]


@pytest.mark.parametrize(("leave", "expected"), [
    ("agent,from,to\nИванова Мари,2026-12-28,2027-01-08\n",
     "/leave/hr.csv:2: no agent 'Иванова Мари' is defined under routing.agents. Did you mean 'Иванова Мария'?"),
    ("agent,from,to\nПетров Пётр,2026-12-28,2026-12-01\n",
     "/leave/hr.csv:2: time off ends (2026-12-01) before it starts (2026-12-28); swap from and to"),
])
def test_check_fails_at_the_config_line_naming_the_file_line(tmp_path: Path, leave: str, expected: str) -> None:
    registry, _ = load_registry()
    with pytest.raises(ConfigErrors) as caught:
        load_config(write_config(tmp_path, leave), registry)
    [problem] = caught.value.problems
    assert problem.startswith(f"{tmp_path / 'crm-bridge.yaml'}:6:")
    assert "routing.time_off_files.0: " in problem
    assert expected in problem


def test_an_edited_file_is_read_again_and_a_broken_edit_keeps_the_last_good_read(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    registry, _ = load_registry()
    path = write_config(tmp_path, "agent,from,to\nИванова Мария,2026-12-28,2027-01-08\n")
    config: RoutingConfig = load_config(path, registry).section("routing")
    leave = tmp_path / "leave/hr.csv"
    assert [t.to for t in file_leaves(config, MSK)] == [date(2027, 1, 8)]
    leave.write_text("agent,from,to\nИванова Мария,2026-12-28,2027-01-15\n", encoding="utf-8")
    os.utime(leave, (1e9, 1e9))  # a new modification time, whatever the file system's resolution
    assert [t.to for t in file_leaves(config, MSK)] == [date(2027, 1, 15)]
    leave.write_text("agent,from,to\nИванова Мария,someday,2027-01-15\n", encoding="utf-8")
    os.utime(leave, (2e9, 2e9))
    with caplog.at_level(logging.ERROR, logger="routing.roster"):
        assert [t.to for t in file_leaves(config, MSK)] == [date(2027, 1, 15)]
        assert [t.to for t in file_leaves(config, MSK)] == [date(2027, 1, 15)]
    errors = [r for r in caplog.records if getattr(r, "event", "") == "routing.time_off.invalid"]
    assert len(errors) == 1  # once per change, not at every tick
    assert "hr.csv:2: from 'someday' is not a date" in errors[0].getMessage()
