"""Each ticket's history as domain events, recorded from what imports observe.

``created`` carries the opening instant; ``status_changed`` / ``priority_changed`` /
``assigned`` carry the old and new values at the instant the bridge saw the change (1C
keeps no change time for them). The SLA clock and KPIs read this history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crm_bridge.events import DomainEvent, Unit
from crm_bridge.store.bulk import bulk_insert
from crm_bridge.store.records import in_chunks
from crm_bridge.store.tables import TicketEventRow, TicketRow, core_table

__all__ = ["TRACKED", "record_ticket_history"]

TRACKED = {"status": "status_changed", "priority": "priority_changed", "assignee_id": "assigned", "type": "type_changed"}


def record_ticket_history(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``ticket.imported``: the page's history is written in bulk before its commit."""
    unit.defer("history", event, _record_many)


_READ = (TicketRow.id, TicketRow.created_at, *(getattr(TicketRow, name) for name in TRACKED))


_CREATED = ("status", "priority", "type", "created_at")  # what a ``created`` row is made of


def _record_many(unit: Unit, events: list[DomainEvent]) -> None:
    session = unit.session
    # A new request's event may carry the values it was inserted with (``values``: an
    # import's page, whose rows went in by one executemany a moment ago); only the others
    # are read back, so a first import writes its history without reading its requests again.
    given = {id(e): v for e in events if e.data.get("created") and _carries_created(v := e.data.get("values"))}
    wanted = list(dict.fromkeys(e.local_id for e in events if id(e) not in given))
    tickets: dict[int, Any] = {}
    if wanted:
        session.flush()  # the page's updates, for the read below
    for chunk in in_chunks(wanted):  # a few columns, no row objects
        tickets.update((row.id, row) for row in session.execute(select(*_READ).where(TicketRow.id.in_(chunk))))
    rows: list[dict[str, Any]] = []
    for event in events:
        values = given.get(id(event))
        if values is not None:
            data: dict[str, Any] = {"status": values["status"], "priority": values["priority"], "type": values["type"]}
            rows.append({"ticket_id": event.local_id, "kind": "created", "at": values["created_at"], "origin": event.origin,
                         "data": data})
            continue
        ticket = tickets.get(event.local_id)
        if ticket is None:
            continue
        if event.data.get("created"):
            data = {"status": ticket.status, "priority": ticket.priority, "type": ticket.type}
            rows.append({"ticket_id": ticket.id, "kind": "created", "at": ticket.created_at, "origin": event.origin, "data": data})
            continue
        before = event.data.get("before", {})
        rows += [{"ticket_id": ticket.id, "kind": kind, "at": unit.now, "origin": event.origin,
                  "data": {"from": before[name], "to": getattr(ticket, name)}}
                 for name, kind in TRACKED.items() if name in before]
    if rows:
        bulk_insert(unit.session, core_table(TicketEventRow), rows)  # one executemany, in the order observed


def _carries_created(values: Any) -> bool:
    return isinstance(values, dict) and all(name in values for name in _CREATED)
