"""A priority raised to urgent reaches 1C as Высокая (1C has no "urgent" importance) and
stays urgent here when 1C reads back Высокая; a 1C user's real change is still taken."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.events import DomainEvent
from crm_bridge.store.tables import TicketRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)
DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=5, seed=3, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def priority(bridge: App, number: str) -> str:
    with bridge.store.transaction() as s:
        return str(s.scalars(select(TicketRow.priority).where(TicketRow.number == number)).one())


def test_urgent_written_as_vysokaya_reads_back_as_urgent_until_a_1c_user_changes_it(emulator: Emulator, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    bridge = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=clock)
    try:
        bridge.upgrade_db()
        doc = next(d for d in emulator.records(DOC) if not d["DeletionMark"])
        key, number = str(doc["Ref_Key"]), str(doc["Number"]).strip()
        emulator.update(DOC, key, {"Важность": "Высокая"})
        bridge.run_job("sync.pull")
        assert priority(bridge, number) == "high"
        with bridge.store.transaction() as s:  # what an escalation's raise_priority does
            ticket = s.scalars(select(TicketRow).where(TicketRow.number == number)).one()
            ticket.priority = "urgent"
            unit = bridge.bus.unit(s, clock(), bridge.config)
            unit.publish(DomainEvent("record.changed", "ticket", ticket.id, "routing", {"fields": {"priority": "urgent"}}))
            unit.complete()
        bridge.run_job("sync.dispatch")
        assert emulator.get(DOC, key)["Важность"] == "Высокая"  # type: ignore[index]
        # A 1C user edits something else: the request is read again, with Высокая.
        emulator.update(DOC, key, {"Тема": "Не проходит оплата (уточнено)"})
        clock.at += timedelta(minutes=1)
        bridge.run_job("sync.pull")
        assert priority(bridge, number) == "urgent"
        bridge.run_job("sync.dispatch")
        assert emulator.get(DOC, key)["Важность"] == "Высокая"  # type: ignore[index]
        # A 1C user lowers it for real: taken.
        emulator.update(DOC, key, {"Важность": "Обычная"})
        clock.at += timedelta(minutes=1)
        bridge.run_job("sync.pull")
        assert priority(bridge, number) == "normal"
    finally:
        bridge.close()
