"""Re-routing against the 1C emulator over real HTTP: an assignee who goes offline, is
deactivated or deleted in 1C, a request left idle, and an SLA warning on a request still
unanswered move the bridge's assignments — never a 1C user's — and 1C receives the move."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import AgentRow, TicketRow
from routing.tables import RoutingAgentRow, RoutingLogRow, RoutingQueueRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)  # a Monday
DOC, USERS = "Document_Интерес", "Catalog_Пользователи"
EMPTY = "00000000-0000-0000-0000-000000000000"


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    # No seed requests: only the test's own requests carry load.
    with Emulator(requests=0, seed=21, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def people(emulator: Emulator) -> list[dict[str, Any]]:
    return [u for u in emulator.records(USERS) if not u["Недействителен"] and not u.get("Служебный")]


def bridge_for(emulator: Emulator, tmp_path: Path, clock: FrozenClock, *, rule: str = "", reroute: str = "",
               policies: str = "") -> tuple[App, str, str]:
    """Two agents in team L2, round the clock, round robin; the rest of 1C's users are not routed."""
    first, second = (u["Description"] for u in people(emulator)[:2])
    head, tail = demo_config(emulator.base_url, tmp_path / "s.db").split("routing:")
    config = head + tail[tail.index("backends:"):] + f"""
routing:
  agents:
    {first}: {{team: L2, schedule: 24x7}}
    {second}: {{team: L2, schedule: 24x7}}
  teams:
    L2: {{lead: {first}}}
  rules:
    - {{name: everything, team: L2, method: round_robin{rule}}}
{reroute}
sla:
  policies:
{policies or "    - {name: everything, calendar: 24x7, targets: {resolution: 48h}}"}
"""
    bridge = App.from_text(config, clock=clock)
    bridge.upgrade_db()
    bridge.run_job("sync.pull")  # the agents, to set their status
    return bridge, first, second


def new_request(emulator: Emulator, bridge: App, *, assignee: str = EMPTY) -> dict[str, Any]:
    partner = next(p for p in emulator.records("Catalog_Партнеры") if not p["DeletionMark"])
    new_state = next(s["Ref_Key"] for s in emulator.records("Catalog_СостоянияИнтересов") if s["Description"] == "Новое")
    return bridge.backend("demo-1c").client.post(DOC, {  # type: ignore[no-any-return]
        "Date": "2026-11-23T09:45:00", "Партнер_Key": partner["Ref_Key"], "Тема": "Не проходит оплата",
        "ВидОбращения": "Консультация", "Состояние_Key": new_state, "Ответственный_Key": assignee, "Posted": True})


def holder(emulator: Emulator, doc: dict[str, Any]) -> str | None:
    """The name of the 1C user responsible for `doc` now (None: nobody)."""
    key = emulator.get(DOC, str(doc["Ref_Key"]))["Ответственный_Key"]  # type: ignore[index]
    return next((u["Description"] for u in emulator.records(USERS) if u["Ref_Key"] == key), None)


def user_key(emulator: Emulator, name: str) -> str:
    return next(str(u["Ref_Key"]) for u in emulator.records(USERS) if u["Description"] == name)


def moves(bridge: App, doc: dict[str, Any]) -> list[tuple[str, str]]:
    with bridge.store.transaction() as s:
        ticket = s.scalars(select(TicketRow).where(TicketRow.number == doc["Number"])).one()
        return [(m.action, m.reason) for m in s.scalars(
            select(RoutingLogRow).where(RoutingLogRow.ticket_id == ticket.id).order_by(RoutingLogRow.id))]


def set_status(bridge: App, name: str, status: str) -> None:
    """What ``crm-bridge routing agent set-status`` stores."""
    with bridge.store.transaction() as s:
        agent = s.scalars(select(AgentRow).where(AgentRow.name == name)).one()
        row = s.get(RoutingAgentRow, agent.id)
        if row is None:
            s.add(RoutingAgentRow(agent_id=agent.id, status=status, since=bridge.clock()))
        else:
            row.status = status


def test_an_assignee_going_offline_hands_the_bridges_requests_over_but_not_a_1c_users_choice(
        emulator: Emulator, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    bridge, first, second = bridge_for(emulator, tmp_path, clock)
    try:
        set_status(bridge, second, "offline")
        routed = new_request(emulator, bridge)
        by_hand = new_request(emulator, bridge, assignee=user_key(emulator, first))
        run_cycle(bridge)
        assert holder(emulator, routed) == first
        set_status(bridge, second, "available")
        set_status(bridge, first, "offline")
        clock.at += timedelta(minutes=1)
        result = run_cycle(bridge)
        assert result["routing.tick"]["rerouted"] == 1
        assert holder(emulator, routed) == second  # written back to 1C through the outbox
        assert holder(emulator, by_hand) == first  # a 1C user's assignment is theirs to change
        assert [a for a, _ in moves(bridge, routed)] == ["assigned", "rerouted"]
        assert moves(bridge, routed)[1][1].startswith("the assignee is offline: least loaded")
        assert moves(bridge, by_hand) == []
        clock.at += timedelta(minutes=1)
        assert "rerouted" not in run_cycle(bridge)["routing.tick"]  # nothing moves twice
    finally:
        bridge.close()


def test_an_assignee_deactivated_in_1c_is_replaced_even_on_a_1c_users_assignment(emulator: Emulator, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    bridge, first, second = bridge_for(emulator, tmp_path, clock)
    try:
        by_hand = new_request(emulator, bridge, assignee=user_key(emulator, first))
        run_cycle(bridge)
        emulator.update(USERS, user_key(emulator, first), {"Недействителен": True})
        clock.at += timedelta(minutes=1)
        run_cycle(bridge)
        assert holder(emulator, by_hand) == second
        assert moves(bridge, by_hand)[-1][0] == "rerouted"
        assert "deactivated or deleted in the CRM" in moves(bridge, by_hand)[-1][1]
    finally:
        bridge.close()


def test_an_assignee_deleted_in_1c_with_nobody_to_take_over_is_cleared_and_the_request_queued(
        emulator: Emulator, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    bridge, first, second = bridge_for(emulator, tmp_path, clock)
    try:
        set_status(bridge, second, "offline")
        routed = new_request(emulator, bridge)
        run_cycle(bridge)
        assert holder(emulator, routed) == first
        emulator.update(USERS, user_key(emulator, first), {"DeletionMark": True})
        clock.at += timedelta(minutes=1)
        run_cycle(bridge)
        assert emulator.get(DOC, str(routed["Ref_Key"]))["Ответственный_Key"] == EMPTY  # type: ignore[index]
        assert [a for a, _ in moves(bridge, routed)] == ["assigned", "unassigned", "queued"]
        with bridge.store.transaction() as s:
            ticket = s.scalars(select(TicketRow).where(TicketRow.number == routed["Number"])).one()
            assert s.get(RoutingQueueRow, ticket.id) is not None
        set_status(bridge, second, "available")  # someone comes back: the queue hands it over
        clock.at += timedelta(minutes=1)
        run_cycle(bridge)
        assert holder(emulator, routed) == second
    finally:
        bridge.close()


def test_a_request_nobody_touched_for_the_inactivity_timeout_moves_to_another_agent(emulator: Emulator, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    bridge, first, second = bridge_for(emulator, tmp_path, clock, reroute="  reroute: {inactive_hours: 4}")
    try:
        set_status(bridge, second, "offline")
        routed = new_request(emulator, bridge)
        run_cycle(bridge)
        set_status(bridge, second, "available")
        clock.at = NOW + timedelta(hours=3)  # not yet: 3 h 15 min since it was opened
        run_cycle(bridge)
        assert holder(emulator, routed) == first
        clock.at = NOW + timedelta(hours=4, minutes=1)
        run_cycle(bridge)
        assert holder(emulator, routed) == second
        action, reason = moves(bridge, routed)[-1]
        assert action == "rerouted"
        assert reason.startswith("no change for 4.0 h (routing.reroute.inactive_hours: 4)")
        clock.at = NOW + timedelta(hours=5)  # the move itself is a change: the clock starts again
        run_cycle(bridge)
        assert holder(emulator, routed) == second
    finally:
        bridge.close()


def test_an_sla_warning_moves_an_unanswered_request_to_the_agent_with_more_free_time(emulator: Emulator, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    policies = "    - {name: everything, calendar: 24x7, targets: {first_response: 4h, resolution: 48h}}"
    bridge, first, second = bridge_for(emulator, tmp_path, clock, rule=", reroute_on_warn: true", policies=policies)
    try:
        set_status(bridge, second, "offline")
        docs = [new_request(emulator, bridge) for _ in range(3)]  # all three go to the first agent
        run_cycle(bridge)
        assert {holder(emulator, d) for d in docs} == {first}
        set_status(bridge, second, "available")
        clock.at = NOW + timedelta(hours=3, minutes=5)  # 75 % of the 4 h first response target used
        bridge.run_job("sla.tick")
        bridge.run_job("sync.dispatch")
        holders = [holder(emulator, d) for d in docs]
        # One moves: then each has as much time per request as the other (4 h 40 min / 2 each way).
        assert sorted(str(h) for h in holders) == sorted([first, first, second])
        moved = docs[holders.index(second)]
        action, reason = moves(bridge, moved)[-1]
        assert action == "rerouted"
        assert reason.startswith("SLA first_response warning, no first response yet: most free time before the due instant")
        kept = [moves(bridge, d)[-1] for d in docs if d is not moved]
        assert [a for a, _ in kept] == ["kept", "kept"]
        assert "nobody has more free time" in kept[0][1]
    finally:
        bridge.close()


def test_an_sla_warning_moves_nothing_when_the_rule_does_not_ask_for_it(emulator: Emulator, tmp_path: Path) -> None:
    clock = FrozenClock(NOW)
    policies = "    - {name: everything, calendar: 24x7, targets: {first_response: 4h, resolution: 48h}}"
    bridge, first, second = bridge_for(emulator, tmp_path, clock, policies=policies)
    try:
        set_status(bridge, second, "offline")
        docs = [new_request(emulator, bridge) for _ in range(2)]
        run_cycle(bridge)
        set_status(bridge, second, "available")
        clock.at = NOW + timedelta(hours=3, minutes=5)
        bridge.run_job("sla.tick")
        assert [holder(emulator, d) for d in docs] == [first, first]
        assert [[a for a, _ in moves(bridge, d)] for d in docs] == [["assigned"], ["assigned"]]
    finally:
        bridge.close()
