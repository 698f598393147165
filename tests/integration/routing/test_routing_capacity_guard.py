"""Two workers routing at once on PostgreSQL never push an agent past capacity: each
locks the agent's row and counts the load again before it assigns."""

from __future__ import annotations

import threading
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import AgentRow, TicketRow
from routing.engine import assign, claim
from routing.roster import read_roster

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))


def test_two_workers_claiming_the_last_free_place_at_once_assign_only_one(pg_url: str) -> None:
    bridge = App.from_text(f"""
store: {{url: "{pg_url}"}}
routing:
  agents: {{Иванова Мария: {{capacity: 1}}}}
""", clock=FrozenClock(NOW))
    try:
        bridge.upgrade_db()
        with bridge.store.transaction() as s:
            s.add(AgentRow(name="Иванова Мария", active=True))
            for n in (1, 2):
                s.add(TicketRow(number=f"CRM-{n}", type="other", priority="normal", channel="email", source="external",
                                status="new", created_at=NOW, tags=[]))
        both_decided = threading.Barrier(2)
        results: dict[int, bool] = {}

        def worker(n: int) -> None:
            with bridge.store.transaction() as s:
                roster = read_roster(s, bridge.config, NOW)  # both see the agent free
                assert roster.states["Иванова Мария"].open_by_type == {}
                both_decided.wait()
                ok = claim(s, roster, "Иванова Мария", "other", bridge.config.section("routing"), NOW)
                results[n] = ok
                if ok:
                    ticket = s.scalars(select(TicketRow).where(TicketRow.number == f"CRM-{n}")).one()
                    unit = bridge.bus.unit(s, NOW, bridge.config)
                    assign(unit, ticket, roster.states["Иванова Мария"].agent_id or 0, team=None, action="assigned",
                           decision=None)

        threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(results.values()) == [False, True]
        with bridge.store.transaction() as s:
            assert s.scalar(select(func.count()).select_from(TicketRow).where(TicketRow.assignee_id.is_not(None))) == 1
    finally:
        bridge.close()
