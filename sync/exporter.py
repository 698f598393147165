"""Export: send pending outbox rows to their backend, one transaction per row.

A sent row stores the remote version our write produced in the binding, so the next
import recognises its own echo and skips it. Retryable faults back off exponentially with
jitter (honouring Retry-After); refusals and rows out of attempts are parked with the
reason for an operator.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from crm_bridge.errors import RemoteError
from crm_bridge.model import fields_from_json
from crm_bridge.store.engine import Store
from mapping.compile import CompiledMapping
from sync.binder import Binder
from sync.source import RemoteBackend
from sync.tables import OutboxRow

__all__ = ["ExportStats", "backoff", "dispatch"]

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


@dataclass
class ExportStats:
    sent: int = 0
    retried: int = 0
    parked: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempt: int, retry_after: float | None = None, *, base: float = 5.0, cap: float = 3600.0) -> timedelta:
    """Delay before attempt ``attempt + 1``: exponential with full jitter, at least Retry-After."""
    delay = random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311 - jitter, not crypto
    return timedelta(seconds=max(delay, retry_after or 0.0))


def dispatch(store: Store, backend: RemoteBackend, mappings: Mapping[str, CompiledMapping], now: datetime, *, limit: int = 500) -> ExportStats:
    """Send up to `limit` due outbox rows of `backend`."""
    stats = ExportStats()
    with store.transaction() as session:
        ids = list(
            session.scalars(
                select(OutboxRow.id)
                .where(OutboxRow.backend == backend.name, OutboxRow.state == "pending", OutboxRow.next_attempt_at <= now)
                .order_by(OutboxRow.id)
                .limit(limit)
            )
        )
    for row_id in ids:
        with store.transaction() as session:
            row = session.get(OutboxRow, row_id)
            if row is None or row.state != "pending":
                continue
            mapping = mappings.get(row.model)
            binder = Binder(session, row.backend)
            remote_id = binder.remote_id(row.model, row.local_id)
            if mapping is None or remote_id is None:
                row.state, row.last_error = "parked", f"no mapping or binding for {row.model} {row.local_id}"
                stats.parked += 1
                continue

            def resolve(ref_model: str, local_id: Any, binder: Binder = binder) -> str | None:
                return binder.remote_id(ref_model, int(local_id))

            values = mapping.to_remote(fields_from_json(row.model, row.fields), resolve)
            row.attempts += 1
            try:
                version = backend.update(mapping.spec, remote_id, values)
            except RemoteError as exc:
                row.last_error = str(exc)
                if exc.retryable and row.attempts < MAX_ATTEMPTS:
                    row.next_attempt_at = now + backoff(row.attempts, exc.retry_after)
                    stats.retried += 1
                else:
                    row.state = "parked"
                    stats.parked += 1
                stats.errors.append(str(exc))
                log.warning("outbox %d: %s", row.id, exc, extra={"event": "sync.export.failed", "backend": backend.name})
                continue
            binding = binder.get(row.model, remote_id)
            if binding is not None:
                binding.remote_version = binding.written_version = version
                binding.exported_at = now
            row.state, row.sent_at, row.last_error = "sent", now, None
            stats.sent += 1
    return stats
