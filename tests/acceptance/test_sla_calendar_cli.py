"""`crm-bridge sla calendar show` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "crm_bridge"]
SHIPPED = json.loads((Path(__file__).resolve().parents[2] / "sla" / "data" / "ru-production.json").read_text(encoding="utf-8"))


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "COLUMNS": "160", "HOME": str(tmp_path)}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """No sla: section, so the shipped default applies: office = Mon-Fri 09-13/14-18 Moscow with ru-production."""
    path = tmp_path / "crm-bridge.yaml"
    path.write_text("store:\n  url: sqlite:///bridge.db\n", encoding="utf-8")
    return path


def show(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "-c", str(config), "sla", "calendar", "show", *args],
                          env=env, capture_output=True, text=True)


def test_json_gives_every_day_of_2026_and_the_data_s_totals(config: Path, env: dict[str, str]) -> None:
    done = show(config, env, "office", "--year", "2026", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["totals"]["working_days"] == SHIPPED["2026"]["working_days"]
    assert data["totals"]["working_hours"] == SHIPPED["2026"]["hours_40h_week"]
    days = {d["date"]: d for d in data["days"]}
    assert days["2026-01-08"]["kind"] == "day_off"
    assert days["2026-11-03"] == {"date": "2026-11-03", "kind": "shortened", "shortened": True,
                                  "intervals": ["09:00-13:00", "14:00-17:00"], "hours": 7.0}


def test_the_text_grid_shows_the_months_the_marks_and_the_legend(config: Path, env: dict[str, str]) -> None:
    done = show(config, env, "office", "--year", "2026")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert all(month in out for month in ("January", "June", "December"))
    assert "Mo   Tu   We   Th   Fr   Sa   Su" in out
    assert " 1-   2-   3-   4-" in out  # 1-4 January 2026, Thursday to Sunday: days off
    assert "Legend: 12 working day   12* shortened   12- day off   12+ transferred working day" in out
    days, hours = SHIPPED["2026"]["working_days"], SHIPPED["2026"]["hours_40h_week"]
    assert f"2026: {days} working days (4 shortened, 0 transferred), {hours:,} working hours; {365 - days} days off" in out
    assert "│ ru-production │ office      │ 2023–2027 │ yes" in out  # the layer, the years it covers


def test_an_unknown_calendar_is_one_line_with_the_defined_names(config: Path, env: dict[str, str]) -> None:
    done = show(config, env, "ofice", "--year", "2026")
    assert done.returncode == 1
    assert done.stderr.strip() == f"no calendar 'ofice' in sla.calendars of {config}. Did you mean 'office'? Defined: office, 24x7."


def test_a_calendar_without_working_time_fails_check_once_with_its_line(tmp_path: Path, env: dict[str, str]) -> None:
    config = tmp_path / "crm-bridge.yaml"
    config.write_text("store:\n  url: sqlite:///bridge.db\nsla:\n  calendars:\n    closed:\n      timezone: Europe/Moscow\n"
                      "      week: {sat: [], sun: []}\n  policies:\n"
                      "    - {name: everything, calendar: closed, targets: {resolution: 8h}}\n", encoding="utf-8")
    for command in (["check"], ["run", "--once"]):
        done = subprocess.run([*CLI, "-c", str(config), *command], env={**env, "COLUMNS": "300"},
                              capture_output=True, text=True)
        assert done.returncode == 2, (command, done.stdout, done.stderr)
        said = done.stdout + done.stderr
        assert f"{config}:5:5: sla.calendars.closed: calendar 'closed' has no working hours in any week day; " \
               "policies 'everything' can never be met on it" in said
        assert "Traceback" not in said
        assert said.count("has no working hours") == 1
