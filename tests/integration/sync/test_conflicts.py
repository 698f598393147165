"""Field ownership and conflicts against the emulator, and the operator's commands."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.onec.adapter import DEFAULT_MAPPINGS
from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.events import DomainEvent
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow
from sync.tables import BindingRow, ConflictRow, OutboxRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=11, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def open_doc(emulator: Emulator) -> dict[str, object]:
    return next(d for d in emulator.records(DOC) if not d["DeletionMark"])


def with_ticket_mapping(emulator: Emulator, tmp_path: Path, old: str, new: str,
                        settings: str = "") -> tuple[App, FrozenClock, Path]:
    """An app whose ticket mapping is the shipped one with `old` replaced by `new`; its
    backend takes `settings` too. Returns the app, its clock and its configuration file."""
    mappings = tmp_path / "mappings"
    shutil.copytree(DEFAULT_MAPPINGS, mappings)
    ticket = mappings / "ticket.yaml"
    shipped = ticket.read_text(encoding="utf-8")
    assert old in shipped
    ticket.write_text(shipped.replace(old, new), encoding="utf-8")
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(demo_config(emulator.base_url, tmp_path / "s.db") + f"    mappings: {mappings}\n" + settings,
                      encoding="utf-8")
    clock = FrozenClock(NOW)
    app = App.from_file(config)
    app.clock = clock
    return app, clock, config


def test_a_user_overwriting_the_due_date_in_1c_gets_the_slas_date_back(emulator: Emulator, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=clock)
    try:
        app.upgrade_db()
        run_cycle(app)
        doc = open_doc(emulator)
        planned = doc["СрокИсполнения"]
        for attempt in (1, 2):  # the second time, 1C holds what the import saw before our first write
            emulator.update(DOC, str(doc["Ref_Key"]), {"СрокИсполнения": "2030-01-01T00:00:00"})
            clock.at += timedelta(minutes=1)
            result = run_cycle(app)
            assert result["sync.dispatch"]["demo-1c"]["sent"] == 1, attempt
            restored = emulator.get(DOC, str(doc["Ref_Key"]))
            assert restored is not None
            assert restored["СрокИсполнения"] == planned, attempt
    finally:
        app.close()


def test_a_shared_field_changed_on_both_sides_waits_for_a_person(emulator: Emulator, tmp_path: Path) -> None:
    app, clock, config = with_ticket_mapping(
        emulator, tmp_path, "subject: {from: Тема, transform: [strip]}",
        "subject: {from: Тема, transform: [strip], owner: newest}", "    conflicts: {ticket: manual}\n")
    try:
        app.upgrade_db()
        run_cycle(app)
        doc = open_doc(emulator)
        key = str(doc["Ref_Key"])
        with app.store.transaction() as s:  # an engine (say, intake) renames the request locally
            local_id = s.scalars(select(BindingRow.local_id).where(BindingRow.remote_id == key)).one()
            s.get(TicketRow, local_id).subject = "Тема от crm-bridge"  # type: ignore[union-attr]
            app.bus.unit(s, clock(), app.config).publish(
                DomainEvent("record.changed", "ticket", local_id, "test", {"fields": {"subject": "Тема от crm-bridge"}}))
        emulator.update(DOC, key, {"Тема": "Тема от пользователя 1С"})  # ...while a 1C user renames it too
        clock.at += timedelta(minutes=1)
        run_cycle(app)
        after = emulator.get(DOC, key)
        assert after is not None
        assert after["Тема"] == "Тема от пользователя 1С"  # nothing was sent over the user's change
        with app.store.transaction() as s:
            assert s.get(TicketRow, local_id).subject == "Тема от crm-bridge"  # type: ignore[union-attr]
            assert s.scalars(select(OutboxRow.state).where(OutboxRow.origin == "test")).one() == "withdrawn"
    finally:
        app.close()

    cli = [sys.executable, "-m", "crm_bridge", "-c", str(config)]
    listed = json.loads(subprocess.run([*cli, "conflicts", "list", "--json"], check=True, capture_output=True, text=True).stdout)
    assert [(c["field"], c["base"], c["local"], c["remote"]) for c in listed] == [
        ("subject", doc["Тема"], "Тема от crm-bridge", "Тема от пользователя 1С")]
    subprocess.run([*cli, "conflicts", "resolve", str(listed[0]["id"]), "--take", "local"], check=True, capture_output=True)
    app = App.from_file(config)
    app.clock = clock
    try:
        clock.at = datetime.now(MOSCOW) + timedelta(minutes=1)  # the CLI decided on the real clock
        assert app.run_job("sync.dispatch")["demo-1c"]["sent"] == 1
        final = emulator.get(DOC, key)
        assert final is not None
        assert final["Тема"] == "Тема от crm-bridge"
        clock.at += timedelta(minutes=1)
        quiet = run_cycle(app)
        assert quiet["sync.pull"]["demo-1c"]["ticket"]["updated"] == 0  # our own write is not an echo
        assert emulator.get(DOC, key)["Тема"] == "Тема от crm-bridge"  # type: ignore[index]
        with app.store.transaction() as s:
            assert s.scalars(select(ConflictRow.state)).all() == ["resolved"]
    finally:
        app.close()
    status = json.loads(subprocess.run([*cli, "status", "--json"], check=True, capture_output=True, text=True).stdout)
    [backend] = status["backends"]
    assert backend["conflicts"] == 0
    assert backend["import"]["status"] == "ok"
    assert backend["bindings"]["ticket"] >= 25


def test_a_field_that_becomes_merged_both_ways_keeps_a_local_edit_not_sent_yet(emulator: Emulator, tmp_path: Path) -> None:
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=FrozenClock(NOW))
    try:
        app.upgrade_db()
        run_cycle(app)  # the shipped mapping: the subject is 1C's
    finally:
        app.close()
    app, clock, _ = with_ticket_mapping(emulator, tmp_path, "subject: {from: Тема, transform: [strip]}",
                                        "subject: {from: Тема, transform: [strip], owner: newest}")
    try:
        key = str(open_doc(emulator)["Ref_Key"])
        with app.store.transaction() as s:  # an engine renames the request; the outbox has not sent it yet
            local_id = s.scalars(select(BindingRow.local_id).where(BindingRow.remote_id == key)).one()
            s.get(TicketRow, local_id).subject = "Тема от crm-bridge"  # type: ignore[union-attr]
            app.bus.unit(s, clock(), app.config).publish(
                DomainEvent("record.changed", "ticket", local_id, "test", {"fields": {"subject": "Тема от crm-bridge"}}))
        emulator.update(DOC, key, {"Описание": "другое описание"})  # 1C changes another field only
        clock.at += timedelta(minutes=1)
        app.run_job("sync.pull")
        with app.store.transaction() as s:  # the base, kept for every field, says only our side changed it
            assert s.get(TicketRow, local_id).subject == "Тема от crm-bridge"  # type: ignore[union-attr]
        run_cycle(app)
        after = emulator.get(DOC, key)
        assert after is not None
        assert after["Тема"] == "Тема от crm-bridge"
    finally:
        app.close()
