"""How people know a record: a request by the CRM's number (``CRM-0000295``), a customer,
contact or agent by name — never by a local id or a remote GUID, which nobody on the
support desk has seen. Log lines, tables and warnings say ``request CRM-0000295``; the
ids stay in ``--json`` and in log extras for scripts, beside the number.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_bridge.store.records import in_chunks
from crm_bridge.store.tables import AgentRow, ContactRow, CustomerRow, TicketRow

__all__ = ["NOUNS", "record_label", "record_labels", "record_names"]

#: What people call each model's records.
NOUNS = {"ticket": "request", "customer": "customer", "contact": "contact", "agent": "agent"}
_SHOWN: dict[str, tuple[type[Any], Any]] = {
    "ticket": (TicketRow, TicketRow.number), "customer": (CustomerRow, CustomerRow.name),
    "contact": (ContactRow, ContactRow.name), "agent": (AgentRow, AgentRow.name),
}


def record_names(session: Session, model: str, ids: Iterable[int]) -> dict[int, str]:
    """The number (requests) or name (the others) of each record of `model` in `ids`; a
    record not found, or of a model without one, is ``#<id>``."""
    wanted = sorted(set(ids))
    found: dict[int, str] = {}
    shown = _SHOWN.get(model)
    if shown is not None:
        row, column = shown
        for chunk in in_chunks(wanted):
            found.update(session.execute(select(row.id, column).where(row.id.in_(chunk))).all())
    return {i: str(found[i]) if found.get(i) else f"#{i}" for i in wanted}


def record_labels(session: Session, model: str, ids: Iterable[int]) -> dict[int, str]:
    """``request CRM-0000295``, ``customer ООО «Ромашка»``: the noun and the name of each."""
    noun = NOUNS.get(model, model)
    return {i: f"{noun} {name}" for i, name in record_names(session, model, ids).items()}


def record_label(session: Session | None, model: str, local_id: int) -> str:
    """One record's label (see ``record_labels``); without a session, ``request #25``."""
    if session is None:
        return f"{NOUNS.get(model, model)} #{local_id}"
    return record_labels(session, model, [local_id])[local_id]
