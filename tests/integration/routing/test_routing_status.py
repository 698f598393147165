"""``routing.status_section``: why a team queues, and since when, for ``crm-bridge status``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import AgentRow, TicketRow
from routing import status_section
from routing.tables import RoutingAgentRow, RoutingQueueRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 19, 30, tzinfo=MSK)  # a Monday evening


def bridge_with(tmp_path: Path, agents: str) -> App:
    bridge = App.from_text(f"""
store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
routing:
  agents:
{agents}
  teams: {{L1: {{}}, L2: {{}}}}
  rules:
    - {{name: accounting, match: {{tags: [accounting]}}, team: L1}}
    - {{name: everything else, team: L2}}
""", clock=FrozenClock(NOW))
    bridge.upgrade_db()
    return bridge


def add(bridge: App, names: list[str], tags: list[list[str]]) -> None:
    with bridge.store.transaction() as s:
        s.add_all(AgentRow(name=n, active=True) for n in names)
        for n, t in enumerate(tags):
            ticket = TicketRow(number=f"CRM-{n}", type="other", priority="normal", channel="email", source="external",
                               status="new", created_at=NOW, tags=t)
            s.add(ticket)
            s.flush()
            s.add(RoutingQueueRow(ticket_id=ticket.id, queued=NOW))


def test_a_team_whose_agents_are_all_away_says_why_and_since_the_last_one_left(tmp_path: Path) -> None:
    bridge = bridge_with(tmp_path, """
    Иванова Мария: {team: L1, time_off: [{from: 2026-11-20, to: 2026-11-27}]}
    Петров Пётр: {team: L1}
    Сидоров Иван: {team: L2}
""")
    try:
        add(bridge, ["Иванова Мария", "Петров Пётр", "Сидоров Иван"], [["accounting"], ["accounting"], []])
        with bridge.store.transaction() as s:
            petrov = s.scalars(select(AgentRow.id).where(AgentRow.name == "Петров Пётр")).one()
            s.add(RoutingAgentRow(agent_id=petrov, status="offline", since=datetime(2026, 11, 23, 12, 15, tzinfo=MSK)))
        rows, problems = status_section(bridge)
        l1, l2 = rows
        assert l1 == {"team": "L1", "agents": 2, "eligible": 0, "queued": 2, "why": "1 on leave, 1 offline",
                      "since": datetime(2026, 11, 23, 12, 15, tzinfo=MSK)}
        assert l2["eligible"] == 1
        assert l2["why"] is None
        assert l2["queued"] == 1
        assert problems == ["team L1: 2 requests wait since 2026-11-23 12:15: nobody can take them (1 on leave, 1 offline) / "
                            "команда L1: 2 обращений ждут, взять некому; see crm-bridge routing agents"]
    finally:
        bridge.close()


def test_a_team_off_shift_queues_since_the_end_of_its_shift(tmp_path: Path) -> None:
    bridge = bridge_with(tmp_path, """
    Иванова Мария: {team: L1, schedule: office}
    Петров Пётр: {team: L2, schedule: 24x7}
""")
    try:
        add(bridge, ["Иванова Мария", "Петров Пётр"], [["accounting"]])
        rows, problems = status_section(bridge)
        assert rows[0]["why"] == "1 off shift"
        assert rows[0]["since"] == datetime(2026, 11, 23, 18, 0, tzinfo=MSK)  # the office day ended at 18:00
        assert len(problems) == 1
        assert problems[0].startswith("team L1: 1 requests wait since 2026-11-23 18:00: nobody can take them (1 off shift)")
        assert rows[1]["why"] is None  # L2 works round the clock and has nothing waiting
        assert rows[1]["queued"] == 0
    finally:
        bridge.close()


def test_routing_off_has_no_section(tmp_path: Path) -> None:
    bridge = App.from_text(f'store: {{url: "sqlite:///{tmp_path / "s.db"}"}}\n', clock=FrozenClock(NOW))
    try:
        assert status_section(bridge) == ([], [])
    finally:
        bridge.close()


def test_a_team_on_leave_from_a_time_off_file_queues_since_the_first_day_of_that_leave(tmp_path: Path) -> None:
    (tmp_path / "leave.csv").write_text("agent,from,to\nИванова Мария,2026-11-16,2026-11-30\n", encoding="utf-8")
    bridge = App.from_text(f"""
store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
routing:
  agents: {{Иванова Мария: {{team: L1}}, Петров Пётр: {{team: L2}}}}
  time_off_files: ["{tmp_path / 'leave.csv'}"]
  teams: {{L1: {{}}, L2: {{}}}}
  rules:
    - {{name: accounting, match: {{tags: [accounting]}}, team: L1}}
    - {{name: everything else, team: L2}}
""", clock=FrozenClock(NOW))
    bridge.upgrade_db()
    try:
        add(bridge, ["Иванова Мария", "Петров Пётр"], [["accounting"]])
        rows, problems = status_section(bridge)
        assert rows[0]["why"] == "1 on leave"  # the file's leave, as eligibility reads it
        assert rows[0]["since"] == datetime(2026, 11, 16, 0, 0, tzinfo=MSK)
        assert problems[0].startswith("team L1: 1 requests wait since 2026-11-16 00:00: nobody can take them (1 on leave)")
    finally:
        bridge.close()
