"""`crm-bridge routing explain` on a request a rule gave a co-executor: who, and why not the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import routing.cli
from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import AgentRow, TicketRow
from routing.cli import routing_app
from routing.tables import RoutingQueueRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)  # a Monday

CONFIG = """
timezone: Europe/Moscow
store: {{url: "sqlite:///{db}"}}
routing:
  agents:
    Иванова Мария: {{skills: {{1c: 4}}}}
    Петров Пётр: {{skills: {{1c: 2, payroll: 4}}}}
    Сидоров Иван: {{skills: {{payroll: 5}}, time_off: [{{from: 2026-11-20, to: 2026-11-27}}]}}
    Орлов Олег: {{skills: {{payroll: 1}}}}
  rules:
    - {{name: payroll, method: round_robin, co_executors: [{{skill: payroll, min_level: 2}}]}}
"""


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "store.db"), encoding="utf-8")

    def open_app() -> App:
        bridge = App.from_file(path)
        bridge.clock = FrozenClock(NOW)
        return bridge

    bridge = open_app()
    try:
        bridge.upgrade_db()
        with bridge.store.transaction() as s:
            for name in ("Иванова Мария", "Петров Пётр", "Сидоров Иван", "Орлов Олег"):
                s.add(AgentRow(name=name, active=True))
            ticket = TicketRow(number="CRM-0000042", type="consultation", priority="normal", channel="phone",
                               source="external", status="new", created_at=NOW, tags=[])
            s.add(ticket)
            s.flush()
            s.add(RoutingQueueRow(ticket_id=ticket.id, queued=NOW))
        assert bridge.run_job("routing.tick")["assigned"] == 1
        with bridge.store.transaction() as s:
            stored = s.scalars(select(TicketRow)).one()
            names = {a.id: a.name for a in s.scalars(select(AgentRow))}
            assert names.get(stored.assignee_id or 0) == "Иванова Мария"
            assert [names[i] for i in stored.co_executors] == ["Петров Пётр"]
    finally:
        bridge.close()
    monkeypatch.setattr(routing.cli, "open_app", open_app)
    runner = CliRunner()
    return lambda *args: runner.invoke(routing_app, list(args), env={"COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1"})


def test_explain_names_the_co_executor_and_why_not_the_others(cli: Any) -> None:
    done = cli("explain", "CRM-0000042", "--json")
    assert done.exit_code == 0, done.output
    story = json.loads(done.stdout)
    assert story["request"]["co_executors"] == ["Петров Пётр"]
    [assigned, added] = story["history"]
    assert (assigned["action"], assigned["agent"]) == ("assigned", "Иванова Мария")
    assert (added["action"], added["rule"], added["reason"]) == ("co_executors", "payroll", "1 × payroll ≥ 2: Петров Пётр")
    assert {c["name"]: c["excluded"] or c["why"] for c in added["co_considered"]} == {
        "Иванова Мария": "the assignee",
        "Петров Пётр": "co-executor for payroll: level 4, load 0",
        "Сидоров Иван": "on leave until 2026-11-27",
        "Орлов Олег": "missing skill payroll 2 (has 1)",
    }


def test_explain_as_text_shows_the_co_executors(cli: Any) -> None:
    done = cli("explain", "CRM-0000042")
    assert done.exit_code == 0, done.output
    for phrase in ("co-executors: Петров Пётр", "co_executors by rule 'payroll': 1 × payroll ≥ 2: Петров Пётр",
                   "co-executor for payroll: level 4", "missing skill payroll 2 (has 1)"):
        assert phrase in done.stdout


def test_the_demo_assigns_every_request_and_1c_serves_the_assignees_and_co_executors(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "crm_bridge", "demo", "--json", "--requests", "120", "--limit", "0"],
                          capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "COLUMNS": "160", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    counts = json.loads(done.stdout)["counts"]
    assert counts["assigned"] == counts["assigned_back"] == counts["tickets"]  # read back from 1C over OData
    assert counts["with_co_executors"] == counts["co_executors_back"] > 0
