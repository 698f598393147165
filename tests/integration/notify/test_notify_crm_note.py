"""The crm_note channel against the 1C emulator: a breach alert becomes one note in the
request's history in 1C (Catalog_Заметки, Предмет = the request's Document_Интерес),
through the sync outbox, once however often delivery and write-back are retried."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from notify_fixtures import notify_section
from sqlalchemy import func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.events import DomainEvent
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import NoteRow
from notify.sink import SmtpSink
from notify.tables import NotificationRow
from sync.tables import BindingRow, OutboxRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)  # a Monday
NOTES = "Catalog_Заметки"
BACKEND = """    models: [customer, contact, agent, ticket, note]
    create_remote: [note]
"""
CRM_NOTE = """  crm_note:
    events: [sla_breach]
    author: "crm-bridge (уведомления)"
"""


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=12, seed=21, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def bridge_for(emulator: Emulator, sink: SmtpSink, tmp_path: Path) -> App:
    text = demo_config(emulator.base_url, tmp_path / "s.db") + BACKEND + notify_section(sink) + CRM_NOTE
    app = App.from_text(text, clock=FrozenClock(NOW))
    app.upgrade_db()
    return app


def test_a_breach_is_noted_once_in_the_requests_history_in_1c(emulator: Emulator, sink: SmtpSink, tmp_path: Path) -> None:
    bridge = bridge_for(emulator, sink, tmp_path)
    try:
        run_cycle(bridge)  # imports the base; its breached requests are noted already
        with bridge.store.transaction() as s:
            ticket_id, ref = s.execute(select(BindingRow.local_id, BindingRow.remote_id).where(
                BindingRow.model == "ticket", BindingRow.state == "active").order_by(BindingRow.local_id)).first()  # type: ignore[misc]
            before = s.scalar(select(func.count()).select_from(NoteRow).where(NoteRow.ticket_id == ticket_id))
        with bridge.store.transaction() as s:
            unit = bridge.bus.unit(s, NOW, bridge.config)
            unit.publish(DomainEvent("sla.breach", "ticket", ticket_id, "sla",
                                     {"metric": "resolution", "cycle": 7, "at": NOW}))
            unit.publish(DomainEvent("sla.breach", "ticket", ticket_id, "sla",  # announced twice: one row
                                     {"metric": "resolution", "cycle": 7, "at": NOW}))
        for _ in range(2):
            run_cycle(bridge)
        with bridge.store.transaction() as s:
            (row,) = s.scalars(select(NotificationRow).where(NotificationRow.channel == "crm_note",
                                                            NotificationRow.event_key.like(f"sla.breach/{ticket_id}/resolution/7/%")))
            assert (row.state, row.recipient) == ("sent", "crm")
            note = s.scalar(select(NoteRow).where(NoteRow.source_key == row.message_id))
            assert note is not None
            assert s.scalar(select(func.count()).select_from(NoteRow).where(NoteRow.ticket_id == ticket_id)) == before + 1
            remote = s.scalar(select(BindingRow.remote_id).where(BindingRow.model == "note", BindingRow.local_id == note.id))
            assert s.scalar(select(OutboxRow.state).where(OutboxRow.model == "note", OutboxRow.local_id == note.id)) == "sent"
        in_1c = [r for r in emulator.records(NOTES) if r["Ref_Key"] == remote]
        assert len(in_1c) == 1
        (written,) = in_1c
        assert written["Предмет"] == ref
        assert written["Предмет_Type"] == "StandardODATA.Document_Интерес"
        assert written["Description"] == "crm-bridge (уведомления)"
        assert "просрочено" in written["ТекстСодержания"].lower() or "срок" in written["ТекстСодержания"].lower()
        assert written["ТекстСодержания"].startswith(note.text.split("\n")[0])
        # the notes crm-bridge wrote are each in 1C once: none created twice by a retry or an import
        keys = [r["ИдентификаторВнешний"] for r in emulator.records(NOTES)]
        assert len(keys) == len(set(keys))
    finally:
        bridge.close()


def test_the_emulator_leaves_the_notes_catalog_out_when_told(tmp_path: Path) -> None:
    with Emulator(requests=1, seed=1, now=NOW.replace(tzinfo=None), notes=False) as emu:
        assert NOTES not in emu.published_sets()
    with Emulator(requests=1, seed=1, now=NOW.replace(tzinfo=None)) as emu:
        assert NOTES in emu.published_sets()


def test_a_low_rating_opens_a_follow_up_note_on_the_request_in_1c(emulator: Emulator, sink: SmtpSink, tmp_path: Path) -> None:
    """``csat.low`` (as the csat addon publishes it) with ``csat_low`` among the note events:
    the supervisor is mailed and the request's history in 1C gets one note with the score and
    the customer's words — the follow-up staff see where they work."""
    text = (demo_config(emulator.base_url, tmp_path / "s.db") + BACKEND + notify_section(sink)
            + '  crm_note: {events: [csat_low], author: "crm-bridge (оценки)"}\n')
    bridge = App.from_text(text, clock=FrozenClock(NOW))
    bridge.upgrade_db()
    try:
        run_cycle(bridge)
        with bridge.store.transaction() as s:
            ticket_id, ref = s.execute(select(BindingRow.local_id, BindingRow.remote_id).where(
                BindingRow.model == "ticket", BindingRow.state == "active").order_by(BindingRow.local_id)).first()  # type: ignore[misc]
        before = len(emulator.records(NOTES))
        with bridge.store.transaction() as s:
            unit = bridge.bus.unit(s, NOW, bridge.config)
            unit.publish(DomainEvent("csat.low", "ticket", ticket_id, "csat",
                                     {"survey": 9, "score": 1, "comment": "Так и не перезвонили", "scale": "five",
                                      "version": 0}))
        for _ in range(2):
            run_cycle(bridge)
        mails = [m for m in sink.messages if "lead@example.ru" in str(m["To"])]
        assert any("Так и не перезвонили" in str(m.get_body(("plain",)).get_content()) for m in mails)
        written = [r for r in emulator.records(NOTES) if r["Предмет"] == ref and r["Description"] == "crm-bridge (оценки)"]
        assert len(written) == 1
        assert len(emulator.records(NOTES)) == before + 1
        assert "Так и не перезвонили" in written[0]["ТекстСодержания"]
        assert written[0]["ТекстСодержания"].startswith("[CSAT] Низкая оценка 1 из 5: ")
    finally:
        bridge.close()
