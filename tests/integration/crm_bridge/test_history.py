"""A request's history rows (``crm_bridge.history``) on both databases: a new request's
``created`` row from the values its event carries, without reading the request back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import event, select

from crm_bridge.addons import discover, resolve_order
from crm_bridge.events import DomainEvent, EventBus, Unit
from crm_bridge.history import record_ticket_history
from crm_bridge.registry import Registry
from crm_bridge.store.engine import Store, open_store
from crm_bridge.store.migrate import upgrade
from crm_bridge.store.records import create_record, record_values, update_record
from crm_bridge.store.tables import TicketEventRow

ADDON_PATHS = [a.path for a in resolve_order(discover())]
NOW = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
MOSCOW = timezone(timedelta(hours=3))


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    upgrade(opened, ADDON_PATHS)
    yield opened
    opened.close()


def _history(store: Store, ticket_id: int) -> list[tuple[str, datetime, dict[str, Any]]]:
    with store.transaction() as s:
        return [(r.kind, r.at, r.data) for r in s.scalars(
            select(TicketEventRow).where(TicketEventRow.ticket_id == ticket_id).order_by(TicketEventRow.id))]


def test_a_new_requests_created_row_comes_from_its_values_without_reading_it_back(store: Store) -> None:
    fields = {"number": "CRM-7", "status": "waiting_customer", "priority": "high", "type": "consultation",
              "created_at": datetime(2026, 3, 9, 10, 30, tzinfo=MOSCOW)}
    with store.transaction() as s:
        carried, read = create_record(s, "ticket", fields), create_record(s, "ticket", {**fields, "number": "CRM-8"})
    statements: list[str] = []
    with store.transaction() as s:
        unit = Unit(s, NOW, None, EventBus(Registry()))
        values = record_values("ticket", fields)  # the row as an import inserts it: plain values, aware instants
        record_ticket_history(unit, DomainEvent("ticket.imported", "ticket", carried, "remote:1c",
                                                {"created": True, "changed": ["status"], "values": values}))
        connection = s.connection()

        def seen(*args: Any) -> None:
            statements.append(args[2])

        event.listen(connection, "before_cursor_execute", seen)
        unit.complete()
        event.remove(connection, "before_cursor_execute", seen)
    assert [q for q in statements if q.startswith("INSERT INTO ticket_events")]  # the listener saw the page's statements
    assert not [q for q in statements if "FROM tickets" in q]  # nothing read back
    with store.transaction() as s:  # an event without values (intake, an older caller): the request is read
        unit = Unit(s, NOW, None, EventBus(Registry()))
        record_ticket_history(unit, DomainEvent("ticket.imported", "ticket", read, "remote:1c", {"created": True}))
        unit.complete()
    expected = [("created", datetime(2026, 3, 9, 7, 30, tzinfo=UTC),
                 {"status": "waiting_customer", "priority": "high", "type": "consultation"})]
    assert _history(store, carried) == expected
    assert _history(store, read) == expected  # the same row, read or carried


def test_a_change_after_the_creation_in_one_transaction_adds_its_own_row_not_a_second_creation(store: Store) -> None:
    """The ``created`` row holds what the request opened with, the change its own row."""
    fields = {"number": "CRM-9", "status": "new", "created_at": datetime(2026, 3, 9, 9, 0, tzinfo=UTC)}
    with store.transaction() as s:
        ticket = create_record(s, "ticket", fields)
        unit = Unit(s, NOW, None, EventBus(Registry()))
        record_ticket_history(unit, DomainEvent("ticket.imported", "ticket", ticket, "remote:1c",
                                                {"created": True, "values": record_values("ticket", fields)}))
        update_record(s, "ticket", ticket, {"status": "in_progress"})
        record_ticket_history(unit, DomainEvent("ticket.imported", "ticket", ticket, "remote:1c",
                                                {"changed": ["status"], "before": {"status": "new"}}))
    kinds = [(kind, data) for kind, _, data in _history(store, ticket)]
    assert kinds == [("created", {"status": "new", "priority": "normal", "type": "other"}),
                     ("status_changed", {"from": "new", "to": "in_progress"})]
