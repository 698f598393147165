"""What deciding a chunk of inbound messages reads from the store, read once a chunk.

Deciding one message asks the store three things: how many messages its sender had
decided lately (the flood rule), the customer's open requests with their last customer
message (repeat contacts), and the customer's segment (classification). Asked per message,
that is three queries, each flushing the session first: most of ``intake.process``'s cost
after the parsing. ``Lookups.read`` asks them for a whole chunk in a few set-based
queries, and ``Lookups.decided`` keeps the answers current as the chunk's messages are
decided, so each message sees what the per-message queries would have seen after the
flush: a message decided earlier in the chunk counts towards the next one's flood, the
request it registered is open for the next one's repeat check, a message it attached
moves that request's last contact. Only decisions whose SAVEPOINT was released are
applied: a message that failed leaves no trace here either.

What was not foreseen is asked of the store as before, then kept current the same way: a
customer matched only after a contact was created in the chunk, a sender whose parsed
address differs from the stored column.

Example::

    lookups = Lookups.read(session, rows, [(customer_id, contact_id), ...], within=timedelta(hours=1))
    lookups.decided_count(row, "ivanova@romashka.ru")   # 2
    lookups.open_requests(7, None)                       # [OpenRequest(42, "Касса", ...)]
    lookups.decided(row)                                 # after its SAVEPOINT was released
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, func, or_, select

from crm_bridge.model import TicketStatus
from crm_bridge.store.tables import CustomerRow, TicketEventRow, TicketRow
from intake.tables import InboxRow
from intake.thread import OpenRequest

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["DECIDED", "FINAL", "Lookups"]

FINAL = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value, TicketStatus.CANCELLED.value)
DECIDED = ("registered", "threaded", "review")  # the states the flood rule counts
Who = tuple[str, int]  # ("customer", id) or ("contact", id): whose open requests


def _who(customer_id: int | None, contact_id: int | None) -> Who | None:
    """The customer's requests, else (no customer) the contact's."""
    if customer_id is not None:
        return ("customer", customer_id)
    return ("contact", contact_id) if contact_id is not None else None


@dataclass
class Lookups:
    session: Session
    # stored sender → (inbox id, received_at) of its decided messages since the chunk's earliest window
    _decided: dict[str, list[tuple[int, datetime]]] = field(default_factory=dict)
    _open: dict[Who, list[OpenRequest]] = field(default_factory=dict)
    # held here: the session's identity map keeps rows only while something refers to them
    _customers: dict[int, CustomerRow] = field(default_factory=dict)
    _registered: dict[int, TicketRow] = field(default_factory=dict)

    @classmethod
    def read(cls, session: Session, rows: Sequence[InboxRow], who: Iterable[tuple[int | None, int | None]], *,
             within: timedelta) -> Lookups:
        """Read for the chunk `rows`: their senders' decided messages within `within` of the
        earliest, and the open requests and customer rows of the foreseen (customer id,
        contact id) pairs `who` (a wrong guess costs a query later, never a wrong answer)."""
        lookups = cls(session)
        senders = sorted({row.sender for row in rows})
        if senders:
            since = min(row.received_at for row in rows) - within
            lookups._decided = {sender: [] for sender in senders}
            for inbox_id, sender, at in session.execute(
                    select(InboxRow.id, InboxRow.sender, InboxRow.received_at).where(
                        InboxRow.sender.in_(senders), InboxRow.received_at >= since, InboxRow.state.in_(DECIDED))):
                lookups._decided[sender].append((inbox_id, at))
        keys = {k for k in (_who(c, p) for c, p in who) if k is not None}
        if keys:
            lookups._read_open(keys)
            customer_ids = sorted(i for kind, i in keys if kind == "customer")
            lookups._customers = {c.id: c for c in session.scalars(select(CustomerRow).where(CustomerRow.id.in_(customer_ids)))}
        return lookups

    def _read_open(self, keys: set[Who]) -> None:
        """The open requests of `keys`, each with its customer's last message (two queries)."""
        customers = sorted(i for kind, i in keys if kind == "customer")
        contacts = sorted(i for kind, i in keys if kind == "contact")
        whose: list[ColumnElement[bool]] = []
        if customers:
            whose.append(TicketRow.customer_id.in_(customers))
        if contacts:
            whose.append(TicketRow.contact_id.in_(contacts))
        tickets = self.session.execute(
            select(TicketRow.id, TicketRow.subject, TicketRow.created_at, TicketRow.customer_id, TicketRow.contact_id)
            .where(or_(*whose), TicketRow.deleted.is_(False), TicketRow.status.not_in(FINAL))
            .order_by(TicketRow.id)).all()
        last: dict[int, datetime] = {}
        if tickets:
            last = dict(self.session.execute(
                select(TicketEventRow.ticket_id, func.max(TicketEventRow.at))
                .where(TicketEventRow.ticket_id.in_([t.id for t in tickets]), TicketEventRow.kind == "message")
                .group_by(TicketEventRow.ticket_id)).all())
        for key in keys:
            self._open[key] = []
        for t in tickets:
            request = OpenRequest(t.id, t.subject, max(t.created_at, last.get(t.id) or t.created_at))
            for whose_key in (_who(t.customer_id, None), _who(None, t.contact_id)):
                if whose_key is not None and whose_key in keys:
                    self._open[whose_key].append(request)

    def decided_count(self, row: InboxRow, sender: str, since: datetime) -> int:
        """Messages from `sender` received since `since` and decided (not ignored), `row` aside."""
        known = self._decided.get(sender)
        if known is None:  # not foreseen: the sender as parsed differs from the stored column
            return self.session.scalar(select(func.count()).select_from(InboxRow).where(
                InboxRow.sender == sender, InboxRow.received_at >= since, InboxRow.id != row.id,
                InboxRow.state.in_(DECIDED))) or 0
        return sum(1 for inbox_id, at in known if at >= since and inbox_id != row.id)

    def open_requests(self, customer_id: int | None, contact_id: int | None) -> list[OpenRequest]:
        """The customer's (else the contact's) open requests, each with its last customer message."""
        key = _who(customer_id, contact_id)
        if key is None:
            return []
        if key not in self._open:  # not foreseen: asked now, then kept current like the rest
            self._read_open({key})
        return list(self._open[key])

    def customer(self, customer_id: int) -> CustomerRow | None:
        found = self._customers.get(customer_id)
        if found is None:
            found = self.session.get(CustomerRow, customer_id)
            if found is not None:
                self._customers[customer_id] = found
        return found

    def registering(self, ticket: TicketRow) -> None:
        """`ticket` is being registered (flushed, its SAVEPOINT not yet released)."""
        self._registered[ticket.id] = ticket

    def decided(self, row: InboxRow) -> None:
        """`row` was decided and its SAVEPOINT released: what it changed is seen by the next."""
        if row.state in DECIDED and row.sender in self._decided:
            self._decided[row.sender].append((row.id, row.received_at))
        if row.ticket_id is None:
            return
        if row.state == "registered":
            ticket = self._registered.get(row.ticket_id) or self.session.get(TicketRow, row.ticket_id)
            if ticket is None:
                return
            request = OpenRequest(ticket.id, ticket.subject, ticket.created_at)
            for key in (_who(ticket.customer_id, None), _who(None, ticket.contact_id)):
                if key is not None and key in self._open:
                    self._open[key].append(request)
        elif row.state == "threaded":  # its message event moves the request's last contact
            for requests in self._open.values():
                for place, request in enumerate(requests):
                    if request.ticket_id == row.ticket_id and row.received_at > request.last_contact:
                        requests[place] = replace(request, last_contact=row.received_at)
