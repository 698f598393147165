"""Domain events, dispatched inside the transaction that caused them.

A handler is registered by an addon for one event kind::

    registry.add(on_ticket_imported, usage="event.handler", model="ticket.imported")

and is called as ``handler(unit, event)``. ``unit`` is the open unit of work: its session
(so the handler's writes commit or roll back with the cause), the decision instant
``now``, the configuration and ``publish`` for follow-up events. Nothing here does I/O
beyond the session: remote writes go through the outbox.

Kinds in use:

* ``ticket.imported`` — a ticket was created or changed by an import (data: ``created``,
  ``changed`` — the canonical field names that changed);
* ``record.changed`` — an engine changed canonical fields a remote should receive
  (data: ``fields`` — name → JSON value). The sync addon turns it into outbox rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from crm_bridge.registry import Registry

__all__ = ["Batch", "DomainEvent", "EventBus", "Handler", "Unit"]


@dataclass(frozen=True, slots=True)
class DomainEvent:
    kind: str
    model: str
    local_id: int
    origin: str
    data: dict[str, Any] = field(default_factory=dict)


Handler = Callable[["Unit", DomainEvent], None]


Batch = Callable[["Unit", list[Any]], None]


@dataclass
class Unit:
    """One unit of work: a session, the decision instant and a way to publish.

    Work that is cheaper in bulk is *deferred*: ``unit.defer("sla.queue", ticket_id,
    queue_many)`` collects items under a key, and just before the session commits each
    key's function runs once with all its items (in the order the keys were first
    deferred; work deferred while completing runs too). A page of 1,000 imported records
    then costs a few queries for the SLA and the outbox, not a few per record.
    """

    session: Session
    now: datetime
    config: Any
    bus: EventBus
    _deferred: dict[str, tuple[Batch, list[Any]]] = field(default_factory=dict)
    _hooked: bool = False

    def publish(self, event: DomainEvent) -> None:
        self.bus.dispatch(self, event)

    def defer(self, key: str, item: Any, run: Batch) -> None:
        if not self._hooked:
            sa_event.listen(self.session, "before_commit", self._before_commit)
            self._hooked = True
        self._deferred.setdefault(key, (run, []))[1].append(item)

    def complete(self) -> None:
        """Run the deferred work now (the session's commit does it anyway)."""
        while self._deferred:
            key = next(iter(self._deferred))
            run, items = self._deferred.pop(key)
            run(self, items)

    def _before_commit(self, session: Session) -> None:
        if not session.in_nested_transaction():  # a SAVEPOINT's release is not the commit
            self.complete()


class EventBus:
    """Calls the registered handlers of an event's kind, in addon load order."""

    def __init__(self, registry: Registry) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        for comp in registry.all("event.handler"):
            if comp.model is not None:
                self._handlers.setdefault(comp.model, []).append(comp.obj)

    def handles(self, kind: str) -> bool:
        """Whether any addon listens to events of `kind` (work only they need can be skipped)."""
        return bool(self._handlers.get(kind))

    def dispatch(self, unit: Unit, event: DomainEvent) -> None:
        for handler in self._handlers.get(event.kind, ()):
            handler(unit, event)

    def unit(self, session: Session, now: datetime, config: Any) -> Unit:
        return Unit(session, now, config, self)
