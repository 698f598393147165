"""Agents' replies written in the CRM, as ``message`` events in the request's history.

An agent who answers the customer from 1C writes an outgoing e-mail about the request
(``Document_ЭлектронноеПисьмоИсходящее`` by ``Предмет``; ``adapters/onec/data/mappings/mail.yaml``),
which the import stores as a ``mail`` record and announces as ``mail.imported``. Its
handler here records the reply as a ``message`` event (author ``agent``, at the letter's
date) and has the SLA plan the request again: the next-response cycle a customer's
message opened ends at the agent's reply (``sla/clock.py``). Once per letter: only the
import that *created* the record records it; later edits of the letter change nothing.

Example::

    registry.add(on_mail_imported, usage="event.handler", model="mail.imported")
"""

from __future__ import annotations

import logging

from crm_bridge.events import DomainEvent, Unit
from crm_bridge.store.tables import MailRow, TicketEventRow

__all__ = ["on_mail_imported"]

log = logging.getLogger(__name__)


def on_mail_imported(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``mail.imported``: a new outgoing letter is the agent's ``message`` event."""
    if not event.data.get("created"):
        return
    mail = unit.session.get(MailRow, event.local_id)
    if mail is None or mail.deleted or mail.direction != "outgoing" or mail.about != "ticket":
        return
    unit.session.add(
        TicketEventRow(
            ticket_id=mail.ticket_id,
            kind="message",
            at=mail.sent,
            origin=event.origin,
            data={
                "author": "agent",
                "agent_id": mail.author_id,
                "mail_id": mail.id,
                "subject": mail.subject,
            },
        )
    )
    # the SLA clock is planned again from the history: the agent's reply ends the next-response cycle
    unit.publish(
        DomainEvent("ticket.imported", "ticket", mail.ticket_id, "intake", {"message": True})
    )
    log.info(
        "agent's reply (mail %d) recorded in request #%d",
        mail.id,
        mail.ticket_id,
        extra={"event": "intake.reply.recorded", "local_id": mail.ticket_id},
    )
