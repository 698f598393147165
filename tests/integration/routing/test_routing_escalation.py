"""``sla.escalate`` on a closed request: a breach its first plan finds in the past is
history — nobody takes it over and its priority stays; an open one is reassigned."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm_bridge.app import App, FrozenClock
from crm_bridge.events import DomainEvent
from crm_bridge.store.tables import AgentRow, TicketRow
from routing.escalation import on_sla_escalate
from routing.tables import RoutingLogRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)


def test_an_escalation_moves_an_open_request_but_not_a_closed_one(tmp_path: Path) -> None:
    bridge = App.from_text(f"""
store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
routing:
  agents: {{Иванова Мария: {{team: L1}}, Петров Пётр: {{team: L1}}}}
  teams: {{L1: {{}}}}
""", clock=FrozenClock(NOW))
    try:
        bridge.upgrade_db()
        with bridge.store.transaction() as s:
            s.add_all([AgentRow(name="Иванова Мария", active=True), AgentRow(name="Петров Пётр", active=True)])
            s.flush()
            first = s.scalars(select(AgentRow.id).where(AgentRow.name == "Иванова Мария")).one()
            for number, status in (("CRM-1", "closed"), ("CRM-2", "in_progress")):
                s.add(TicketRow(number=number, type="urgent", priority="high", channel="email", source="external",
                                status=status, created_at=NOW, tags=[], assignee_id=first))
        for number in ("CRM-1", "CRM-2"):
            for action in ("reassign", "raise_priority"):
                with bridge.store.transaction() as s:
                    ticket = s.scalars(select(TicketRow).where(TicketRow.number == number)).one()
                    unit = bridge.bus.unit(s, NOW, bridge.config)
                    on_sla_escalate(unit, DomainEvent("sla.escalate", "ticket", ticket.id, "sla", {
                        "metric": "resolution", "cycle": 0, "at": NOW, "level": 1, "action": action, "team": "L1"}))
                    unit.complete()
        with bridge.store.transaction() as s:
            names = {a.id: a.name for a in s.scalars(select(AgentRow))}
            tickets = {t.number: t for t in s.scalars(select(TicketRow))}
            assert names[tickets["CRM-1"].assignee_id or 0] == "Иванова Мария"
            assert tickets["CRM-1"].priority == "high"
            assert names[tickets["CRM-2"].assignee_id or 0] == "Петров Пётр"
            assert tickets["CRM-2"].priority == "urgent"
            logged = [(r.ticket_id, r.action) for r in s.scalars(select(RoutingLogRow).order_by(RoutingLogRow.id))]
            assert logged == [(tickets["CRM-2"].id, "reassigned"), (tickets["CRM-2"].id, "raise_priority")]
    finally:
        bridge.close()


def test_a_reassignment_keeps_the_co_executors_but_drops_the_new_assignee_from_them(tmp_path: Path) -> None:
    bridge = App.from_text(f"""
store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
routing:
  agents: {{Иванова Мария: {{team: L1}}, Петров Пётр: {{team: L1}}, Сидоров Иван: {{team: L2}}}}
  teams: {{L1: {{}}, L2: {{}}}}
""", clock=FrozenClock(NOW))
    try:
        bridge.upgrade_db()
        with bridge.store.transaction() as s:
            s.add_all([AgentRow(id=1, name="Иванова Мария", active=True), AgentRow(id=2, name="Петров Пётр", active=True),
                       AgentRow(id=3, name="Сидоров Иван", active=True)])
            s.add(TicketRow(number="CRM-7", type="urgent", priority="high", channel="email", source="external",
                            status="in_progress", created_at=NOW, tags=[], assignee_id=1, co_executors=[2, 3]))
        with bridge.store.transaction() as s:
            ticket = s.scalars(select(TicketRow)).one()
            unit = bridge.bus.unit(s, NOW, bridge.config)
            published: list[DomainEvent] = []
            unit.publish = published.append  # type: ignore[method-assign]  # what goes to the outbox
            on_sla_escalate(unit, DomainEvent("sla.escalate", "ticket", ticket.id, "sla", {
                "metric": "resolution", "cycle": 0, "at": NOW, "level": 1, "action": "reassign", "team": "L1"}))
        with bridge.store.transaction() as s:
            ticket = s.scalars(select(TicketRow)).one()
            assert ticket.assignee_id == 2  # Петров, the other of L1
            assert ticket.co_executors == [3]  # Сидоров stays; Петров is the assignee now, not his own co-executor
        changed = [e.data["fields"] for e in published if e.kind == "record.changed"]
        assert [{k: f[k] for k in ("assignee_id", "co_executors")} for f in changed] == [
            {"assignee_id": 2, "co_executors": [3]}]  # the whole list goes back to 1C
    finally:
        bridge.close()
