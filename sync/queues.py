"""What a person decides about the sync queues: settle a conflict by taking one side, send
parked (or back-off waiting) outbox rows again, or cancel them. ``crm-bridge conflicts
resolve``, ``crm-bridge jobs retry|cancel`` and the web dashboard's forms call these, inside
the caller's transaction; each decision is logged with who took it. Example::

    with bridge.store.transaction() as s:
        result = resolve_conflict(bridge, s, 12, "remote", bridge.clock(), by="lead")
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import select

from crm_bridge.events import DomainEvent
from crm_bridge.model import fields_from_json
from crm_bridge.store.records import update_record
from sync.tables import BindingRow, ConflictRow, OutboxRow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from crm_bridge.app import App

__all__ = ["add_numbers", "conflict_dict", "job_dict", "open_conflicts", "parked_rows", "resolve_conflict", "set_state"]

log = logging.getLogger(__name__)
Take = Literal["local", "remote"]


def add_numbers(s: Session, rows: list[dict[str, Any]]) -> None:
    """Give each row the CRM's number of its record (``number``) and how people name it
    (``record``: ``request CRM-0000295``); the local and remote ids stay beside them."""
    from crm_bridge.store.numbers import NOUNS, record_names

    by_model: dict[str, set[int]] = {}
    for r in rows:
        by_model.setdefault(r["model"], set()).add(r["local_id"])
    names = {model: record_names(s, model, ids) for model, ids in by_model.items()}
    for r in rows:
        r["number"] = names[r["model"]][r["local_id"]]
        r["record"] = f"{NOUNS.get(r['model'], r['model'])} {r['number']}"


def conflict_dict(c: ConflictRow) -> dict[str, Any]:
    return {"id": c.id, "backend": c.backend, "model": c.model, "local_id": c.local_id, "remote_id": c.remote_id,
            "field": c.field, "base": c.base["value"], "local": c.local["value"], "remote": c.remote["value"],
            "state": c.state, "resolution": c.resolution, "created": c.created, "resolved_at": c.resolved_at}


def job_dict(r: OutboxRow) -> dict[str, Any]:
    return {"id": r.id, "backend": r.backend, "model": r.model, "local_id": r.local_id, "fields": r.fields,
            "state": r.state, "attempts": r.attempts, "last_error": r.last_error, "created": r.created,
            "next_attempt_at": r.next_attempt_at, "sent_at": r.sent_at, "origin": r.origin}


def open_conflicts(s: Session, *, all_states: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
    """Open conflicts (every one with `all_states`), oldest first, with their records' numbers."""
    query = select(ConflictRow).order_by(ConflictRow.id).limit(limit)
    if not all_states:
        query = query.where(ConflictRow.state == "open")
    rows = [conflict_dict(c) for c in s.scalars(query)]
    add_numbers(s, rows)
    return rows


def parked_rows(s: Session, state: str = "parked", limit: int = 100) -> list[dict[str, Any]]:
    """Outbox rows in `state` (``all``: any), newest first, with their records' numbers."""
    query = select(OutboxRow).order_by(OutboxRow.id.desc()).limit(limit)
    if state != "all":
        query = query.where(OutboxRow.state == state)
    rows = [job_dict(r) for r in s.scalars(query)]
    add_numbers(s, rows)
    return rows


def resolve_conflict(bridge: App, s: Session, conflict_id: int, take: Take, now: datetime, *,
                     by: str) -> dict[str, Any] | None:
    """Settle open conflict `conflict_id`: ``remote`` keeps the CRM's value here (and makes
    it the binding's base), ``local`` sends crm-bridge's value to the CRM (``record.changed``:
    the outbox writes it back). None if there is no such open conflict. `by` (a login, ``cli``)
    goes to the log line."""
    row = s.get(ConflictRow, conflict_id)
    if row is None or row.state != "open":
        return None
    value = fields_from_json(row.model, {row.field: (row.local if take == "local" else row.remote)["value"]})
    unit = bridge.bus.unit(s, now, bridge.config)
    if take == "remote":
        update_record(s, row.model, row.local_id, value)
        binding = s.scalar(select(BindingRow).where(BindingRow.backend == row.backend, BindingRow.model == row.model,
                                                    BindingRow.local_id == row.local_id))
        if binding is not None:
            binding.base = {**(binding.base or {}), row.field: row.remote["value"]}
    else:
        unit.publish(DomainEvent("record.changed", row.model, row.local_id, "conflicts.resolve", {"fields": value}))
    row.state, row.resolution, row.resolved_at = "resolved", take, now
    result = conflict_dict(row)
    add_numbers(s, [result])
    log.info("conflict %s (%s, %s) resolved by %s: took the %s value", conflict_id, result["record"], row.field, by, take,
             extra={"event": "sync.conflict.resolved", "conflict": conflict_id, "take": take, "by": by})
    return result


def set_state(s: Session, job_ids: list[int], now: datetime, *, retry: bool, all_parked: bool = False,
              by: str) -> tuple[list[int], list[str]]:
    """Rows set pending (`retry`: sent at the next dispatch) or cancelled, and what was
    refused, one line each. An id that names no outbox row changes nothing at all: a
    mistyped id in a list is said, and the command is run again with the ids meant, rather
    than half applied. `by` (a login, ``cli``) goes to the log line."""
    query = select(OutboxRow).where(OutboxRow.state == "parked") if all_parked else select(OutboxRow).where(OutboxRow.id.in_(job_ids))
    rows = list(s.scalars(query))
    unknown = sorted(set(job_ids) - {row.id for row in rows})
    if unknown:
        listed = ", ".join(str(i) for i in unknown)
        return [], [f"no outbox row {listed}; nothing was changed (crm-bridge jobs list shows the rows)"]
    changed: list[int] = []
    refused: list[str] = []
    for row in rows:
        if row.state in ("pending", "parked"):
            if retry:
                row.state, row.next_attempt_at, row.attempts = "pending", now, 0
            else:
                row.state = "cancelled"
            changed.append(row.id)
        else:
            refused.append(f"row {row.id} is {row.state}, not pending or parked: left as it is")
    if changed:
        verb = "retried" if retry else "cancelled"
        log.info("outbox rows %s by %s: %s", verb, by, ", ".join(map(str, changed)),
                 extra={"event": f"sync.outbox.{verb}", "rows": changed, "by": by})
    return changed, refused
