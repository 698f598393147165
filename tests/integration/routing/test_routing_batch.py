"""``routing.batch``: the tick's bulk writes store exactly what the ORM stores, on SQLite and
PostgreSQL (``unnest`` of one array per column there)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import AgentRow, TeamRow, TicketRow, core_table
from routing.batch import insert_rows, update_by_id
from routing.tables import RoutingLogRow

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))


def test_bulk_log_rows_and_assignments_read_back_as_the_orms_do(store_url: str, tmp_path: Path) -> None:
    bridge = App.from_text(f'store: {{url: "{store_url}"}}\n', clock=FrozenClock(NOW))
    bridge.upgrade_db()
    try:
        with bridge.store.transaction() as s:
            s.add_all([AgentRow(id=1, name="Иванова Мария", active=True), AgentRow(id=2, name="Петров Пётр", active=True),
                       TeamRow(id=1, name="L1")])
            s.add_all(TicketRow(id=n, number=f"CRM-{n}", type="other", priority="normal", channel="email",
                                source="external", status="new", created_at=NOW, team_id=1) for n in (1, 2, 3))
        data = {"considered": [{"key": "Иванова Мария", "excluded": None, "load": 1.5}], "rules_checked": [["r", "нет"]]}
        row = {"ticket_id": 1, "at": NOW, "action": "assigned", "rule": "r", "agent_id": 1, "previous_id": None,
               "reason": "least loaded: 1.5 open of 8", "data": data}
        with bridge.store.transaction() as s:
            s.add(RoutingLogRow(**row))
            insert_rows(s, core_table(RoutingLogRow), [{**row, "ticket_id": 2}, {**row, "ticket_id": 3, "rule": None}])
            update_by_id(s, core_table(TicketRow), [{"id": 1, "assignee_id": 2, "team_id": None},
                                                    {"id": 3, "assignee_id": 1, "team_id": 1}], updated=NOW)
        with bridge.store.transaction() as s:
            logged = {r.ticket_id: r for r in s.scalars(select(RoutingLogRow))}
            tickets = {t.id: (t.assignee_id, t.team_id, t.updated) for t in s.scalars(select(TicketRow))}
        by_orm, bulk, bare = logged[1], logged[2], logged[3]
        for column in ("at", "action", "rule", "agent_id", "previous_id", "reason", "data"):
            assert getattr(bulk, column) == getattr(by_orm, column), column
        assert bulk.data == data  # Cyrillic and floats round-trip
        assert bulk.at == NOW  # an aware instant, the same moment
        assert bare.rule is None
        assert tickets[1][:2] == (2, None)
        assert tickets[3] == (1, 1, NOW)
        assert tickets[2][:2] == (None, 1)  # not in the update: untouched
    finally:
        bridge.close()
