"""Clearing is a change: a field crm-bridge owns that becomes empty is emptied in 1C too
(1C's empty value for its type, through the outbox like any other change)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow
from sync.tables import BindingRow, OutboxRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"
EMPTY_DATE = "0001-01-01T00:00:00"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=60, seed=7, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def bridge_on(emulator: Emulator, db: Path, clock: FrozenClock) -> App:
    app = App.from_text(demo_config(emulator.base_url, db), clock=clock)
    app.upgrade_db()
    return app


def answer_of_1c(emulator: Emulator, ref: str) -> dict[str, Any]:
    """The request as 1C's OData answers it over HTTP."""
    response = requests.get(f"{emulator.base_url}{DOC}(guid'{ref}')", params={"$format": "json"},
                            auth=(DEMO_LOGIN.encode(), DEMO_PASSWORD.encode()), timeout=10)
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return body


def states(emulator: Emulator) -> dict[str, str]:
    return {s["Description"]: str(s["Ref_Key"]) for s in emulator.records("Catalog_СостоянияИнтересов")}


def test_a_request_going_to_waiting_for_the_customer_has_its_due_date_emptied_in_1c(
        emulator: Emulator, tmp_path: Path, clock: FrozenClock) -> None:
    app = bridge_on(emulator, tmp_path / "s.db", clock)
    run_cycle(app)
    doc = next(d for d in emulator.records(DOC) if not d["DeletionMark"] and d["Состояние_Key"] == states(emulator)["В работе"])
    assert answer_of_1c(emulator, doc["Ref_Key"])["СрокИсполнения"] != EMPTY_DATE
    emulator.update(DOC, doc["Ref_Key"], {"Состояние_Key": states(emulator)["Ожидает ответа клиента"]})
    clock.at += timedelta(minutes=5)
    result = run_cycle(app)
    assert result["sync.dispatch"]["demo-1c"]["sent"] == 1
    answer = answer_of_1c(emulator, doc["Ref_Key"])
    assert answer["СрокИсполнения"] == EMPTY_DATE
    assert answer["СостояниеSLA"] == "paused"
    with app.store.transaction() as s:
        local = s.scalar(select(BindingRow.local_id).where(BindingRow.remote_id == doc["Ref_Key"]))
        ticket = s.get(TicketRow, local)
        assert ticket is not None
        assert ticket.resolution_due is None
        sent = s.scalars(select(OutboxRow.fields).where(OutboxRow.local_id == local, OutboxRow.state == "sent")).all()
    assert sent[-1]["resolution_due"] is None
    app.close()


def test_a_fresh_store_empties_the_old_due_dates_1c_keeps_on_waiting_requests(
        emulator: Emulator, tmp_path: Path, clock: FrozenClock) -> None:
    """1C holds due dates an earlier store wrote; requests now waiting for the customer have
    none in crm-bridge: imported anew, 1C's are emptied, not kept for good."""
    waiting = states(emulator)["Ожидает ответа клиента"]
    paused = [d["Ref_Key"] for d in emulator.records(DOC) if not d["DeletionMark"] and d["Состояние_Key"] == waiting]
    assert paused
    for ref in paused:  # what an earlier write-back (or a 1C user) left there
        emulator.update(DOC, ref, {"СрокИсполнения": "2026-11-18T17:00:00", "СостояниеSLA": "on_track"})
    app = bridge_on(emulator, tmp_path / "fresh.db", clock)
    run_cycle(app)
    for ref in paused:
        answer = answer_of_1c(emulator, ref)
        assert (answer["СрокИсполнения"], answer["СостояниеSLA"]) == (EMPTY_DATE, "paused"), answer["Number"]
    again = run_cycle(app)
    assert again["sync.dispatch"]["demo-1c"]["sent"] == 0  # settled: nothing to clear twice
    app.close()


def test_a_due_date_a_1c_user_types_into_a_waiting_request_is_emptied_again(
        emulator: Emulator, tmp_path: Path, clock: FrozenClock) -> None:
    app = bridge_on(emulator, tmp_path / "s.db", clock)
    run_cycle(app)
    waiting = states(emulator)["Ожидает ответа клиента"]
    ref = next(d["Ref_Key"] for d in emulator.records(DOC) if not d["DeletionMark"] and d["Состояние_Key"] == waiting)
    emulator.update(DOC, ref, {"СрокИсполнения": "2026-11-25T18:00:00"})
    clock.at += timedelta(minutes=5)
    run_cycle(app)
    assert answer_of_1c(emulator, ref)["СрокИсполнения"] == EMPTY_DATE
    app.close()
