"""Where the SLA clocks meet the store: build a request's facts, evaluate, record the
ledger, update the request's SLA fields and hand what changed to the outbox and to the
other addons (``sla.warn``, ``sla.breach``, ``sla.escalate`` domain events).

* handler ``ticket.imported`` — (re)plan a request whenever an import changed it;
* job ``sla.tick`` — requests whose ``next_check`` has come (indexed), never a full scan;
* ``recalc`` — replay requests after a policy or calendar edit (``crm-bridge sla recalc``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import select

from crm_bridge.app import App
from crm_bridge.events import DomainEvent, Unit
from crm_bridge.model import TicketStatus
from crm_bridge.store.tables import CustomerRow, TeamRow, TicketEventRow, TicketRow
from sla.clock import Change, Evaluation, TicketFacts, evaluate
from sla.ledger import record
from sla.settings import SlaConfig
from sla.tables import SlaClockRow

__all__ = ["facts_for", "on_ticket_imported", "plan", "recalc", "sla_tick"]

log = logging.getLogger(__name__)
_FIELD_OF = {"status_changed": "status", "priority_changed": "priority", "type_changed": "type"}
_ANNOUNCED = {"warn", "breach", "escalate"}


def facts_for(unit: Unit, ticket: TicketRow) -> TicketFacts:
    """A request's facts as the clocks need them: its opening state and every change."""
    session = unit.session
    customer = session.get(CustomerRow, ticket.customer_id) if ticket.customer_id else None
    team = session.get(TeamRow, ticket.team_id) if ticket.team_id else None
    events = list(session.scalars(select(TicketEventRow).where(TicketEventRow.ticket_id == ticket.id)
                                  .order_by(TicketEventRow.at, TicketEventRow.id)))
    created = next((e for e in events if e.kind == "created"), None)
    initial: dict[str, Any] = {
        "type": ticket.type, "priority": ticket.priority, "status": ticket.status, "channel": ticket.channel,
        "source": ticket.source, "number": ticket.number, "subject": ticket.subject,
        "customer": customer.name if customer else None, "customer_tax_id": customer.tax_id if customer else None,
        "segment": customer.segment if customer else None, "team": team.name if team else None, "tags": [],
    }
    if created is not None:
        initial.update({k: v for k, v in created.data.items() if k in ("status", "priority", "type")})
    changes = [Change(e.at, _FIELD_OF[e.kind], e.data.get("to")) for e in events if e.kind in _FIELD_OF]
    changes += [Change(e.at, "message", e.data.get("author")) for e in events if e.kind == "message"]
    return TicketFacts(ticket.created_at, initial, changes, ticket.first_response_at, ticket.resolved_at, ticket.closed_at)


def _evaluate(unit: Unit, ticket: TicketRow) -> Evaluation:
    settings: SlaConfig = unit.config.section("sla")
    return evaluate(facts_for(unit, ticket), settings.policies, settings.calendar, unit.now)


def _summary(evaluation: Evaluation, ticket: TicketRow) -> dict[str, Any]:
    resolution, first = evaluation.current("resolution"), evaluation.current("first_response")
    current = [c for c in (resolution, first, evaluation.current("next_response")) if c is not None]
    state = resolution.state if resolution else None
    if state in ("on_track", "warning") and not TicketStatus(ticket.status).is_open:
        state = "stopped"
    return {
        "resolution_due": resolution.due if resolution else None,
        "first_response_due": first.due if first else None,
        "sla_policy": resolution.policy if resolution else (first.policy if first else None),
        "sla_state": state,
        "sla_breached": any(c.state in ("breached", "missed") for c in current),
    }


def plan(unit: Unit, ticket: TicketRow, *, origin: str = "sla", reason: str = "") -> dict[str, Any]:
    """Evaluate one request, record the ledger, update its SLA fields; returns what changed."""
    evaluation = _evaluate(unit, ticket)
    generation, appended = record(unit.session, ticket.id, evaluation, reason=reason)
    fields = _summary(evaluation, ticket)
    changed = {k: v for k, v in fields.items() if getattr(ticket, k) != v}
    for key, value in changed.items():
        setattr(ticket, key, value)
    clock = unit.session.get(SlaClockRow, ticket.id)
    if clock is None:
        clock = SlaClockRow(ticket_id=ticket.id)
        unit.session.add(clock)
    clock.generation, clock.policy, clock.state = generation, fields["sla_policy"], fields["sla_state"]
    clock.next_check = evaluation.next_check if TicketStatus(ticket.status).is_open and not ticket.deleted else None
    remote = {k: v for k, v in changed.items() if k != "sla_policy"}
    if remote:
        unit.publish(DomainEvent("record.changed", "ticket", ticket.id, origin, {"fields": remote}))
    for event in appended:
        if event.kind in _ANNOUNCED:
            data = {"metric": event.metric, "cycle": event.cycle, "at": event.at, **dict(event.data)}
            unit.publish(DomainEvent(f"sla.{event.kind}", "ticket", ticket.id, origin, data))
            log.info("ticket %s: %s %s", ticket.number, event.metric, event.kind, extra={"event": f"sla.clock.{event.kind}"})
    return changed


def on_ticket_imported(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``ticket.imported``: (re)plan the request."""
    ticket = unit.session.get(TicketRow, event.local_id)
    if ticket is not None and not ticket.deleted:
        plan(unit, ticket)


def sla_tick(app: App, now: datetime) -> dict[str, Any]:
    """Job ``sla.tick``: requests whose next warning, breach or escalation has come."""
    done = changed = 0
    with app.store.transaction() as session:
        unit = app.bus.unit(session, now, app.config)
        due = session.scalars(select(SlaClockRow.ticket_id).where(SlaClockRow.next_check <= now)
                              .order_by(SlaClockRow.next_check).limit(5000)).all()
        for ticket_id in due:
            ticket = session.get(TicketRow, ticket_id)
            if ticket is not None:
                changed += bool(plan(unit, ticket, origin="sla.tick"))
                done += 1
    return {"checked": done, "changed": changed}


def recalc(app: App, now: datetime, *, include_closed: bool = False) -> dict[str, Any]:
    """Replay requests after a policy or calendar edit; the ledger keeps the old story."""
    replayed = changed = 0
    with app.store.transaction() as session:
        query = select(TicketRow).where(TicketRow.deleted.is_(False))
        if not include_closed:
            query = query.where(TicketRow.status.in_([s.value for s in TicketStatus if s.is_open]))
        unit = app.bus.unit(session, now, app.config)
        for ticket in session.scalars(query):
            changed += bool(plan(unit, ticket, origin="sla.recalc", reason="crm-bridge sla recalc"))
            replayed += 1
    return {"replayed": replayed, "changed": changed}
