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

    registry.add(Lazy("sla.engine:awaiting_plan"), usage="sync.awaits", model="ticket", name="sla")

The condition must turn false in the transaction that enqueues the decision (the SLA
planner deletes the queue row where it writes the plan's outbox changes), so no snapshot
sees the row released before the decision reached it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, false, not_, or_
from sqlalchemy.sql.elements import ColumnElement

from sync.tables import OutboxRow

__all__ = ["HOLD_AT_MOST", "AwaitsDecision", "Holds", "holds_of", "not_held"]

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
    for comp in registry.all("sync.awaits"):
        if comp.model is not None:
            found.setdefault(comp.model, []).append(comp.obj)
    return found


def not_held(holds: Holds, now: datetime) -> ColumnElement[bool] | None:
    """A condition on ``OutboxRow`` true for the rows free to be sent at `now` (None: no hold)."""
    if not holds:
        return None
    young = OutboxRow.created > now - HOLD_AT_MOST
    held = [and_(OutboxRow.model == model, young, or_(*(awaits(OutboxRow.local_id.expression) for awaits in conditions)))
            for model, conditions in holds.items() if conditions]
    return not_(or_(false(), *held)) if held else None
