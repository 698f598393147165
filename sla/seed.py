"""The first SLA rule: resolution due = opened + the ticket type's target, on a 24×7 clock.

This is the walking skeleton's rule (the seed policy table DESIGN.md ships: technical
problem 24 h, consultation 48 h, thanks/complaints 72 h, urgent 4 h); the policy engine
with business calendars replaces it. The decision is a pure function; the handlers around
it read and write through the unit of work and hand remote writes to the outbox by
publishing ``record.changed``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import Field
from sqlalchemy import select

from crm_bridge.app import App
from crm_bridge.config import Strict
from crm_bridge.events import DomainEvent, Unit
from crm_bridge.model import TicketStatus, TicketType
from crm_bridge.store.tables import TicketRow

__all__ = ["SeedDecision", "SlaConfig", "decide", "on_ticket_imported", "sla_tick"]

DEFAULT_TARGETS: dict[TicketType, float] = {
    TicketType.TECHNICAL_PROBLEM: 24,
    TicketType.CONSULTATION: 48,
    TicketType.FEEDBACK: 72,
    TicketType.URGENT: 4,
    TicketType.OTHER: 48,
}


class SlaConfig(Strict):
    """```yaml
    sla:
      targets: {technical_problem: 24, consultation: 48, feedback: 72, urgent: 4, other: 48}  # hours
    ```"""

    targets: dict[TicketType, float] = Field(default_factory=lambda: dict(DEFAULT_TARGETS))


SeedDecision = dict[str, Any]


def decide(ticket: TicketRow, targets: dict[TicketType, float], now: datetime) -> SeedDecision:
    """Due date, policy name and SLA state of one ticket. Pure: no clock, no I/O."""
    kind = TicketType(ticket.type)
    hours = targets.get(kind, targets.get(TicketType.OTHER, 48))
    due = ticket.created_at + timedelta(hours=hours)
    status = TicketStatus(ticket.status)
    if status.is_open:
        state = "breached" if now >= due else "on_track"
    else:
        done = ticket.resolved_at or ticket.closed_at
        state = "met" if done is not None and done <= due else "missed" if done is not None else "stopped"
    return {
        "resolution_due": due,
        "sla_policy": f"seed:{kind.value}:{hours:g}h",
        "sla_state": state,
        "sla_breached": state in ("breached", "missed"),
    }


def _apply(unit: Unit, ticket: TicketRow, origin: str) -> bool:
    config: SlaConfig = unit.config.section("sla")
    decision = decide(ticket, config.targets, unit.now)
    changed = {k: v for k, v in decision.items() if getattr(ticket, k) != v}
    if not changed:
        return False
    for key, value in changed.items():
        setattr(ticket, key, value)
    remote = {k: v for k, v in changed.items() if k != "sla_policy"}
    if remote:
        unit.publish(DomainEvent("record.changed", "ticket", ticket.id, origin, {"fields": remote}))
    return True


def on_ticket_imported(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``ticket.imported``: (re)plan the ticket's due date."""
    ticket = unit.session.get(TicketRow, event.local_id)
    if ticket is not None and not ticket.deleted:
        _apply(unit, ticket, "sla")


def sla_tick(app: App, now: datetime) -> dict[str, Any]:
    """Job ``sla.tick``: open tickets whose due instant has passed become breached.

    Finds them through the index on ``resolution_due``, never by scanning every ticket.
    """
    changed = 0
    with app.store.transaction() as session:
        unit = app.bus.unit(session, now, app.config)
        due = session.scalars(
            select(TicketRow)
            .where(TicketRow.resolution_due <= now, TicketRow.sla_breached.is_(False), TicketRow.deleted.is_(False))
            .order_by(TicketRow.resolution_due)
            .limit(5000)
        )
        for ticket in due:
            changed += _apply(unit, ticket, "sla.tick")
    return {"breached": changed}
