"""The SLA planning queue: what puts a request in line to be planned.

An import queues each request it stored or changed in a way the plan depends on
(``on_ticket_imported``, just before the import's transaction commits); a calendar change
queues the open requests whose due dates stand on the changed days
(``queue_calendar_changes``); the planner (``sla.engine.plan_queued``) drains the queue in
chunks. While a request waits here its write-back is held (``awaiting_plan``), so 1C gets
it once, with its due dates.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, exists, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from crm_bridge.app import App
from crm_bridge.events import DomainEvent, Unit
from crm_bridge.model import TicketStatus
from crm_bridge.store.bulk import bulk_insert
from crm_bridge.store.tables import TicketRow, core_table
from sla.fingerprint import changed_days, day_bounds, describe_days, fingerprint, window
from sla.tables import SlaCalendarRow, SlaClockRow, SlaQueueRow

__all__ = ["awaiting_plan", "on_ticket_imported", "queue", "queue_calendar_changes"]

log = logging.getLogger("sla.engine")  # the calendar's log lines keep the logger they were written under

_CALENDAR_LOCK = 7_420_113  # and one worker compares the calendars with what the plans stood on


def awaiting_plan(local_id: ColumnElement[int]) -> ColumnElement[bool]:
    """Whether the request `local_id` (an SQL column: the outbox's) is queued for its plan.

    Registered as ``usage="sync.awaits"``: the write-back holds a queued request's rows
    until the plan merged into them (the queue row goes in the plan's own transaction),
    so a new request is written once, with its due dates — not first with the SLA fields
    as imported."""
    return exists().where(SlaQueueRow.ticket_id == local_id)


def queue(session: Session, ticket_ids: Sequence[int], now: datetime, *, reason: str | None = None) -> None:
    """Queue requests for planning (one statement, in id order as the planner takes them).
    Each queueing draws a fresh random token: a plan of older facts takes a row off only
    while its token is the one the planner read, and a token never comes back (a counter
    restarting at 1 would, once the row was planned and queued again). A `reason` (a
    calendar change) is recorded in the ledger if the plan changes; queueing again without
    one keeps it."""
    rows = [{"ticket_id": tid, "token": secrets.randbits(62), "queued": now, "reason": reason}
            for tid in sorted(set(ticket_ids))]
    if rows:  # one driver executemany (an import queues every request it stores)
        bulk_insert(session, core_table(SlaQueueRow), rows, statement=_queue_upsert)


def _queue_upsert(dialect: str) -> Insert:
    """The queue's INSERT: a request queued already takes the new token and instant, and
    keeps its reason unless a new one is given."""
    table = core_table(SlaQueueRow)
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return insert.on_conflict_do_update(
        index_elements=[table.c.ticket_id], set_={"token": insert.excluded.token, "queued": insert.excluded.queued,
                                                  "reason": func.coalesce(insert.excluded.reason, table.c.reason)})


def queue_calendar_changes(app: App, now: datetime) -> int:
    """Queue the open requests whose due dates stand on days a calendar change touched.

    Each configured calendar's working periods per day (``sla.fingerprint``, a window of
    years around today) are compared with what the store recorded at the last tick; the
    open requests planned on that calendar that were open on a changed day, or are due
    after it, are queued with the reason ``calendar office changed for 2027-01-01..
    2027-01-08``. A calendar seen for the first time queues every open request planned
    on it (the plans may predate its data). Returns how many requests were queued.
    """
    settings = app.config.section("sla")
    first, last = window(now.astimezone(ZoneInfo(app.config.timezone)).date())
    queued = 0
    with app.store.transaction() as session:
        # On PostgreSQL one worker compares at a time; the others find the digests it stored.
        if session.get_bind().dialect.name == "postgresql" and not session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _CALENDAR_LOCK}):
            return 0
        stored: dict[str, str] = {r.name: r.digest for r in session.execute(select(SlaCalendarRow.name, SlaCalendarRow.digest))}
        for name, calendar in settings.built_calendars.items():
            digest, days = fingerprint(calendar, first, last)
            if stored.get(name) == digest:
                continue
            row = session.get(SlaCalendarRow, name)
            policies = [p.name for p in settings.policies if p.calendar == name]
            query = (select(TicketRow.id).join(SlaClockRow, SlaClockRow.ticket_id == TicketRow.id)
                     .where(TicketRow.deleted.is_(False), SlaClockRow.policy.in_(policies),
                            TicketRow.status.in_([s.value for s in TicketStatus if s.is_open])))
            if row is None:
                reason = f"calendar {name} recorded for the first time (the plans may predate its data)"
                session.add(SlaCalendarRow(name=name, digest=digest, days={"window": [first, last], "days": days}))
            else:
                old_first, old_last = row.days.get("window", [first, last])
                lo, hi = max(first, old_first), min(last, old_last)
                changed = [d for d in changed_days(row.days.get("days", {}), days) if lo <= d.year <= hi]
                row.digest, row.days = digest, {"window": [first, last], "days": days}
                if not changed:
                    continue  # the window moved on with the year, nothing in it changed
                reason = f"calendar {name} changed for {describe_days(changed)}"
                start, end = day_bounds(calendar, changed)
                query = query.where(TicketRow.created_at < end, or_(
                    TicketRow.resolution_due.is_(None), TicketRow.resolution_due >= start,
                    TicketRow.first_response_due >= start, SlaClockRow.next_check >= start))
            ids = list(session.scalars(query)) if policies else []
            queue(session, ids, now, reason=reason)
            queued += len(ids)
            log.info("%s: %d open request(s) queued to be planned again", reason, len(ids),
                     extra={"event": "sla.calendar.changed", "calendar": name})
    return queued



def _queue_deferred(unit: Unit, ticket_ids: list[int]) -> None:
    queue(unit.session, ticket_ids, unit.now)


def on_ticket_imported(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``ticket.imported``: queue the request for planning (with the rest of its
    page, just before the import's transaction commits), unless the import changed only
    fields the plan does not depend on (a description, a subject no policy matches on)."""
    data = event.data or {}
    changed = data.get("changed")
    if not data.get("created") and changed is not None and not set(changed) & unit.config.section("sla").planned_from:
        return
    unit.defer("sla.queue", event.local_id, _queue_deferred)
