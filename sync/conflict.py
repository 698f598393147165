"""A field changed on both sides, which the backend's policy leaves to a person: queued.

The import meets the conflict (``sync.merge``); this records it for ``crm-bridge
conflicts`` and holds back what the outbox would send of that field until a person
decides.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_bridge.model import remote_to_json
from crm_bridge.store.numbers import record_label
from sync import claim as claims
from sync.merge import Conflict
from sync.tables import BindingRow, ConflictRow, OutboxRow

__all__ = ["queue_conflict"]

log = logging.getLogger(__name__)


def queue_conflict(
    session: Session, binding: BindingRow, conflict: Conflict, now: datetime
) -> None:
    """Open a conflict row for `conflict` of the record `binding` names (or give an open one
    the newest remote value), and take the field out of the record's unsent outbox rows."""
    model = binding.model
    values = {
        k: remote_to_json(model, {conflict.field: v})[conflict.field]
        for k, v in (
            ("base", conflict.base),
            ("local", conflict.local),
            ("remote", conflict.remote),
        )
    }
    open_row = session.scalar(
        select(ConflictRow).where(
            ConflictRow.backend == binding.backend,
            ConflictRow.model == model,
            ConflictRow.local_id == binding.local_id,
            ConflictRow.field == conflict.field,
            ConflictRow.state == "open",
        )
    )
    if open_row is not None:
        # the newest remote value waits for the decision
        open_row.remote = {"value": values["remote"]}
        return
    session.add(
        ConflictRow(
            backend=binding.backend,
            model=model,
            local_id=binding.local_id,
            remote_id=binding.remote_id,
            field=conflict.field,
            base={"value": values["base"]},
            local={"value": values["local"]},
            remote={"value": values["remote"]},
            created=now,
        )
    )
    # A parked row too (a person may retry it); one a dispatcher sends right now is its
    # own (skip_locked): the conflict stays queued.
    for pending in session.scalars(
        select(OutboxRow)
        .where(
            OutboxRow.backend == binding.backend,
            OutboxRow.model == model,
            OutboxRow.operation == "update",
            OutboxRow.local_id == binding.local_id,
            OutboxRow.state.in_(("pending", "parked")),
        )
        .with_for_update(skip_locked=True)
    ):
        if claims.is_live(pending, now):
            continue
        if conflict.field in pending.fields:  # nothing is sent until a person decides
            pending.fields = {k: v for k, v in pending.fields.items() if k != conflict.field}
            if not pending.fields:
                pending.state, pending.last_error = "withdrawn", f"conflict on {conflict.field}"
    log.warning(
        "%s: %s changed on both sides; queued for a decision (crm-bridge conflicts list)",
        record_label(session, model, binding.local_id),
        conflict.field,
        extra={
            "event": "sync.conflict.queued",
            "backend": binding.backend,
            "model": model,
            "local_id": binding.local_id,
            "remote_id": binding.remote_id,
        },
    )
