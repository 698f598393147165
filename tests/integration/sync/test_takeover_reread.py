"""A dead worker's claim is taken over only if its grace had passed by the re-read the
pass made of 1C: a pass that starts inside the grace and claims after it would compare
the newer decision with a snapshot taken before the stale write landed — a decision that
restores what 1C held before would be "already held", marked sent without a write, and 1C
would keep the stale value with nothing pending. (The stale write lands right after the
re-read and the grace passes during ``create_pending``, which with many creates or a
slow 1C takes seconds.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App
from crm_bridge.events import DomainEvent, EventBus
from crm_bridge.registry import Registry
from sync import claim as claims
from sync import exporter
from sync.outbox import enqueue
from sync.tables import BindingRow, OutboxRow

DOC = "Document_Интерес"
MSK = ZoneInfo("Europe/Moscow")
STALE = datetime(2031, 5, 5, 10, 0, tzinfo=MSK)
GRACE = 0.5


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=5, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def decide(app: App, local_id: int, due: datetime) -> None:
    registry = Registry()
    registry.add(enqueue, usage="event.handler", model="record.changed")
    with app.store.transaction() as s:
        EventBus(registry).unit(s, datetime.now(UTC), None).publish(
            DomainEvent("record.changed", "ticket", local_id, "sla", {"fields": {"resolution_due": due}}))


def test_a_dead_owners_row_is_taken_over_only_against_a_re_read_made_after_its_grace(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claims, "TAKEOVER_GRACE", GRACE)
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"))
    try:
        app.upgrade_db()
        app.run_job("sync.pull")
        doc = emulator.records(DOC)[0]
        emulator.update(DOC, doc["Ref_Key"], {"СрокИсполнения": "2030-01-01T09:00:00"})  # what 1C holds
        app.run_job("sync.pull")
        doc = emulator.get(DOC, doc["Ref_Key"])
        held_before = datetime.fromisoformat(str(doc["СрокИсполнения"])).replace(tzinfo=MSK)
        with app.store.transaction() as s:
            local_id = s.scalars(select(BindingRow.local_id).where(
                BindingRow.model == "ticket", BindingRow.remote_id == doc["Ref_Key"])).one()
        decide(app, local_id, STALE)  # decision 1: its write was sent by a worker that then died
        dead_pid = 2**22 + 4321  # no such process
        with app.store.transaction() as s:
            row = s.scalars(select(OutboxRow).where(OutboxRow.local_id == local_id, OutboxRow.state == "pending")).one()
            row.claimed_by = f"{claims._HOST}:{dead_pid}:{time.time_ns() // 1_000_000}:deadbeef0000"
            row.claim_expires = datetime.now(UTC) + claims.LEASE
        decide(app, local_id, held_before)  # decision 2: back to what 1C held before

        original = exporter.create_pending

        def slow_creates(*args, **kwargs):  # type: ignore[no-untyped-def]
            emulator.update(DOC, doc["Ref_Key"], {"СрокИсполнения": "2031-05-05T10:00:00"})  # the stale write lands
            time.sleep(float(GRACE + 0.2))  # the creates take a moment: the grace ends meanwhile
            return original(*args, **kwargs)

        monkeypatch.setattr(exporter, "create_pending", slow_creates)
        app.run_job("sync.dispatch")
        with app.store.transaction() as s:
            left = s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending"))
        assert left, "the dead owner's row was taken over against a re-read from inside its grace"
        in_1c = str(emulator.get(DOC, doc["Ref_Key"])["СрокИсполнения"])
        assert in_1c == STALE.replace(tzinfo=None).isoformat()  # the stale write landed; the next pass re-reads it
    finally:
        app.close()
