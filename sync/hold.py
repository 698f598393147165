"""Outbox rows held back while another addon's decision on their record is still to come.

An import stores a new request and, in the same transaction, merges the fields the
bridge owns (the SLA's due dates and state) into an outbox row, and queues the request
for its plan; ``sla.tick`` plans it a moment later and merges the plan into that same row
while it waits. A dispatch in between (a worker's own tick) sent the row as imported and
then the plan: every new request was written to the CRM twice. So the write-back leaves
a record's rows alone while an addon says its decision on the record is on its way, for
at most ``HOLD_AT_MOST`` from the row's creation: a planner that is stuck delays the
writes, it never loses them.

An addon says so by registering, per model, a function that turns the outbox's
``local_id`` column into an SQL condition (no row is loaded: the dispatch's query of due
rows filters in the database, and a held row costs no re-read of the CRM)::

    def awaiting_plan(local_id: ColumnElement[int]) -> ColumnElement[bool]:
        return exists().where(SlaQueueRow.ticket_id == local_id)

    registry.add(Lazy("sla.queue:awaiting_plan", summary="waits for its SLA plan"), usage="sync.awaits",
                 model="ticket", name="sla")

The condition must turn false in the transaction that enqueues the decision (the SLA
planner deletes the queue row where it writes the plan's outbox changes), so no snapshot
sees the row released before the decision reached it.

``crm-bridge status`` and ``jobs list`` show such rows as held, with why (the ``summary``
of the registration's ``Lazy``, else the addon's name) and until when at the latest
(``held_rows``, ``held_counts``): pending rows that are not sent are not all stuck.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import and_, false, func, not_, or_, select
from sqlalchemy.sql.elements import ColumnElement

from crm_bridge.registry import Lazy
from sync.tables import OutboxRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["HOLD_AT_MOST", "AwaitsDecision", "Held", "Holds", "held_counts", "held_rows", "holds_of", "not_held"]

# Long enough for a planner behind a big import (a page of 4,000 requests, planned at some
# thousands a second); short enough that a planner that fails leaves the CRM only minutes late.
HOLD_AT_MOST = timedelta(minutes=5)


class AwaitsDecision(Protocol):
    """Whether a decision on the record whose local id is `local_id` is still to come (SQL)."""

    def __call__(self, local_id: ColumnElement[int], /) -> ColumnElement[bool]: ...


Holds = Mapping[str, Sequence[AwaitsDecision]]  # model -> the conditions the addons registered


def holds_of(registry: Any) -> dict[str, list[AwaitsDecision]]:
    """The ``usage="sync.awaits"`` conditions of the loaded addons, by model."""
    found: dict[str, list[AwaitsDecision]] = {}
    for model, _why, awaits in _reasons(registry):
        found.setdefault(model, []).append(awaits)
    return found


def _held_by(model: str, conditions: Sequence[AwaitsDecision], now: datetime) -> ColumnElement[bool]:
    """A condition on ``OutboxRow`` true for the rows of `model` that `conditions` hold at `now`."""
    young = OutboxRow.created > now - HOLD_AT_MOST
    return and_(OutboxRow.model == model, young, or_(*(awaits(OutboxRow.local_id.expression) for awaits in conditions)))


def not_held(holds: Holds, now: datetime) -> ColumnElement[bool] | None:
    """A condition on ``OutboxRow`` true for the rows free to be sent at `now` (None: no hold)."""
    if not holds:
        return None
    held = [_held_by(model, conditions, now) for model, conditions in holds.items() if conditions]
    return not_(or_(false(), *held)) if held else None


@dataclass(frozen=True)
class Held:
    """Why a pending outbox row is held, and when it is released at the latest
    (``HOLD_AT_MOST`` after the row was made; sooner, once the decision is merged in)."""

    why: str
    until: datetime


def _reasons(registry: Any) -> Iterator[tuple[str, str, AwaitsDecision]]:
    """(model, why, condition) of each registered hold."""
    for comp in registry.all("sync.awaits"):
        if comp.model is not None:
            summary = comp.target.summary if isinstance(comp.target, Lazy) else ""
            yield comp.model, summary or f"waits for a decision of {comp.name} on the record", comp.obj


def held_rows(session: Session, registry: Any, row_ids: Sequence[int], now: datetime) -> dict[int, Held]:
    """The rows of `row_ids` held at `now`, each with why and until when (``jobs list``)."""
    found: dict[int, Held] = {}
    for model, why, awaits in _reasons(registry) if row_ids else ():
        for row_id, created in session.execute(select(OutboxRow.id, OutboxRow.created).where(
                OutboxRow.id.in_(row_ids), OutboxRow.state == "pending", _held_by(model, [awaits], now))):
            found.setdefault(row_id, Held(why, created + HOLD_AT_MOST))
    return found


def held_counts(session: Session, registry: Any, backend: str, now: datetime) -> list[dict[str, Any]]:
    """Per reason, how many pending rows of `backend` are held at `now` and when the last of
    them is released at the latest: ``{"why", "rows", "until"}`` (``crm-bridge status``)."""
    found = []
    for model, why, awaits in _reasons(registry):
        rows, newest = session.execute(select(func.count(), func.max(OutboxRow.created)).where(
            OutboxRow.backend == backend, OutboxRow.state == "pending", _held_by(model, [awaits], now))).one()
        if rows:
            found.append({"why": why, "rows": int(rows), "until": newest + HOLD_AT_MOST})
    return found
