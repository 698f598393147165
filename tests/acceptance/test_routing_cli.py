"""`crm-bridge routing explain | agents | agent set-status` as a supervisor uses them."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

import routing.cli
from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import AgentRow, TicketRow
from routing.cli import routing_app

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)  # a Monday

CONFIG = """
timezone: Europe/Moscow
store: {{url: "sqlite:///{db}"}}
sla:
  calendars:
    24x7: {{timezone: Europe/Moscow, week: 24x7}}
    evening: {{timezone: Europe/Moscow, week: {{mon: ["18:00-23:00"], tue: ["18:00-23:00"]}}}}
  policies: [{{name: all, calendar: 24x7, targets: {{resolution: 8h}}}}]
routing:
  agents:
    Иванова Мария: {{schedule: 24x7, skills: {{1c: 4}}, team: L1}}
    Петров Пётр: {{schedule: evening, skills: {{1c: 5}}, team: L1}}
    Сидоров Иван: {{schedule: 24x7, skills: {{1c: 5}}, team: L1, time_off: [{{from: 2026-11-20, to: 2026-11-27}}]}}
    Кузнецова Анна: {{schedule: 24x7, skills: {{1c: 5}}, team: L1, capacity: 1}}
    Орлов Олег: {{schedule: 24x7, team: L1}}
  teams:
    L1: {{lead: Иванова Мария}}
  rules:
    - {{name: 1c questions, team: L1, method: skills, skills: {{1c: 3}}}}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "store.db"), encoding="utf-8")
    bridge = App.from_file(path)
    bridge.clock = FrozenClock(NOW)
    try:
        bridge.upgrade_db()
        with bridge.store.transaction() as s:
            for name in ("Иванова Мария", "Петров Пётр", "Сидоров Иван", "Кузнецова Анна", "Орлов Олег"):
                s.add(AgentRow(name=name, active=True))
            s.flush()
            anna = s.query(AgentRow).filter_by(name="Кузнецова Анна").one()
            s.add(TicketRow(number="CRM-0000041", type="consultation", priority="normal", channel="email", source="external",
                            status="in_progress", created_at=NOW, assignee_id=anna.id, tags=[]))
            s.add(TicketRow(number="CRM-0000042", type="technical_problem", priority="normal", channel="phone",
                            source="external", status="new", created_at=NOW, tags=[]))
            s.flush()
            from routing.tables import RoutingQueueRow

            s.add(RoutingQueueRow(ticket_id=s.query(TicketRow).filter_by(number="CRM-0000042").one().id, queued=NOW))
        assert bridge.run_job("routing.tick")["assigned"] == 1
    finally:
        bridge.close()
    return path


@pytest.fixture
def cli(config: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    def open_app() -> App:
        bridge = App.from_file(config)
        bridge.clock = FrozenClock(NOW)
        return bridge

    monkeypatch.setattr(routing.cli, "open_app", open_app)
    runner = CliRunner()
    return lambda *args: runner.invoke(routing_app, list(args), env={"COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"})


def test_explain_says_why_this_person_and_why_not_the_others(cli: Any) -> None:
    done = cli("explain", "CRM-0000042", "--json")
    assert done.exit_code == 0, done.output
    story = json.loads(done.stdout)
    assert story["request"]["assignee"] == "Иванова Мария"
    [decided] = story["history"]
    assert (decided["action"], decided["rule"], decided["agent"]) == ("assigned", "1c questions", "Иванова Мария")
    assert {c["name"]: c["excluded"] or c["why"] for c in decided["considered"]} == {
        "Иванова Мария": "best skill match (1c 4)",
        "Петров Пётр": "off shift until 18:00",
        "Сидоров Иван": "on leave until 2026-11-27",
        "Кузнецова Анна": "at capacity 1/1",
        "Орлов Олег": "missing skill 1c",
    }
    assert "considered_packed" not in decided  # the log's compact form is unpacked: the same dicts as "now" shows
    assert all(set(c) == {"key", "name", "excluded", "load", "why"} for c in decided["considered"])
    assert all(isinstance(c["load"], float) for c in decided["considered"])
    now = story["now"]  # as it would go now: the assignee excluded, nobody else can take it
    assert now["outcome"] == "queued"
    assert now["reason"] == ("nobody in team L1 is eligible now: 1 the current assignee, 1 off shift, 1 on leave, "
                             "1 at capacity, 1 missing skill")


def test_explain_as_text_names_the_rule_the_winner_and_the_exclusions(cli: Any) -> None:
    done = cli("explain", "CRM-0000042")
    assert done.exit_code == 0, done.output
    for phrase in ("assignee: Иванова Мария", "assigned → Иванова Мария by rule '1c questions'", "off shift until 18:00",
                   "on leave until 2026-11-27", "at capacity 1/1", "missing skill 1c"):
        assert phrase in done.stdout


def test_agents_lists_load_capacity_status_and_shift(cli: Any) -> None:
    done = cli("agents", "--json")
    assert done.exit_code == 0, done.output
    rows = {r["agent"]: r for r in json.loads(done.stdout)["agents"]}
    assert (rows["Иванова Мария"]["load"], rows["Иванова Мария"]["capacity"]) == (1, 8)
    assert rows["Петров Пётр"]["on_shift"] is False
    assert rows["Петров Пётр"]["off_shift_until"] == "2026-11-23T18:00+03:00"
    assert rows["Сидоров Иван"]["on_leave_until"] == "2026-11-27"
    assert rows["Кузнецова Анна"]["teams"] == ["L1"]


def test_set_status_takes_an_agent_out_of_routing(cli: Any) -> None:
    done = cli("agent", "set-status", "Иванова Мария", "away")
    assert done.exit_code == 0, done.output
    rows = {r["agent"]: r for r in json.loads(cli("agents", "--json").stdout)["agents"]}
    assert rows["Иванова Мария"]["status"] == "away"


def test_set_status_of_an_unknown_agent_suggests_the_closest_name(cli: Any) -> None:
    done = cli("agent", "set-status", "Иванова Мари", "away")
    assert done.exit_code == 1
    assert "no agent 'Иванова Мари'" in done.output
    assert "Did you mean 'Иванова Мария'?" in done.output


def test_every_command_has_an_example_in_its_help(cli: Any) -> None:
    for args in (("explain",), ("agents",), ("agent", "set-status")):
        done = cli(*args, "--help")
        assert done.exit_code == 0
        assert "Example: crm-bridge routing" in done.stdout
