"""The rule options through ``routing.tick`` on a real store (SQLite and PostgreSQL):
weighted credits survive a restart, the customer's last agent is preferred, the language
comes from the customer's segment, and an edited time-off file applies at the next tick."""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import AgentRow, CustomerRow, TicketRow
from routing.moves import considered_of
from routing.tables import RoutingCreditRow, RoutingLogRow, RoutingQueueRow

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
AGENTS = {"Иванова Мария": "ivanova@example.com", "Петров Пётр": "petrov@example.com"}


def open_bridge(store_url: str, routing: str, tmp_path: Path) -> App:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(f'timezone: Europe/Moscow\nstore: {{url: "{store_url}"}}\nrouting:\n{routing}', encoding="utf-8")
    bridge = App.from_file(path)
    bridge.clock = FrozenClock(NOW)
    return bridge


def seed_agents(bridge: App) -> None:
    bridge.upgrade_db()
    with bridge.store.transaction() as s:
        for name, email in AGENTS.items():
            s.add(AgentRow(name=name, email=email, active=True))


def queue(bridge: App, count: int, *, customer: str | None = None, segment: str | None = None) -> list[str]:
    """`count` new requests, queued for routing; their numbers."""
    with bridge.store.transaction() as s:
        owner = None
        if customer is not None:
            owner = s.scalars(select(CustomerRow).where(CustomerRow.name == customer)).first()
            if owner is None:
                owner = CustomerRow(name=customer, segment=segment)
                s.add(owner)
                s.flush()
        start = s.scalars(select(TicketRow.id).order_by(TicketRow.id.desc())).first() or 0
        numbers = []
        for n in range(start + 1, start + 1 + count):
            ticket = TicketRow(number=f"CRM-{n:07d}", type="consultation", priority="normal", channel="email",
                               source="external", status="new", created_at=NOW - timedelta(minutes=count - n),
                               customer_id=owner.id if owner else None, tags=[])
            s.add(ticket)
            s.flush()
            s.add(RoutingQueueRow(ticket_id=ticket.id, queued=NOW))
            numbers.append(ticket.number)
    return numbers


def assignees(bridge: App, numbers: list[str]) -> list[str | None]:
    with bridge.store.transaction() as s:
        names = {a.id: a.name for a in s.scalars(select(AgentRow))}
        rows = {t.number: t.assignee_id for t in s.scalars(select(TicketRow).where(TicketRow.number.in_(numbers)))}
        return [names.get(rows[n] or 0) for n in numbers]


def test_weighted_shares_follow_the_weights_and_the_credits_survive_a_restart(store_url: str, tmp_path: Path) -> None:
    routing = ("  agents:\n    Иванова Мария: {weight: 2, capacity: 50}\n    Петров Пётр: {weight: 1, capacity: 50}\n"
               "  rules: [{name: shares, method: weighted}]\n")
    bridge = open_bridge(store_url, routing, tmp_path)
    try:
        seed_agents(bridge)
        first = queue(bridge, 6)
        assert bridge.run_job("routing.tick")["assigned"] == 6
        assert Counter(assignees(bridge, first)) == {"Иванова Мария": 4, "Петров Пётр": 2}
        one = queue(bridge, 1)
        bridge.run_job("routing.tick")
        assert assignees(bridge, one) == ["Иванова Мария"]  # credits 2:1 after six: Maria's turn
    finally:
        bridge.close()
    bridge = open_bridge(store_url, routing, tmp_path)  # a restart: only the stored credits remember
    try:
        with bridge.store.transaction() as s:
            assert {c.agent: c.credit for c in s.scalars(select(RoutingCreditRow))} == {"Иванова Мария": -1.0, "Петров Пётр": 1.0}
        two = queue(bridge, 2)
        bridge.run_job("routing.tick")
        assert assignees(bridge, two) == ["Петров Пётр", "Иванова Мария"]  # from zero credits it would be Maria first
    finally:
        bridge.close()


def test_the_customers_last_agent_is_preferred_and_the_log_says_why(store_url: str, tmp_path: Path) -> None:
    routing = ("  agents: {Иванова Мария: {}, Петров Пётр: {}}\n"
               "  rules: [{name: sticky, method: least_loaded, prefer_last_agent: true}]\n")
    bridge = open_bridge(store_url, routing, tmp_path)
    try:
        seed_agents(bridge)
        with bridge.store.transaction() as s:
            petrov = s.scalars(select(AgentRow).where(AgentRow.name == "Петров Пётр")).one()
            s.add(CustomerRow(name="ООО Ромашка"))
            s.flush()
            owner = s.scalars(select(CustomerRow)).one()
            s.add(TicketRow(number="CRM-0000100", type="consultation", priority="normal", channel="email", source="external",
                            status="in_progress", created_at=NOW - timedelta(days=3), customer_id=owner.id,
                            assignee_id=petrov.id, tags=[]))
        [mine] = queue(bridge, 1, customer="ООО Ромашка")
        [other] = queue(bridge, 1, customer="ООО Лютик")
        bridge.run_job("routing.tick")
        assert assignees(bridge, [mine, other]) == ["Петров Пётр", "Иванова Мария"]  # least loaded for the other
        with bridge.store.transaction() as s:
            ticket = s.scalars(select(TicketRow).where(TicketRow.number == mine)).one()
            [entry] = s.scalars(select(RoutingLogRow).where(RoutingLogRow.ticket_id == ticket.id))
            assert entry.reason == "served this customer last (Петров Пётр is eligible)"
    finally:
        bridge.close()


def test_an_international_customers_request_goes_by_the_english_rule_to_an_english_speaker(
        store_url: str, tmp_path: Path) -> None:
    routing = ("  customer_language: {default: ru, segments: {international: en}}\n"
               "  agents:\n    Иванова Мария: {languages: [ru]}\n    Петров Пётр: {languages: [ru, en]}\n"
               "  rules:\n    - {name: english, match: {language: [en]}, method: least_loaded}\n"
               "    - {name: russian, method: round_robin}\n")
    bridge = open_bridge(store_url, routing, tmp_path)
    try:
        seed_agents(bridge)
        english = queue(bridge, 2, customer="Acme Ltd", segment="international")
        bridge.run_job("routing.tick")
        assert assignees(bridge, english) == ["Петров Пётр", "Петров Пётр"]  # Maria does not speak en
        with bridge.store.transaction() as s:
            ticket = s.scalars(select(TicketRow).where(TicketRow.number == english[0])).one()
            [entry] = s.scalars(select(RoutingLogRow).where(RoutingLogRow.ticket_id == ticket.id))
            assert entry.rule == "english"
            assert {c["key"]: c["excluded"] for c in considered_of(entry.data) or []} == {
                "Иванова Мария": "does not speak en (speaks ru)", "Петров Пётр": None}
    finally:
        bridge.close()


def test_an_edited_time_off_file_applies_at_the_next_tick(store_url: str, tmp_path: Path) -> None:
    leave = tmp_path / "hr" / "leave.csv"
    leave.parent.mkdir()
    leave.write_text("agent,from,to,reason\nivanova@example.com,2026-11-20,2026-11-24,отпуск\n", encoding="utf-8")
    routing = ("  agents: {Иванова Мария: {}, Петров Пётр: {}}\n  time_off_files: [hr/leave.csv]\n"
               "  rules: [{name: all, method: round_robin}]\n")
    bridge = open_bridge(store_url, routing, tmp_path)
    try:
        seed_agents(bridge)
        first = queue(bridge, 2)
        bridge.run_job("routing.tick")
        assert assignees(bridge, first) == ["Петров Пётр", "Петров Пётр"]  # Maria on leave by her e-mail
        leave.write_text("agent,from,to,reason\nivanova@example.com,2026-11-20,2026-11-22,отпуск\n", encoding="utf-8")
        os.utime(leave, (NOW.timestamp() + 60, NOW.timestamp() + 60))
        second = queue(bridge, 1)
        bridge.run_job("routing.tick")
        assert assignees(bridge, second) == ["Иванова Мария"]  # back: the leave now ended yesterday
    finally:
        bridge.close()


def test_an_escalation_reassigns_only_to_someone_who_speaks_the_requests_language(store_url: str, tmp_path: Path) -> None:
    from crm_bridge.events import DomainEvent
    from routing.escalation import on_sla_escalate

    routing = ("  customer_language: {default: ru, segments: {international: en}}\n"
               "  agents:\n    Иванова Мария: {languages: [ru], team: L1}\n    Петров Пётр: {languages: [ru, en], team: L1}\n"
               "    Ольга Смит: {languages: [en], team: L1}\n  teams: {L1: {}}\n")
    bridge = open_bridge(store_url, routing, tmp_path)
    try:
        seed_agents(bridge)
        with bridge.store.transaction() as s:
            s.add(AgentRow(name="Ольга Смит", email="smith@example.com", active=True))
            petrov = s.scalars(select(AgentRow).where(AgentRow.name == "Петров Пётр")).one()
            owner = CustomerRow(name="Acme Ltd", segment="international")
            s.add(owner)
            s.flush()
            ticket = TicketRow(number="CRM-0000200", type="consultation", priority="normal", channel="email",
                               source="external", status="in_progress", created_at=NOW, customer_id=owner.id,
                               assignee_id=petrov.id, tags=[])
            s.add(ticket)
            s.flush()
            # Olga is the busiest: least loaded alone would pick Maria
            olga = s.scalars(select(AgentRow).where(AgentRow.name == "Ольга Смит")).one()
            s.add(TicketRow(number="CRM-0000201", type="consultation", priority="normal", channel="email", source="external",
                            status="in_progress", created_at=NOW, assignee_id=olga.id, tags=[]))
            unit = bridge.bus.unit(s, NOW, bridge.config)
            on_sla_escalate(unit, DomainEvent("sla.escalate", "ticket", ticket.id, "sla",
                                              {"action": "reassign", "team": "L1", "metric": "resolution", "level": 1}))
            unit.complete()
        assert assignees(bridge, ["CRM-0000200"]) == ["Ольга Смит"]
    finally:
        bridge.close()
