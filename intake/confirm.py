"""The job ``intake.confirm``: the CRM's number read back for each request intake registered.

Runs after ``sync.dispatch`` in the cycle. A request intake registered has no number
until the CRM gives it one (1C numbers documents itself: ``CRM-0000301``). Once its
binding is active (the create went through, or an import claimed it), the record is
read by its remote id, the number stored, and only then is the request announced as
``ticket.imported`` (created): its history's ``created`` event, the SLA plan, routing,
and notify's acknowledgement, which therefore always shows the CRM's number. The requests
it announced are planned before it ends (``sla.engine.plan_queued``): ``notify.dispatch``,
next in the cycle, holds an acknowledgement until its due dates exist, and ``sla.tick``
ran before this job — the acknowledgement waited up to ``sla_tick_every`` for the next.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from crm_bridge.errors import RemoteError
from crm_bridge.events import DomainEvent
from crm_bridge.store.records import in_chunks
from crm_bridge.store.tables import TicketRow
from intake.tables import InboxRow
from sla.engine import plan_queued
from sync.engine import mappings_for
from sync.source import supports_version_scan
from sync.tables import BindingRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crm_bridge.app import App

__all__ = ["intake_confirm"]

log = logging.getLogger(__name__)


def _waiting(app: App) -> dict[str, list[tuple[int, str]]]:
    """backend → (ticket id, remote id) of registered requests created remotely and not yet
    announced (an import that met the record first may have stored its number already)."""
    with app.store.transaction() as session:
        rows = session.execute(select(BindingRow.backend, TicketRow.id, BindingRow.remote_id)
                               .join(InboxRow, InboxRow.ticket_id == TicketRow.id)
                               .join(BindingRow, (BindingRow.model == "ticket") & (BindingRow.local_id == TicketRow.id))
                               .where(InboxRow.state == "registered", InboxRow.announced_at.is_(None),
                                      BindingRow.state == "active")).all()
    found: dict[str, list[tuple[int, str]]] = {}
    for backend, ticket_id, remote_id in rows:
        found.setdefault(backend, []).append((ticket_id, remote_id))
    return found


def _rows(session: Session, backend: str, pairs: list[tuple[int, str]]) -> tuple[
        dict[int, TicketRow], dict[int, list[InboxRow]], dict[str, BindingRow]]:
    """The requests of `pairs` (ticket id, remote id), their registered inbox rows and their
    bindings in `backend`: three queries for a run's requests, not three for each (and
    a flush before each). The dicts hold the rows, which the session alone would not keep."""
    ids, remote_ids = [t for t, _ in pairs], [r for _, r in pairs]
    tickets: dict[int, TicketRow] = {}
    inboxes: dict[int, list[InboxRow]] = {}
    bindings: dict[str, BindingRow] = {}
    for some in in_chunks(ids):
        tickets.update((t.id, t) for t in session.scalars(select(TicketRow).where(TicketRow.id.in_(some))))
        for inbox in session.scalars(select(InboxRow).where(InboxRow.ticket_id.in_(some), InboxRow.state == "registered")
                                     .order_by(InboxRow.id)):
            inboxes.setdefault(inbox.ticket_id or 0, []).append(inbox)
    for some_remote in in_chunks(remote_ids):
        for binding in session.scalars(select(BindingRow).where(BindingRow.backend == backend,
                                                                BindingRow.remote_id.in_(some_remote))
                                       .order_by(BindingRow.id)):
            bindings.setdefault(binding.remote_id, binding)
    return tickets, inboxes, bindings


def intake_confirm(app: App, now: datetime) -> dict[str, Any]:
    """Read back the numbers of requests the CRM created since the last run; announce them."""
    confirmed, waiting = 0, 0
    for name, pairs in _waiting(app).items():
        remote = app.backend(name)
        mapping = mappings_for(remote, ["ticket"])["ticket"]
        if not supports_version_scan(remote):
            log.warning("backend %s cannot read records by id: intake requests keep no number", name,
                        extra={"event": "intake.confirm.unsupported", "backend": name})
            continue
        source = mapping.spec.fields["number"].source if "number" in mapping.spec.fields else "Number"
        try:
            records = {r.id: r for r in remote.fetch(mapping.spec, [rid for _, rid in pairs])}
        except RemoteError as exc:
            log.warning("backend %s: reading back %d new requests failed, tried again next run: %s", name, len(pairs), exc,
                        extra={"event": "intake.confirm.failed", "backend": name})
            waiting += len(pairs)
            continue
        with app.store.transaction() as session:
            unit = app.bus.unit(session, now, app.config)
            tickets, inboxes, bindings = _rows(session, name, pairs)
            for ticket_id, remote_id in pairs:
                record = records.get(remote_id)
                ticket = tickets.get(ticket_id)
                number = str((record.values.get(source) if record else None) or (ticket.number if ticket else "")).strip()
                if not number or ticket is None:
                    waiting += 1
                    continue
                ticket.number = number
                for inbox in inboxes.get(ticket_id, []):
                    inbox.announced_at = now  # announced once: the acknowledgement is queued once
                binding = bindings.get(remote_id)
                if binding is not None and binding.base is not None:
                    binding.base = {**binding.base, "number": number}  # both sides agree on it: no merge later
                unit.publish(DomainEvent("ticket.imported", "ticket", ticket_id, "intake", {"created": True}))
                confirmed += 1
                log.info("request %s registered in %s", number, name,
                         extra={"event": "intake.confirm.numbered", "backend": name, "local_id": ticket_id})
    planned = 0
    if confirmed:  # planned now, not at the next sla.tick: the acknowledgements wait for their due dates
        planned, _ = plan_queued(app, now)
    return {"confirmed": confirmed, "waiting": waiting, "planned": planned}
