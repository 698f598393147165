"""Against the 1C emulator: a new request in 1C produces an acknowledgement mail with the
CRM's number and the due dates the SLA addon planned, in one cycle, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from notify_fixtures import notify_section
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import CustomerRow
from notify.sink import SmtpSink
from notify.tables import NotificationRow
from sync.tables import BindingRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)  # a Monday
DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=21, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def test_a_new_request_in_1c_gets_an_acknowledgement_with_its_number_and_due_dates(
        emulator: Emulator, sink: SmtpSink, tmp_path: Path) -> None:
    bridge = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db") + notify_section(sink, plan_wait="5m"),
                           clock=FrozenClock(NOW))
    try:
        bridge.upgrade_db()
        run_cycle(bridge)
        template = next(d for d in emulator.records(DOC) if not d["DeletionMark"])
        partner = next(r for r in emulator.records("Catalog_Партнеры") if r["Ref_Key"] == template["Партнер_Key"])
        address = next(row["АдресЭП"] for row in partner["КонтактнаяИнформация"] if row["Тип"] == "АдресЭлектроннойПочты")
        with bridge.store.transaction() as s:  # imported from 1C's КонтактнаяИнформация, lower case
            customer_id = s.scalar(select(BindingRow.local_id).where(
                BindingRow.model == "customer", BindingRow.remote_id == template["Партнер_Key"]))
            assert s.scalar(select(CustomerRow.email).where(CustomerRow.id == customer_id)) == address.lower()
        new_state = next(r["Ref_Key"] for r in emulator.records("Catalog_СостоянияИнтересов") if r["Description"] == "Новое")
        doc = bridge.backend("demo-1c").client.post(DOC, {
            "Date": "2026-11-23T09:45:00", "Партнер_Key": template["Партнер_Key"], "Тема": "Не работает вход",
            "ВидОбращения": "СрочныйЗапрос", "Состояние_Key": new_state, "Posted": True})
        before = len(sink.messages)  # the supervisor's alerts about the base's breached requests
        cycle = run_cycle(bridge)
        assert cycle["notify.dispatch"]["sent"] >= 1
        (mail,) = [m for m in sink.messages[before:] if m["To"].addresses[0].addr_spec == address.lower()]
        assert mail["Subject"] == f"Обращение {doc['Number']} принято: Не работает вход"
        text = mail.get_body(("plain",)).get_content()
        assert "Первый ответ — до 23 ноября 2026, 10:15 (МСК)." in text  # urgent: 30 min round the clock
        assert "Решение — до 23 ноября 2026, 13:45 (МСК)." in text  # urgent: 4 h
        sent = len(sink.messages)
        again = run_cycle(bridge)
        assert again["notify.dispatch"]["sent"] == 0
        assert len(sink.messages) == sent
        with bridge.store.transaction() as s:
            assert s.scalar(select(NotificationRow.state).where(NotificationRow.event == "acknowledgement")) == "sent"
    finally:
        bridge.close()
