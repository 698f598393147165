"""With 1C misbehaving — slow, locked, refusing, cutting answers — the bridge still ends
with the store and 1C in agreement: every fault is retried or parked with its reason,
nothing is lost or duplicated."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow
from sync.tables import BindingRow, OutboxRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=40, seed=9, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def bridge(emulator: Emulator, tmp_path: Path) -> Iterator[tuple[App, FrozenClock]]:
    clock = FrozenClock(NOW)
    text = demo_config(emulator.base_url, tmp_path / "s.db") + "    timeout: {connect: 2, read: 1}\n    page_size: 10\n    scan_page_size: 10\n"
    app = App.from_text(text, clock=clock)
    app.upgrade_db()
    yield app, clock
    app.close()


def assert_in_agreement(app: App, emulator: Emulator) -> None:
    live = {d["Ref_Key"]: d for d in emulator.records(DOC) if not d["DeletionMark"]}
    with app.store.transaction() as s:
        bindings = {b.remote_id: b for b in s.scalars(select(BindingRow).where(BindingRow.model == "ticket"))}
        assert set(bindings) == set(live)  # every request bound once, none extra
        assert s.scalar(select(func.count()).select_from(TicketRow)) == len(live)  # no duplicates
        assert s.scalars(select(OutboxRow).where(OutboxRow.state.in_(("pending", "parked")))).all() == []
        for key, binding in bindings.items():
            ticket = s.get(TicketRow, binding.local_id)
            assert ticket is not None
            due = "0001-01-01T00:00:00" if ticket.resolution_due is None else ticket.resolution_due.astimezone(MOSCOW).replace(tzinfo=None).isoformat()
            assert live[key]["СрокИсполнения"] == due, live[key]["Number"]
        with_due = s.scalars(select(TicketRow).where(TicketRow.resolution_due.is_not(None))).all()
        assert len(with_due) > 0.7 * len(live)


def test_locked_base_and_cut_answers_during_import_are_retried(emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    app, _ = bridge
    emulator.inject("status", status=503, retry_after=1, method="GET", entity_set=DOC, count=2)
    emulator.inject("truncate", method="GET", entity_set=DOC, count=1)
    emulator.inject("malformed", method="GET", entity_set="Catalog_Партнеры", count=1)
    emulator.inject("status", status=429, retry_after=1, method="GET", entity_set="Catalog_Пользователи", count=1)
    result = run_cycle(app)
    assert emulator.faults.list() == []  # every injected fault was met
    assert "error" not in result["sync.pull"]["demo-1c"]
    assert_in_agreement(app, emulator)


def test_write_faults_back_off_or_park_and_end_in_agreement(emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    app, clock = bridge
    app.run_job("sync.pull")
    emulator.inject("status", status=429, retry_after=30, method="PATCH", entity_set=DOC, count=2)
    emulator.inject("status", status=500, code="-1", method="PATCH", entity_set=DOC, count=1)
    emulator.inject("timeout", seconds=2, method="PATCH", entity_set=DOC, count=1)
    emulator.inject("drop", method="PATCH", entity_set=DOC, count=1)
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert emulator.faults.list() == []
    assert first["retried"] == 4  # two 429s, the timeout, the dropped connection
    assert first["parked"] == 1  # the 1C handler's refusal: retrying the same call would not help
    with app.store.transaction() as s:
        parked = s.scalars(select(OutboxRow).where(OutboxRow.state == "parked")).one()
        assert "ПередЗаписью" in (parked.last_error or "")
        waiting = s.scalars(select(OutboxRow).where(OutboxRow.attempts == 1, OutboxRow.state == "pending")).all()
        assert len(waiting) == 4
        assert all(r.next_attempt_at >= NOW for r in waiting)
    # an operator fixes the data in 1C and retries the dead letter; time passes
    with app.store.transaction() as s:
        for row in s.scalars(select(OutboxRow).where(OutboxRow.state == "parked")):
            row.state, row.attempts, row.next_attempt_at = "pending", 0, NOW
    clock.at += timedelta(hours=2)
    app.run_job("sync.dispatch")
    clock.at += timedelta(minutes=1)
    app.run_job("sync.pull")  # the timed-out PATCH may have landed too: its echo is recognised
    app.run_job("sync.dispatch")
    assert_in_agreement(app, emulator)


def test_a_wrong_password_or_an_unpublished_set_fails_the_run_with_its_reason(emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    app, clock = bridge
    emulator.inject("auth", count=1)
    failed = app.run_job("sync.pull")["demo-1c"]
    assert "refused the login" in failed["error"]
    emulator.unpublish("Catalog_КонтактныеЛицаПартнеров")
    clock.at += timedelta(minutes=1)
    missing = app.run_job("sync.pull")["demo-1c"]
    assert "Catalog_КонтактныеЛицаПартнеров" in missing["error"]
    assert "standard OData interface" in missing["error"]
    emulator.publish("Catalog_КонтактныеЛицаПартнеров")
    clock.at += timedelta(minutes=1)
    run_cycle(app)
    assert_in_agreement(app, emulator)
