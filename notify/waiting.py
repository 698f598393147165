"""Reminders to a customer who has not answered: one per waiting period.

When a request enters ``waiting_customer`` (a status change, or a new request opened in
that status within ``acknowledge_within``), the outbox writes one ``waiting_reminder`` row
per chosen channel, due ``customer.remind_waiting_after`` of business time later on the
request's SLA calendar (its policy's ``calendar``; a request with no policy counts wall-clock
time), keyed by the instant the period began: the same period announced twice is one row.
A later status change withdraws the period's pending reminders at once ("the customer
answered"); dispatch withdraws one whose request is no longer waiting anyway (its
``status_to``). Pure except `withdraw_reminders` (one UPDATE in the event's transaction).

Example::

    remind_at(ticket, app_config, since=now, after=timedelta(days=2))   # 2×24 business hours later
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from crm_bridge.model import TicketStatus
from crm_bridge.store.tables import TicketRow
from notify.tables import NotificationRow
from sla.due import add_business

__all__ = ["REMINDER", "remind_at", "reminder_wanted", "withdraw_reminders"]

REMINDER = "waiting_reminder"
_WAITING = TicketStatus.WAITING_CUSTOMER.value


def remind_at(ticket: TicketRow, app_config: Any, *, since: datetime, after: timedelta) -> datetime:
    """When a request waiting since `since` (aware) is reminded of: `after` of business time
    on its SLA policy's calendar; wall-clock time when it has no (known) policy."""
    sla = app_config.section("sla")
    policy = next((p for p in sla.policies if p.name == ticket.sla_policy), None)
    if policy is None:
        return since + after
    return add_business(sla.calendar(policy.calendar), since, after)


def reminder_wanted(ticket: TicketRow, event_data: dict[str, Any], rules: Any, now: datetime) -> tuple[str, dict[str, Any]] | None:
    """(event key, facts) of the reminder row a ``ticket.imported`` event starts, or None:
    only a request that now waits for its customer, entered that status by this event (a
    change, or created so recently), with ``remind_waiting_after`` set."""
    if rules.remind_waiting_after is None or ticket.status != _WAITING:
        return None
    before = (event_data.get("before") or {}).get("status")
    if event_data.get("created"):
        if ticket.created_at < now - rules.acknowledge_within:
            return None
    elif before is None or before == _WAITING:
        return None
    return f"remind/{ticket.id}/{now.isoformat()}", {"status_to": _WAITING, "at": now.isoformat()}


def withdraw_reminders(session: Session, ticket_ids: set[int], now: datetime, *, keep: Iterable[str] = ()) -> int:
    """Withdraw the pending reminders of requests whose status just changed, except those
    of the periods in `keep` (event keys: the change announced again); how many."""
    if not ticket_ids:
        return 0
    result = session.execute(
        update(NotificationRow).where(NotificationRow.ticket_id.in_(sorted(ticket_ids)), NotificationRow.event == REMINDER,
                                      NotificationRow.state == "pending", NotificationRow.event_key.not_in(list(keep)))
        .values(state="withdrawn", reason=f"the customer answered: the status changed on {now:%Y-%m-%d %H:%M %Z}")
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
