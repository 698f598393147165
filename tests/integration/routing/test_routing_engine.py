"""Routing against the 1C emulator over real HTTP: a pull, then every new request gets an
assignee that reaches 1C through the outbox; a 1C user's assignment is kept; an SLA
escalation reassigns."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import AgentRow, TicketRow
from routing.tables import RoutingLogRow, RoutingQueueRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)  # a Monday
DOC, USERS = "Document_Интерес", "Catalog_Пользователи"
EMPTY = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=40, seed=21, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def people(emulator: Emulator) -> list[dict[str, Any]]:
    """The 1C users who are support agents (active, not the service account)."""
    return [u for u in emulator.records(USERS) if not u["Недействителен"] and not u.get("Служебный")]


def new_request(emulator: Emulator, bridge: App, *, kind: str = "Консультация", assignee: str = EMPTY) -> dict[str, Any]:
    template = next(d for d in emulator.records(DOC) if not d["DeletionMark"])
    new_state = next(s["Ref_Key"] for s in emulator.records("Catalog_СостоянияИнтересов") if s["Description"] == "Новое")
    return bridge.backend("demo-1c").client.post(DOC, {  # type: ignore[no-any-return]
        "Date": "2026-11-23T09:45:00", "Партнер_Key": template["Партнер_Key"], "Тема": "Не проходит оплата",
        "ВидОбращения": kind, "Состояние_Key": new_state, "Ответственный_Key": assignee, "Posted": True})


def log_of(bridge: App, number: object) -> list[RoutingLogRow]:
    with bridge.store.transaction() as s:
        ticket = s.scalars(select(TicketRow).where(TicketRow.number == number)).one()
        return list(s.scalars(select(RoutingLogRow).where(RoutingLogRow.ticket_id == ticket.id).order_by(RoutingLogRow.id)))


def test_a_pull_then_routing_assigns_every_new_request_and_1c_receives_the_assignee(emulator: Emulator, tmp_path: Path) -> None:
    bridge = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=FrozenClock(NOW))
    try:
        bridge.upgrade_db()
        fresh = [new_request(emulator, bridge) for _ in range(3)]
        result = run_cycle(bridge)
        assert result["routing.tick"]["assigned"] >= 3
        agents = {u["Ref_Key"] for u in people(emulator)}
        for doc in fresh:
            written = emulator.get(DOC, str(doc["Ref_Key"]))
            assert written is not None
            assert written["Ответственный_Key"] in agents  # a support agent, never the service account
            assert [e.action for e in log_of(bridge, doc["Number"])] == ["assigned"]
        with bridge.store.transaction() as s:
            open_unassigned = s.scalars(select(TicketRow.number).where(
                TicketRow.assignee_id.is_(None), TicketRow.deleted.is_(False),
                TicketRow.status.in_(["new", "in_progress", "waiting_customer"]))).all()
            assert open_unassigned == []
            assert s.scalars(select(RoutingQueueRow)).all() == []
        # Round robin over equally eligible agents: the three went to three different people.
        assert len({emulator.get(DOC, str(d["Ref_Key"]))["Ответственный_Key"] for d in fresh}) == 3  # type: ignore[index]
    finally:
        bridge.close()


def test_an_assignment_made_in_1c_is_kept_and_never_undone(emulator: Emulator, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    bridge = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=clock)
    try:
        bridge.upgrade_db()
        chosen_in_1c = people(emulator)[-1]["Ref_Key"]
        by_hand = new_request(emulator, bridge, assignee=chosen_in_1c)
        routed = new_request(emulator, bridge)
        run_cycle(bridge)
        assert emulator.get(DOC, str(by_hand["Ref_Key"]))["Ответственный_Key"] == chosen_in_1c  # type: ignore[index]
        assert log_of(bridge, by_hand["Number"]) == []  # never routed
        # A 1C user moves the routed request to someone else: the next cycle takes it over.
        other = next(u["Ref_Key"] for u in people(emulator)
                     if u["Ref_Key"] != emulator.get(DOC, str(routed["Ref_Key"]))["Ответственный_Key"])  # type: ignore[index]
        emulator.update(DOC, str(routed["Ref_Key"]), {"Ответственный_Key": other})
        clock.at += timedelta(minutes=1)
        run_cycle(bridge)
        assert emulator.get(DOC, str(routed["Ref_Key"]))["Ответственный_Key"] == other  # type: ignore[index]
        with bridge.store.transaction() as s:
            ticket = s.scalars(select(TicketRow).where(TicketRow.number == routed["Number"])).one()
            agent = s.get(AgentRow, ticket.assignee_id)
            assert agent is not None
            assert agent.name == next(u["Description"] for u in people(emulator) if u["Ref_Key"] == other)
        assert [e.action for e in log_of(bridge, routed["Number"])] == ["assigned"]
    finally:
        bridge.close()


def test_an_sla_escalation_reassigns_the_request_to_another_agent_of_the_team(emulator: Emulator, tmp_path: Path) -> None:
    first, second = (u["Description"] for u in people(emulator)[:2])
    head, tail = demo_config(emulator.base_url, tmp_path / "s.db").split("routing:")
    config = head + tail[tail.index("backends:"):] + f"""
routing:
  agents:
    {first}: {{team: L2, schedule: 24x7}}
    {second}: {{team: L2, schedule: 24x7}}
  teams:
    L2: {{lead: {first}}}
  rules:
    - {{name: everything, team: L2, method: round_robin}}
sla:
  policies:
    - {{name: urgent, match: {{type: [urgent]}}, calendar: 24x7, targets: {{resolution: 4h}},
       escalations: [{{after: 0m, action: reassign, team: L2}}, {{after: 1h, action: raise_priority}},
                     {{after: 1h, action: notify_supervisor}}]}}
    - {{name: everything else, calendar: 24x7, targets: {{resolution: 48h}}}}
"""
    clock = FrozenClock(NOW)
    bridge = App.from_text(config, clock=clock)
    try:
        bridge.upgrade_db()
        doc = new_request(emulator, bridge, kind="СрочныйЗапрос")
        run_cycle(bridge)
        names = {u["Ref_Key"]: u["Description"] for u in people(emulator)}
        before = names[emulator.get(DOC, str(doc["Ref_Key"]))["Ответственный_Key"]]  # type: ignore[index]
        assert before in (first, second)
        clock.at = datetime(2026, 11, 23, 13, 46, tzinfo=MSK)  # past the 4 h resolution target
        bridge.run_job("sla.tick")
        bridge.run_job("sync.dispatch")
        after = names[emulator.get(DOC, str(doc["Ref_Key"]))["Ответственный_Key"]]  # type: ignore[index]
        assert after == ({first, second} - {before}).pop()
        moves = log_of(bridge, doc["Number"])
        assert [m.action for m in moves] == ["assigned", "reassigned"]
        assert moves[1].reason.startswith("SLA resolution escalation level 1: least loaded")
        assert emulator.get(DOC, str(doc["Ref_Key"]))["Важность"] != "Высокая"  # type: ignore[index]
        clock.at = datetime(2026, 11, 23, 14, 50, tzinfo=MSK)  # an hour after the breach
        bridge.run_job("sla.tick")
        bridge.run_job("sync.dispatch")
        assert emulator.get(DOC, str(doc["Ref_Key"]))["Важность"] == "Высокая"  # type: ignore[index]
        assert [m.action for m in log_of(bridge, doc["Number"])][2:] == ["raise_priority", "notify_supervisor"]
    finally:
        bridge.close()
