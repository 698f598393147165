"""`crm-bridge routing simulate` as a supervisor weighing a rule change: November replayed
under the configured rules and under a proposed file, beside what actually happened."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from crm_bridge.app import App
from crm_bridge.store.tables import AgentRow, TicketRow
from routing.tables import RoutingCreditRow, RoutingLogRow, RoutingPointerRow

CLI = [sys.executable, "-m", "crm_bridge"]
MSK = ZoneInfo("Europe/Moscow")

CONFIG = """
timezone: Europe/Moscow
store: {{url: "sqlite:///{db}"}}
sla:
  calendars:
    24x7: {{timezone: Europe/Moscow, week: 24x7}}
    office: {{timezone: Europe/Moscow, week: {{mon: ["09:00-18:00"], tue: ["09:00-18:00"], wed: ["09:00-18:00"],
                                               thu: ["09:00-18:00"], fri: ["09:00-18:00"]}}}}
  policies: [{{name: all, calendar: 24x7, targets: {{resolution: 4h}}}}]
routing:
  agents:
    Смирнова Анна: {{schedule: office, capacity: 2, team: day}}
    Борисов Борис: {{schedule: 24x7, capacity: 2}}
  teams:
    day: {{}}
  rules:
    - {{name: everyone, method: least_loaded}}
"""


def seed(bridge: App) -> None:
    """November: on each weekday from the 2nd to the 27th, requests at 10:00, 10:30 and
    20:00, each answered in 10 minutes and resolved in 2 hours by Boris; one request in
    October and one in December outside the window."""
    with bridge.store.transaction() as s:
        s.add(AgentRow(name="Смирнова Анна", active=True))
        boris = AgentRow(name="Борисов Борис", active=True)
        s.add(boris)
        s.flush()
        day = datetime(2026, 11, 2, tzinfo=MSK)
        instants = [datetime(2026, 10, 30, 10, tzinfo=MSK), datetime(2026, 12, 1, 10, tzinfo=MSK)]
        while day.day <= 27:
            if day.weekday() < 5:
                instants += [day.replace(hour=10), day.replace(hour=10, minute=30), day.replace(hour=20)]
            day += timedelta(days=1)
        for n, created in enumerate(instants, 1):
            s.add(TicketRow(number=f"CRM-{n:07d}", type="consultation", priority="normal", channel="email",
                            source="external", status="closed", created_at=created, assignee_id=boris.id, tags=[],
                            first_response_at=created + timedelta(minutes=10), first_response_due=created + timedelta(hours=1),
                            resolved_at=created + timedelta(hours=2), closed_at=created + timedelta(hours=3),
                            resolution_due=created + timedelta(hours=4)))


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "store.db"), encoding="utf-8")
    bridge = App.from_file(path)
    try:
        bridge.upgrade_db()
        seed(bridge)
    finally:
        bridge.close()
    return path


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run([*CLI, "-c", str(config), "routing", "simulate", "--from", "2026-11-01", "--to", "2026-11-30", *args],
                          capture_output=True, text=True, env=env, check=False, cwd=config.parent)


def stored(config: Path) -> tuple[Any, ...]:
    bridge = App.from_file(config)
    try:
        with bridge.store.transaction() as s:
            return (s.scalar(select(func.count()).select_from(RoutingLogRow)),
                    s.scalar(select(func.count()).select_from(RoutingPointerRow)),
                    s.scalar(select(func.count()).select_from(RoutingCreditRow)),
                    tuple(s.scalars(select(TicketRow.assignee_id).order_by(TicketRow.id))))
    finally:
        bridge.close()


def test_the_configured_rules_replay_november_beside_what_happened_and_write_nothing(config: Path) -> None:
    before = stored(config)
    done = cli(config, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["replayed"] == 60  # 20 weekdays x 3; October and December left out
    agents = {a["agent"]: (a["simulated"], a["actual"]) for a in report["agents"]}
    assert agents["Борисов Борис"][1] == 60
    assert agents["Смирнова Анна"][1] == 0
    assert agents["Смирнова Анна"][0] == 20  # 10:00 (a tie, the configured order); at 10:30 she is busier
    assert agents["Борисов Борис"][0] == 40  # 10:30 and the evenings, when Anna is off shift
    assert report["waits_minutes"]["max"] == 0
    assert report["sla"]["resolution"] == {"predicted": {"met": 60, "total": 60, "share": 1.0},
                                           "actual": {"met": 60, "total": 60, "share": 1.0}}
    assert len(report["requests"]) == 60
    assert stored(config) == before  # a replay: no log, pointer, credit or assignee written


def test_a_proposed_rules_file_shows_the_waits_and_breaches_it_would_cause_in_80_columns(config: Path) -> None:
    (config.parent / "proposed.yaml").write_text("rules:\n  - {name: day team only, team: day, method: round_robin}\n",
                                                 encoding="utf-8")
    done = cli(config, "--rules", "proposed.yaml")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert lines[0] == "Replayed 60 requests created 2026-11-01 to 2026-11-30 under proposed.yaml"
    anna = next(line for line in lines if line.startswith("Смирнова Анна"))
    assert anna.split()[-3:] == ["60", "0", "2"]  # simulated, actual, peak load
    resolution = next(line for line in lines if line.startswith("resolution"))
    # the evening requests wait for 09:00 (and Friday's for Monday): 4 hours after creation is long gone
    assert resolution.split() == ["resolution", "67%", "(40/60)", "100%", "(60/60)"]
    assert "queue wait: mean" in done.stdout


def test_a_mistake_in_the_proposed_rules_is_reported_at_its_line_in_that_file(config: Path) -> None:
    (config.parent / "proposed.yaml").write_text("rules:\n  - {name: day team only, team: dya, method: round_robin}\n",
                                                 encoding="utf-8")
    done = cli(config, "--rules", "proposed.yaml")
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert ("proposed.yaml:2:27: rules.0.team: no team 'dya' is defined under routing.teams. Did you mean 'day'?"
            in message)
    assert "Traceback" not in done.stderr
