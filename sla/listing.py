"""The requests ``crm-bridge sla list`` shows: open requests by their nearest due instant
(first response while it is pending, else resolution), soonest first, with the filters a
supervisor asks for. One query, ordered and limited in the database; the time left is
business time on the policy's calendar (an ``add``-free ``business_between``: O(log n)).

Example::

    rows = due_list(session, settings, now, DueFilter(states=("warning", "breached"), team="L2"))
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, null, or_, select, type_coerce
from sqlalchemy.orm import Session

from crm_bridge.errors import BridgeError, did_you_mean
from crm_bridge.model import TicketStatus
from crm_bridge.store.tables import AgentRow, TeamRow, TicketRow
from crm_bridge.store.types import UTCDateTime
from sla.due import business_between
from sla.policy import parse_duration
from sla.settings import SlaConfig
from sla.views import duration_json

__all__ = ["SLA_STATES", "DueFilter", "UnknownName", "due_list", "parse_due_before", "states_given"]

#: the values of ``TicketRow.sla_state`` (see ``sla.engine``)
SLA_STATES = ("on_track", "warning", "breached", "paused", "met", "missed", "cancelled", "stopped")
_DOTTED = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})(?:[ T](\d{1,2}):(\d{2}))?")


class UnknownName(BridgeError):
    """A filter names a team or person the store does not know; the message lists the known."""


@dataclass(frozen=True)
class DueFilter:
    """Which requests to list. Without `states` or `include_closed` only open requests."""

    states: tuple[str, ...] = ()
    breached: bool = False
    due_before: datetime | None = None
    team: str | None = None
    assignee: str | None = None
    channel: str | None = None  # as stored (email, phone, chat, ...); an unknown one lists nothing
    include_closed: bool = False
    limit: int = 50


def parse_due_before(text: str, zone: tzinfo, now: datetime) -> datetime:
    """``2026-12-31`` (its midnight), ``2026-12-31 18:00``, ``31.12.2026 18:00``, an ISO
    instant with an offset, or a time from `now` (``2h``, ``1d`` = 24 h, ``1h30m``).
    Wall times are read in `zone`.

    Raises:
        ValueError: none of these; the message shows the forms.
    """
    value = text.strip()
    try:
        return now + parse_duration(value)
    except ValueError:
        pass
    dotted = _DOTTED.fullmatch(value)
    try:
        if dotted:
            day, month, year, hour, minute = (int(g) if g else 0 for g in dotted.groups())
            return datetime(year, month, day, hour, minute, tzinfo=zone)
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None:
        msg = (f"{text!r} is not a date or a time from now; write e.g. 2026-12-31, '2026-12-31 18:00', "
               "'31.12.2026 18:00', 2h or 1d")
        raise ValueError(msg)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=zone)


def _known(session: Session, column: Any, given: str, what: str, option: str) -> None:
    names = [n for n in session.scalars(select(column).order_by(column)) if n]
    if not names:
        raise UnknownName(f"{option}: the store knows no {what}s yet, so no request is assigned to {given!r}")
    raise UnknownName(f"{option}: no {what} {given!r}.{did_you_mean(given, names)} Known: {', '.join(names)}")


def _nearest() -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """(first-response due while it is pending, the nearest of it and the resolution due)."""
    pending = and_(TicketRow.first_response_at.is_(None), TicketRow.status == TicketStatus.NEW.value,
                   TicketRow.first_response_due.is_not(None))
    first = case((pending, TicketRow.first_response_due), else_=null())
    resolution = TicketRow.resolution_due
    nearest = case((first.is_(None), resolution), (resolution.is_(None), first), (first < resolution, first),
                   else_=resolution)
    return type_coerce(first, UTCDateTime()), type_coerce(nearest, UTCDateTime())


def due_list(session: Session, settings: SlaConfig, now: datetime, wanted: DueFilter) -> list[dict[str, Any]]:
    """The requests `wanted` selects, soonest due first (requests with no due instant, such
    as paused ones, last), at most ``wanted.limit``.

    Raises:
        UnknownName: `wanted.team` or `wanted.assignee` is not in the store.
    """
    first, nearest = _nearest()
    query = (select(TicketRow.number, TicketRow.subject, TicketRow.status, TicketRow.sla_state, TicketRow.sla_breached,
                    TicketRow.sla_policy, TicketRow.resolution_due, TicketRow.first_response_at, first.label("first_due"),
                    nearest.label("due"), TeamRow.name.label("team"), AgentRow.name.label("assignee"))
             .outerjoin(TeamRow, TeamRow.id == TicketRow.team_id)
             .outerjoin(AgentRow, AgentRow.id == TicketRow.assignee_id)
             .where(TicketRow.deleted.is_(False)))
    if not wanted.states and not wanted.include_closed:
        query = query.where(TicketRow.status.in_([s.value for s in TicketStatus if s.is_open]))
    if wanted.states:
        query = query.where(TicketRow.sla_state.in_(wanted.states))
    if wanted.breached:
        query = query.where(TicketRow.sla_breached.is_(True))
    if wanted.due_before is not None:
        query = query.where(nearest < wanted.due_before)
    if wanted.team is not None:
        if session.scalar(select(TeamRow.id).where(TeamRow.name == wanted.team)) is None:
            _known(session, TeamRow.name, wanted.team, "team", "--team")
        query = query.where(TeamRow.name == wanted.team)
    if wanted.assignee is not None:
        person = or_(AgentRow.name == wanted.assignee, func.lower(AgentRow.email) == wanted.assignee.lower())
        if session.scalar(select(AgentRow.id).where(person)) is None:
            _known(session, AgentRow.name, wanted.assignee, "agent (name or e-mail)", "--assignee")
        query = query.where(person)
    if wanted.channel is not None:
        query = query.where(TicketRow.channel == wanted.channel)
    query = query.order_by(nearest.is_(None), nearest, TicketRow.number).limit(wanted.limit)
    calendars = {p.name: p.calendar for p in settings.policies}
    return [_row(r, settings, calendars, now) for r in session.execute(query)]


def _row(r: Any, settings: SlaConfig, calendars: dict[str, str], now: datetime) -> dict[str, Any]:
    left: dict[str, Any] | None = None
    if r.due is not None and TicketStatus(r.status).is_open:  # a finished request has no time left
        calendar = calendars.get(r.sla_policy or "")
        if calendar is not None:
            left = {**duration_json(business_between(settings.calendar(calendar), now, r.due)), "measure": "business"}
        else:  # a policy renamed or removed since the plan: its calendar is unknown
            left = {**duration_json(r.due - now), "measure": "wall"}
    pending = r.first_due is not None
    return {
        "number": r.number, "subject": r.subject, "status": r.status, "sla_state": r.sla_state,
        "breached": bool(r.sla_breached), "policy": r.sla_policy,
        "first_response": "pending" if pending else ("done" if r.first_response_at or r.status != "new" else None),
        "first_response_due": r.first_due, "resolution_due": r.resolution_due, "due": r.due, "left": left,
        "team": r.team, "assignee": r.assignee,
    }


def states_given(values: Sequence[str]) -> tuple[str, ...]:
    """``--state on_track --state warning`` or ``--state on_track,warning``; each a known state.

    Raises:
        ValueError: an unknown state, with the closest known one.
    """
    found: list[str] = []
    for value in values:
        for state in (s.strip() for s in value.split(",") if s.strip()):
            if state not in SLA_STATES:
                msg = f"no SLA state {state!r}.{did_you_mean(state, SLA_STATES)} States: {', '.join(SLA_STATES)}"
                raise ValueError(msg)
            found.append(state)
    return tuple(found)
