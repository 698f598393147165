"""With 1C misbehaving — slow, locked, refusing, cutting answers — the bridge still ends
with the store and 1C in agreement: every fault is retried or parked with its reason,
nothing is lost or duplicated."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from onec_loop import DOC, NOW, assert_in_agreement, loop_app
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from sync.tables import OutboxRow


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=40, seed=9, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def bridge(emulator: Emulator, tmp_path: Path) -> Iterator[tuple[App, FrozenClock]]:
    clock = FrozenClock(NOW)
    app = loop_app(emulator, tmp_path, clock)
    yield app, clock
    app.close()


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
    app.run_job("sla.tick")
    # 1C says it is overloaded: the pass stops, every row waits as long as it asked
    emulator.inject("status", status=429, retry_after=30, method="PATCH", entity_set=DOC, count=1)
    first = app.run_job("sync.dispatch")["demo-1c"]
    assert emulator.faults.list() == []
    with app.store.transaction() as s:
        pending = s.scalars(select(OutboxRow).where(OutboxRow.state == "pending")).all()
        assert first["retried"] == len(pending) > 1
        assert sorted(r.attempts for r in pending) == [0] * (len(pending) - 1) + [1]  # only the row that met it spent one
        assert all(r.next_attempt_at >= NOW + timedelta(seconds=30) for r in pending)
    clock.at += timedelta(minutes=1)
    # then faults of one write each: the others go on
    emulator.inject("status", status=500, code="-1", method="PATCH", entity_set=DOC, count=1)
    emulator.inject("timeout", seconds=2, method="PATCH", entity_set=DOC, count=1)
    emulator.inject("drop", method="PATCH", entity_set=DOC, count=1)
    second = app.run_job("sync.dispatch")["demo-1c"]
    assert emulator.faults.list() == []
    assert second["retried"] == 2  # the timeout, the dropped connection
    assert second["parked"] == 1  # the 1C handler's refusal: retrying the same call would not help
    with app.store.transaction() as s:
        parked = s.scalars(select(OutboxRow).where(OutboxRow.state == "parked")).one()
        assert "ПередЗаписью" in (parked.last_error or "")
    # an operator fixes the data in 1C and retries the dead letter; time passes
    with app.store.transaction() as s:
        for row in s.scalars(select(OutboxRow).where(OutboxRow.state == "parked")):
            row.state, row.attempts, row.next_attempt_at = "pending", 0, NOW
    clock.at += timedelta(hours=2)
    app.run_job("sync.dispatch")
    clock.at += timedelta(minutes=1)
    app.run_job("sync.pull")  # the timed-out PATCH may have landed too: its echo is recognised
    app.run_job("sla.tick")
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
