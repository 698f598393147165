"""The outbox: remote writes recorded in the transaction that decided them.

``enqueue`` is the ``record.changed`` event handler: one row per binding of the changed
record. The identity key is the change plus the remote version it was decided against,
so the same decision taken twice (a retried job) is stored once — the database's unique
constraint says so, not a check in code — while a later change back to an earlier value,
decided against a newer remote version, is a new row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from typing import Any

from sqlalchemy import func, select, update

from crm_bridge.events import DomainEvent, Unit
from crm_bridge.model import fields_to_json_many
from crm_bridge.store.bulk import bulk_insert
from crm_bridge.store.records import among, in_chunks
from crm_bridge.store.tables import core_table
from sync import claim as claims
from sync.tables import BindingRow, OutboxRow

__all__ = ["correlation_key", "enqueue", "enqueue_create", "identity_key"]

log = logging.getLogger(__name__)


#: ``json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)`` made once: with
#: arguments, ``json.dumps`` builds an encoder at every call
_KEY_JSON = json.JSONEncoder(sort_keys=True, default=str, ensure_ascii=False).encode


def identity_key(backend: str, model: str, local_id: int, fields: dict[str, object], basis: str | None) -> str:
    blob = _KEY_JSON(fields)
    digest = hashlib.sha256(f"{blob}|{basis}".encode()).hexdigest()[:32]
    return f"{backend}/{model}/{local_id}/{digest}"


def enqueue(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``record.changed``: collected, written in bulk just before the commit."""
    unit.defer("sync.outbox", event, _enqueue_many)


def _enqueue_many(unit: Unit, events: list[DomainEvent]) -> None:
    """An outbox row per backend each changed record is bound to.

    Decisions about one record in one transaction are merged (the later value of a field
    wins), and so is a row still waiting for its first attempt, so a burst of decisions
    costs one remote write. An older row already tried (waiting to retry, or parked) is
    left as it is: the exporter never sends a field a newer row of the record sets.

    The same decision against the same remote version is stored once (a retried job), but
    only while that row is the record's newest: after a decision in between (A, B, then A
    again, B not yet sent) it is a change back, and stored anew.
    """
    session = unit.session
    changes: dict[tuple[str, int], tuple[dict[str, Any], str, dict[str, Any]]] = {}
    for event, fields in zip(events, _as_json(events), strict=True):
        key = (event.model, event.local_id)
        said = event.data.get("why") or {}
        origin = event.origin
        why = {k: said.get(k) or origin for k in fields}  # a decision in words, else its origin
        earlier = changes.get(key)
        changes[key] = (fields, origin, why) if earlier is None else ({**earlier[0], **fields}, origin, {**earlier[2], **why})
    session.flush()  # bindings created in this transaction must be visible to the queries below
    by_model: dict[str, list[int]] = {}
    for model, local_id in changes:
        by_model.setdefault(model, []).append(local_id)
    bindings: list[tuple[str, str, int, str | None]] = []  # (backend, model, local id, remote version)
    waiting: dict[tuple[str, str, int], tuple[int, dict[str, Any], dict[str, Any]]] = {}  # a row yet to be tried: id, fields, why
    for model, ids in by_model.items():
        for chunk in in_chunks(ids):
            bindings += [(b, m, i, v) for b, m, i, v in session.execute(  # four columns, no row objects
                select(BindingRow.backend, BindingRow.model, BindingRow.local_id, BindingRow.remote_version)
                .where(BindingRow.model == model, among(session, BindingRow.local_id, chunk)))]
            for row in session.execute(select(OutboxRow.id, OutboxRow.backend, OutboxRow.model, OutboxRow.local_id,
                                              OutboxRow.fields, OutboxRow.why).where(
                    OutboxRow.model == model, among(session, OutboxRow.local_id, chunk), OutboxRow.state == "pending",
                    OutboxRow.attempts == 0, OutboxRow.operation == "update")
                    # a row a dispatcher is sending right now is left to it: the new decision gets its own row
                    .with_for_update(skip_locked=True)):
                waiting[(row.backend, row.model, row.local_id)] = (row.id, row.fields, row.why or {})
            for claimed in session.scalars(select(OutboxRow).where(  # claimed: the send is on its way, leave it
                    OutboxRow.model == model, among(session, OutboxRow.local_id, chunk), OutboxRow.state == "pending",
                    OutboxRow.claimed_by.is_not(None))):
                if claims.is_live(claimed, unit.now):
                    waiting.pop((claimed.backend, claimed.model, claimed.local_id), None)
    fresh: dict[str, dict[str, Any]] = {}
    merged: list[dict[str, Any]] = []
    for backend, model, local_id, remote_version in bindings:
        fields, origin, why = changes[(model, local_id)]
        pending = waiting.get((backend, model, local_id))
        if pending is not None:
            row_id, held, said = pending
            if (both := {**held, **fields}) != held:  # a decision repeated (a plan made again) changes nothing
                merged.append({"id": row_id, "fields": both, "why": {**said, **why}})
            continue
        identity = identity_key(backend, model, local_id, fields, remote_version)
        fresh[identity] = {"backend": backend, "model": model, "local_id": local_id,
                           "identity_key": identity, "operation": "update", "fields": fields, "origin": origin, "why": why,
                           "state": "pending", "attempts": 0, "next_attempt_at": unit.now, "created": unit.now}
    keys = list(fresh)
    for some in in_chunks(keys):
        for known in session.execute(select(OutboxRow.identity_key, OutboxRow.id, OutboxRow.backend, OutboxRow.model,
                                            OutboxRow.local_id).where(among(session, OutboxRow.identity_key, some))):
            decision = fresh.pop(known.identity_key)
            newest = session.scalar(select(func.max(OutboxRow.id)).where(
                OutboxRow.backend == known.backend, OutboxRow.model == known.model, OutboxRow.local_id == known.local_id))
            if newest == known.id:  # the same decision against the same remote version: stored once
                log.debug("outbox row %s exists", known.identity_key, extra={"event": "sync.outbox.duplicate"})
                continue
            again = f"{known.identity_key}#{newest}"  # a change back, after the decision of row `newest`
            if session.scalar(select(OutboxRow.id).where(OutboxRow.identity_key == again)) is None:
                fresh[again] = {**decision, "identity_key": again}
    if merged:
        session.execute(update(OutboxRow), merged)  # by primary key: one executemany, no object per row
    if fresh:
        bulk_insert(session, core_table(OutboxRow), list(fresh.values()))  # one executemany, no object per row


def _as_json(events: list[DomainEvent]) -> list[dict[str, Any]]:
    """Each event's fields as JSON values (``fields_to_json``), one validation per model."""
    by_model: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        by_model.setdefault(event.model, []).append(i)
    found: list[dict[str, Any]] = [{}] * len(events)
    for model, indexes in by_model.items():
        for i, fields in zip(indexes, fields_to_json_many(model, [events[i].data["fields"] for i in indexes]), strict=True):
            found[i] = fields
    return found


def correlation_key(backend: str, model: str, local_id: int) -> str:
    """A key no other record anywhere will carry: written into the remote record at create."""
    return f"crm-bridge:{model}:{local_id}:{uuid.uuid4().hex[:12]}"


def enqueue_create(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``record.created`` (a record born here, e.g. by intake): bind first.

    In the deciding transaction, a binding with a *pending* remote id carrying a fresh
    correlation key, and a ``create`` outbox row. The exporter writes the key into the
    remote record; a retry after a lost answer finds the record by it, and an import that
    meets the record first claims the pending binding — never a second record.
    """
    backends = getattr(unit.config, "backends", {})
    for name, config in backends.items():
        if event.model not in getattr(config, "create_remote", ()):
            continue
        key = correlation_key(name, event.model, event.local_id)
        unit.session.add(BindingRow(backend=name, model=event.model, local_id=event.local_id, remote_id=f"pending:{key}",
                                    state="creating"))
        unit.session.add(OutboxRow(backend=name, model=event.model, local_id=event.local_id, operation="create",
                                   identity_key=f"{name}/{event.model}/{event.local_id}/create", fields={},
                                   origin=event.origin, next_attempt_at=unit.now, created=unit.now))
