"""Co-executors (1C's Соисполнители tabular section) over real HTTP: routing adds them, the
outbox writes the whole section, a 1C user's edit is imported, a manual reassignment stays."""

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
from routing.tables import RoutingLogRow
from sync.tables import BindingRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"
EMPTY = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=60, seed=7, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


def app_for(emulator: Emulator, tmp_path: Path, clock: FrozenClock, *, count: int = 1) -> App:
    text = demo_config(emulator.base_url, tmp_path / "store.db", co_executors=True)
    app = App.from_text(text.replace("min_level: 1}", f"min_level: 1, count: {count}}}"), clock=clock)
    app.upgrade_db()
    return app


@pytest.fixture
def bridge(emulator: Emulator, tmp_path: Path, clock: FrozenClock) -> Iterator[App]:
    app = app_for(emulator, tmp_path, clock)
    yield app
    app.close()


def users(app: App) -> dict[int, str]:
    """Local agent id → 1C user key."""
    with app.store.transaction() as s:
        return {local: remote for local, remote in s.execute(select(BindingRow.local_id, BindingRow.remote_id).where(
            BindingRow.model == "agent"))}


def tickets(app: App) -> dict[str, TicketRow]:
    """1C key → the local request (detached copies of the columns the tests read)."""
    with app.store.transaction() as s:
        rows = s.execute(select(TicketRow, BindingRow.remote_id).join(
            BindingRow, (BindingRow.local_id == TicketRow.id) & (BindingRow.model == "ticket"))).all()
        for row, _ in rows:
            s.expunge(row)
        return {remote: row for row, remote in rows}


def section(emulator: Emulator, ref: str) -> list[dict[str, Any]]:
    doc = emulator.get(DOC, ref)
    assert doc is not None
    return list(doc["Соисполнители"])


def versions(emulator: Emulator) -> dict[str, str]:
    return {d["Ref_Key"]: d["DataVersion"] for d in emulator.records(DOC)}


def test_routing_writes_co_executors_into_the_section_and_a_second_pass_writes_nothing(emulator: Emulator, bridge: App) -> None:
    routed_before = {d["Ref_Key"] for d in emulator.records(DOC) if d["Ответственный_Key"] == EMPTY}
    for ref in sorted(routed_before)[:4]:  # urgent: the demo's rule adds a co-executor to those
        emulator.update(DOC, ref, {"ВидОбращения": "СрочныйЗапрос"})
    run_cycle(bridge)
    keys = users(bridge)
    with bridge.store.transaction() as s:
        logged = {e.ticket_id: e.data for e in s.scalars(select(RoutingLogRow).where(RoutingLogRow.action == "co_executors"))}
    assert logged, "the demo rule added no co-executor"
    added = 0
    for ref, ticket in tickets(bridge).items():
        held = section(emulator, ref)
        # what the store holds is what 1C serves, row for row, numbered 1..n with the role
        assert [r["Пользователь_Key"] for r in held] == [keys[i] for i in ticket.co_executors], ticket.number
        assert [r["LineNumber"] for r in held] == [str(n) for n in range(1, len(held) + 1)]
        if ticket.id in logged and logged[ticket.id]["co_executors"]:
            assert ref in routed_before
            assert ticket.type in ("urgent", "technical_problem")
            assert ticket.assignee_id not in ticket.co_executors  # the assignee is never their own co-executor
            assert all(r["Роль"] == "Соисполнитель" for r in held)
            added += 1
    assert added > 0
    before = versions(emulator)
    again = run_cycle(bridge)
    assert again["sync.pull"]["demo-1c"]["ticket"]["updated"] == 0
    assert again["sync.dispatch"]["demo-1c"]["sent"] == 0
    assert versions(emulator) == before  # no echo write


def test_a_1c_user_editing_the_section_is_imported_and_not_written_back(emulator: Emulator, bridge: App,
                                                                      clock: FrozenClock) -> None:
    run_cycle(bridge)
    keys = users(bridge)
    local_of = {remote: local for local, remote in keys.items()}
    ref, ticket = next((r, t) for r, t in tickets(bridge).items() if not t.deleted)
    chosen = [k for k in keys.values()][:2]
    emulator.update(DOC, ref, {"Соисполнители": [{"LineNumber": i, "Пользователь_Key": k, "Роль": "Эксперт"}
                                                  for i, k in enumerate(chosen, start=1)]})
    edited = versions(emulator)
    clock.at += timedelta(minutes=5)
    result = run_cycle(bridge)
    assert result["sync.pull"]["demo-1c"]["ticket"]["updated"] == 1
    assert tickets(bridge)[ref].co_executors == [local_of[k] for k in chosen]
    assert result["sync.dispatch"]["demo-1c"]["sent"] == 0
    assert versions(emulator) == edited  # the user's rows (and their role) stay as typed
    assert [r["Роль"] for r in section(emulator, ref)] == ["Эксперт", "Эксперт"]
    # emptied in 1C: imported as no co-executors
    emulator.update(DOC, ref, {"Соисполнители": []})
    run_cycle(bridge)
    assert tickets(bridge)[ref].co_executors == []


def test_adding_a_co_executor_sends_the_whole_section_keeping_the_rows_1c_had(emulator: Emulator, tmp_path: Path,
                                                                             clock: FrozenClock) -> None:
    app = app_for(emulator, tmp_path, clock, count=2)
    try:
        run_cycle(app)
        keys = users(app)
        # an open request that already has one co-executor in 1C, made urgent and unassigned by a 1C user
        ref = next(d["Ref_Key"] for d in emulator.records(DOC) if len(d["Соисполнители"]) == 1 and not d["DeletionMark"]
                   and tickets(app)[d["Ref_Key"]].status in ("new", "in_progress"))
        first = section(emulator, ref)[0]["Пользователь_Key"]
        emulator.update(DOC, ref, {"Ответственный_Key": EMPTY, "ВидОбращения": "СрочныйЗапрос"})
        clock.at += timedelta(minutes=5)
        result = run_cycle(app)
        assert result["routing.tick"]["assigned"] >= 1
        ticket = tickets(app)[ref]
        assert len(ticket.co_executors) == 2
        assert keys[ticket.co_executors[0]] == first
        held = section(emulator, ref)
        # a PATCH replaces the section: the row 1C had is still there only because the whole list was sent
        assert [(r["LineNumber"], r["Пользователь_Key"]) for r in held] == [
            ("1", first), ("2", keys[ticket.co_executors[1]])]
        assert ticket.assignee_id is not None
        assert keys[ticket.assignee_id] == emulator.get(DOC, ref)["Ответственный_Key"]  # type: ignore[index]
        assert keys[ticket.assignee_id] not in {r["Пользователь_Key"] for r in held}
    finally:
        app.close()


def test_a_manual_reassignment_in_1c_survives_the_next_cycles(emulator: Emulator, bridge: App, clock: FrozenClock) -> None:
    unassigned = {d["Ref_Key"] for d in emulator.records(DOC) if d["Ответственный_Key"] == EMPTY and not d["DeletionMark"]}
    run_cycle(bridge)
    routed = [ref for ref, t in tickets(bridge).items() if ref in unassigned and t.assignee_id is not None]
    assert routed
    ref = routed[0]
    routed_to = emulator.get(DOC, ref)["Ответственный_Key"]  # type: ignore[index]
    answer = requests.post(f"http://127.0.0.1:{emulator.port}/__emulator__/reassign", json={"ref": ref}, timeout=30)
    answer.raise_for_status()
    by_hand = answer.json()["user"]
    assert by_hand != routed_to
    for _ in range(2):
        clock.at += timedelta(minutes=5)
        run_cycle(bridge)
    local_of = {remote: local for local, remote in users(bridge).items()}
    ticket = tickets(bridge)[ref]
    assert ticket.assignee_id == local_of[by_hand]
    assert emulator.get(DOC, ref)["Ответственный_Key"] == by_hand  # type: ignore[index]
    with bridge.store.transaction() as s:
        moves = s.scalars(select(RoutingLogRow.action).where(RoutingLogRow.ticket_id == ticket.id,
                                                             RoutingLogRow.action == "assigned")).all()
    assert len(moves) == 1  # routed once, never again after the person's choice
