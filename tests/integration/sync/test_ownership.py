"""Ownership enforced (issue #20 point 8): a 1C user's change to a field crm-bridge owns
(``owner: local``: the SLA's due dates and state) is overwritten by the current decision,
and the restoration said (``sync.merge.restored``: the CRM number, the field, 1C's value
and ours) — never left silently different. Against the emulator over real HTTP, the user
editing as a 1C user does, in each situation the sync engine meets it:

(a) nothing else in the record changed; (b) while an outbox row for the field waits, and
between two writes of ours to the record in one batch (the case that left it: the second
write's version was taken for our own echo); (c) after write-back, clearing our value;
(d) setting a value where ours is empty; (e) in exchange-plan mode; (f) right after our
write to the same field (same second, next DataVersion); (g) found by reconcile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.events import DomainEvent
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow
from sync.tables import BindingRow, OutboxRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"
EMPTY = "0001-01-01T00:00:00"
USERS = "2031-03-03T10:00:00"  # what the 1C user types into a due date
WIRE = {"resolution_due": "СрокИсполнения", "first_response_due": "СрокПервогоОтвета"}


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=11, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def settled(emulator: Emulator, folder: Path, extra: str = "") -> tuple[App, FrozenClock]:
    """A bridge that imported, planned and wrote back: 1C and the store agree."""
    clock = FrozenClock(NOW)
    app = App.from_text(demo_config(emulator.base_url, folder / "s.db") + extra, clock=clock)
    app.upgrade_db()
    run_cycle(app)
    return app, clock


@pytest.fixture
def bridge(emulator: Emulator, tmp_path: Path) -> Iterator[tuple[App, FrozenClock]]:
    app, clock = settled(emulator, tmp_path)
    yield app, clock
    app.close()


def on_wire(value: datetime | None) -> str:
    return EMPTY if value is None else value.astimezone(MOSCOW).replace(tzinfo=None).isoformat()


def ours(app: App, key: str, field: str) -> str:
    """The store's value of `field` of the request `key`, as 1C writes it."""
    with app.store.transaction() as s:
        local_id = s.scalars(select(BindingRow.local_id).where(BindingRow.remote_id == key)).one()
        ticket = s.get(TicketRow, local_id)
        assert ticket is not None
        value: str = on_wire(getattr(ticket, field))
        return value


def theirs(emulator: Emulator, key: str, field: str) -> str:
    record = emulator.get(DOC, key)
    assert record is not None
    return str(record[WIRE[field]])


def request_with(app: App, emulator: Emulator, field: str, *, planned: bool) -> tuple[str, str]:
    """(key, number) of an open request whose `field` crm-bridge planned (or left empty)."""
    for doc in emulator.records(DOC):
        key = str(doc["Ref_Key"])
        if doc["DeletionMark"] or (ours(app, key, field) != EMPTY) != planned:
            continue
        assert theirs(emulator, key, field) == ours(app, key, field)  # settled: in agreement
        return key, str(doc["Number"])
    raise AssertionError(f"no request with {field} {'planned' if planned else 'empty'}")


def restored(caplog: pytest.LogCaptureFixture, number: str, field: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "event", None) == "sync.merge.restored"
            and getattr(r, "number", None) == number and getattr(r, "field", None) == field]


def after_write(app: App, act: Callable[[str], object]) -> None:
    """Run `act(remote id)` right after the backend's first PATCH of the next dispatch
    returns (a 1C user saving the record between our writes, or in the same second)."""
    backend = app.backend("demo-1c")
    real = backend.update
    done: list[bool] = []

    def update(spec: Any, remote_id: str, values: dict[str, Any], **kwargs: Any) -> str | None:
        version: str | None = real(spec, remote_id, values, **kwargs)
        if not done:
            done.append(True)
            act(remote_id)
        return version

    backend.update = update


def test_a_an_owned_field_edited_alone_is_restored_and_the_restoration_said(
        emulator: Emulator, bridge: tuple[App, FrozenClock], caplog: pytest.LogCaptureFixture) -> None:
    app, clock = bridge
    key, number = request_with(app, emulator, "first_response_due", planned=True)
    planned = ours(app, key, "first_response_due")
    emulator.update(DOC, key, {"СрокПервогоОтвета": USERS})
    clock.at += timedelta(minutes=1)
    with caplog.at_level(logging.WARNING, logger="sync.importer"):
        result = run_cycle(app)
    assert result["sync.dispatch"]["demo-1c"]["sent"] == 1
    assert theirs(emulator, key, "first_response_due") == planned == ours(app, key, "first_response_due")
    [said] = restored(caplog, number, "first_response_due")
    assert datetime.fromisoformat(said.remote) == datetime.fromisoformat(USERS).replace(tzinfo=MOSCOW)  # type: ignore[attr-defined]
    assert datetime.fromisoformat(said.local) == datetime.fromisoformat(planned).replace(tzinfo=MOSCOW)  # type: ignore[attr-defined]
    assert number in said.getMessage()
    clock.at += timedelta(minutes=1)
    assert run_cycle(app)["sync.pull"]["demo-1c"]["ticket"]["updated"] == 0  # our write is no echo: quiet again


def test_b_an_owned_field_edited_while_its_row_waits_gets_the_newest_decision(
        emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    app, clock = bridge
    key, _ = request_with(app, emulator, "resolution_due", planned=True)
    with app.store.transaction() as s:  # a decision of ours, its row not sent yet
        local_id = s.scalars(select(BindingRow.local_id).where(BindingRow.remote_id == key)).one()
        ticket = s.get(TicketRow, local_id)
        assert ticket is not None
        assert ticket.resolution_due is not None
        ticket.resolution_due += timedelta(hours=1)
        app.bus.unit(s, clock(), app.config).publish(DomainEvent(
            "record.changed", "ticket", local_id, "test", {"fields": {"resolution_due": ticket.resolution_due}}))
    emulator.update(DOC, key, {"СрокИсполнения": USERS})
    clock.at += timedelta(minutes=1)
    run_cycle(app)
    assert theirs(emulator, key, "resolution_due") == ours(app, key, "resolution_due") != USERS
    with app.store.transaction() as s:
        assert s.scalars(select(OutboxRow).where(OutboxRow.state.in_(("pending", "parked")))).all() == []


def test_b_an_owned_field_edited_between_two_writes_of_ours_is_not_taken_for_our_echo(
        emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    """Two rows of one request in one dispatch (an older row retried after back-off, a
    newer decision beside it); a 1C user saves the request between their two PATCHes. The
    second PATCH's version holds the user's edit: taken for our own, the next import
    skipped it and the user's value stayed, unrecorded."""
    app, clock = bridge
    key, _ = request_with(app, emulator, "first_response_due", planned=True)
    planned = ours(app, key, "first_response_due")
    with app.store.transaction() as s:
        local_id = s.scalars(select(BindingRow.local_id).where(BindingRow.remote_id == key)).one()
        ticket = s.get(TicketRow, local_id)
        assert ticket is not None
        assert ticket.resolution_due is not None
        ticket.resolution_due += timedelta(hours=1)
        app.bus.unit(s, clock(), app.config).publish(DomainEvent(
            "record.changed", "ticket", local_id, "test", {"fields": {"resolution_due": ticket.resolution_due}}))
    with app.store.transaction() as s:  # tried once and backed off: a newer decision gets its own row
        first = s.scalars(select(OutboxRow).where(OutboxRow.origin == "test")).one()
        first.attempts = 1
    with app.store.transaction() as s:
        ticket = s.get(TicketRow, local_id)
        assert ticket is not None
        ticket.sla_breached = not ticket.sla_breached
        app.bus.unit(s, clock(), app.config).publish(DomainEvent(
            "record.changed", "ticket", local_id, "test", {"fields": {"sla_breached": ticket.sla_breached}}))
    after_write(app, lambda remote_id: emulator.update(DOC, remote_id, {"СрокПервогоОтвета": USERS}))
    clock.at += timedelta(minutes=1)
    assert app.run_job("sync.dispatch")["demo-1c"]["sent"] == 2
    assert theirs(emulator, key, "first_response_due") == USERS  # the user's edit, between our two writes
    clock.at += timedelta(minutes=1)
    app.run_job("sync.pull")
    app.run_job("sync.dispatch")
    assert theirs(emulator, key, "first_response_due") == planned == ours(app, key, "first_response_due")


def test_c_an_owned_value_cleared_after_write_back_is_written_again(
        emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    app, clock = bridge
    key, _ = request_with(app, emulator, "resolution_due", planned=True)
    planned = ours(app, key, "resolution_due")
    for attempt in (1, 2):  # the second time, 1C holds again what the first import saw
        emulator.update(DOC, key, {"СрокИсполнения": EMPTY})
        clock.at += timedelta(minutes=1)
        assert run_cycle(app)["sync.dispatch"]["demo-1c"]["sent"] == 1, attempt
        assert theirs(emulator, key, "resolution_due") == planned, attempt


def test_d_a_value_typed_where_crm_bridge_decided_none_is_cleared(
        emulator: Emulator, bridge: tuple[App, FrozenClock], caplog: pytest.LogCaptureFixture) -> None:
    app, clock = bridge
    key, number = request_with(app, emulator, "resolution_due", planned=False)
    emulator.update(DOC, key, {"СрокИсполнения": USERS})
    clock.at += timedelta(minutes=1)
    with caplog.at_level(logging.WARNING, logger="sync.importer"):
        run_cycle(app)
    assert theirs(emulator, key, "resolution_due") == EMPTY == ours(app, key, "resolution_due")
    [said] = restored(caplog, number, "resolution_due")
    assert said.local == "«empty»"  # type: ignore[attr-defined]


def test_e_an_owned_field_edited_is_restored_in_exchange_plan_mode(emulator: Emulator, tmp_path: Path) -> None:
    app, clock = settled(emulator, tmp_path, "    change_detection: exchange_plan\n")
    try:
        clock.at += timedelta(minutes=1)
        run_cycle(app)  # the feed's first packages: what the initial scan and our writes registered
        key, _ = request_with(app, emulator, "resolution_due", planned=True)
        planned = ours(app, key, "resolution_due")
        emulator.update(DOC, key, {"СрокИсполнения": USERS})
        clock.at += timedelta(minutes=1)
        run_cycle(app)
        assert theirs(emulator, key, "resolution_due") == planned
        clock.at += timedelta(minutes=1)
        run_cycle(app)  # and it stays: our write's registration comes back as our own echo
        assert theirs(emulator, key, "resolution_due") == planned
    finally:
        app.close()


def test_f_an_owned_field_edited_right_after_our_write_to_it_is_restored(
        emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    app, clock = bridge
    key, _ = request_with(app, emulator, "resolution_due", planned=True)
    with app.store.transaction() as s:
        local_id = s.scalars(select(BindingRow.local_id).where(BindingRow.remote_id == key)).one()
        ticket = s.get(TicketRow, local_id)
        assert ticket is not None
        assert ticket.resolution_due is not None
        ticket.resolution_due += timedelta(hours=2)
        app.bus.unit(s, clock(), app.config).publish(DomainEvent(
            "record.changed", "ticket", local_id, "test", {"fields": {"resolution_due": ticket.resolution_due}}))
    decided = ours(app, key, "resolution_due")
    after_write(app, lambda remote_id: emulator.update(DOC, remote_id, {"СрокИсполнения": USERS}))
    assert app.run_job("sync.dispatch")["demo-1c"]["sent"] == 1
    assert theirs(emulator, key, "resolution_due") == USERS  # saved by the user the moment after ours
    app.run_job("sync.pull")  # same clock, same second
    app.run_job("sync.dispatch")
    assert theirs(emulator, key, "resolution_due") == decided == ours(app, key, "resolution_due")


def test_g_an_owned_field_edited_is_restored_through_reconcile(
        emulator: Emulator, bridge: tuple[App, FrozenClock]) -> None:
    app, clock = bridge
    key, _ = request_with(app, emulator, "first_response_due", planned=True)
    planned = ours(app, key, "first_response_due")
    emulator.update(DOC, key, {"СрокПервогоОтвета": USERS})
    clock.at += timedelta(minutes=1)
    summary = app.run_job("sync.reconcile")
    assert summary["demo-1c"]["ticket"]["repaired"] == 1
    app.run_job("sync.dispatch")
    assert theirs(emulator, key, "first_response_due") == planned
