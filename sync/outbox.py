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

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_bridge.events import DomainEvent, Unit
from crm_bridge.model import fields_to_json
from sync.binder import Binder
from sync.tables import OutboxRow

__all__ = ["enqueue", "identity_key"]

log = logging.getLogger(__name__)


def identity_key(backend: str, model: str, local_id: int, fields: dict[str, object], basis: str | None) -> str:
    blob = json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)
    digest = hashlib.sha256(f"{blob}|{basis}".encode()).hexdigest()[:32]
    return f"{backend}/{model}/{local_id}/{digest}"


def enqueue(unit: Unit, event: DomainEvent) -> None:
    """Handler of ``record.changed``: an outbox row per backend the record is bound to.

    A pending row for the same record is merged into (newest value wins per field), so a
    burst of decisions before the next dispatch costs one remote write.
    """
    fields = fields_to_json(event.model, event.data["fields"])
    for binding in Binder.of_record(unit.session, event.model, event.local_id):
        pending = unit.session.scalar(
            select(OutboxRow).where(
                OutboxRow.backend == binding.backend,
                OutboxRow.model == event.model,
                OutboxRow.local_id == event.local_id,
                OutboxRow.state == "pending",
                OutboxRow.attempts == 0,
            )
        )
        if pending is not None:
            pending.fields = {**pending.fields, **fields}
            continue
        key = identity_key(binding.backend, event.model, event.local_id, fields, binding.remote_version)
        try:
            with unit.session.begin_nested():
                unit.session.add(
                    OutboxRow(
                        backend=binding.backend,
                        model=event.model,
                        local_id=event.local_id,
                        identity_key=key,
                        fields=fields,
                        origin=event.origin,
                        next_attempt_at=unit.now,
                        created=unit.now,
                    )
                )
        except IntegrityError:
            log.debug("outbox row %s exists", key, extra={"event": "sync.outbox.duplicate"})
