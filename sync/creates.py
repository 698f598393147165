"""Creates: records born here (intake's requests, new contacts) written to a CRM that
does not know them yet, bind-first: a ``pending:<correlation key>`` binding is stored
before the call, and a create whose answer was lost is found again by that key instead
of made twice (``sync.source.supports_create``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from crm_bridge.errors import RemoteError, RemoteStoredOtherwise
from crm_bridge.model import fields_to_json
from crm_bridge.store.engine import Store
from crm_bridge.store.records import ROWS
from mapping.compile import CompiledMapping
from sync import claim as claims
from sync.binder import Binder
from sync.record import ExportStats, fail, recording, stored_otherwise, unsendable, wrote
from sync.source import RemoteBackend, supports_create
from sync.tables import BindingRow, OutboxRow

__all__ = ["create_pending"]

@dataclass
class _Create:
    """A create claimed for sending: what the remote call needs, worked out in the claim."""

    row_id: int
    token: str
    model: str
    binding_id: int
    remote_id: str | None = None  # "complete": the record an import met first, and its version
    version: str | None = None
    key: str = ""  # "create": the correlation key, the values to write, the local record's fields
    values: dict[str, Any] = field(default_factory=dict)
    local: dict[str, Any] = field(default_factory=dict)


def create_pending(store: Store, backend: RemoteBackend, mappings: Mapping[str, CompiledMapping], now: datetime,
                    stats: ExportStats, limit: int, *, concurrency: int = 1) -> None:
    """Create the remote records of records born here, bind-first: the binding with its
    correlation key was stored with the decision; a retry looks the key up before
    creating, so a lost answer (or a crash before the result was recorded) never leaves
    two remote records. Each is claimed, sent and recorded like an update."""
    with store.transaction() as session:
        ids = list(session.scalars(select(OutboxRow.id).where(
            OutboxRow.backend == backend.name, OutboxRow.operation == "create", OutboxRow.state == "pending",
            OutboxRow.next_attempt_at <= now).order_by(OutboxRow.id).limit(limit)))
    writers: dict[str, CompiledMapping] = {}  # each model's full write mapping, compiled once per pass
    for row_id in ids:
        job = _claim_create(store, backend, mappings, row_id, now, stats, writers)
        if job is None:
            continue
        try:
            _send_create(store, backend, mappings[job.model], job, now, stats)
        finally:
            claims.done(job.token)


def _claim_create(store: Store, backend: RemoteBackend, mappings: Mapping[str, CompiledMapping], row_id: int,
                  now: datetime, stats: ExportStats, writers: dict[str, CompiledMapping]) -> _Create | None:
    """Claim a create row and work out its write; settle at once what needs no remote call."""
    with store.transaction() as session:
        row = session.scalar(select(OutboxRow).where(OutboxRow.id == row_id).with_for_update(skip_locked=True))
        if row is None or row.state != "pending" or claims.is_live(row, now):
            return None
        claims.release(row)  # a lapsed claim (its owner died): the look-up below finds what it did
        binding = session.scalar(select(BindingRow).where(
            BindingRow.backend == row.backend, BindingRow.model == row.model, BindingRow.local_id == row.local_id))
        mapping = mappings.get(row.model)
        if binding is None or binding.state != "creating":
            # An import met the record first and claimed the binding: the create went
            # through, maybe not all of it (1C: the posting after a cut-short POST).
            if binding is None or mapping is None or getattr(backend, "complete_create", None) is None:
                row.state, row.sent_at, row.last_error = "sent", now, None
                return None
            return _Create(row.id, claims.take(row, now), row.model, binding.id, binding.remote_id,
                           binding.remote_version)
        if mapping is None or not mapping.spec.correlation or not supports_create(backend):
            row.state, row.last_error = "parked", (
                f"cannot create {row.model} in {backend.name}: the mapping needs `correlation: <remote field>` "
                "and the adapter must support creates")
            stats.parked += 1
            return None
        binder = Binder(session, row.backend)

        def resolve(ref_model: str, local_id: Any) -> str | None:
            return binder.remote_id(ref_model, int(local_id))

        record = session.get(ROWS[row.model], row.local_id)
        if record is None:
            row.state, row.last_error = "cancelled", "the local record no longer exists"
            return None
        spec, key, correlation = mapping.spec, binding.remote_id.removeprefix("pending:"), mapping.spec.correlation
        local = {name: getattr(record, name) for name in spec.fields if hasattr(record, name)}
        if row.model not in writers:
            writers[row.model] = mapping.writing_everything
        try:
            # An empty text is not sent: the remote fills it (1C numbers a document created
            # with no Number; intake's requests wait for that number, see intake.confirm).
            given = {name: value for name, value in local.items() if value != ""}
            values: dict[str, Any] = {**writers[row.model].to_remote(given, resolve), correlation: key}
        except (ValueError, TypeError, LookupError) as exc:  # this record's data: it fails alone, the others go
            unsendable(session, row, key, fields_to_json(row.model, local), exc, now, stats)
            return None
        return _Create(row.id, claims.take(row, now), row.model, binding.id, key=key, values=values,
                       local=fields_to_json(row.model, local))


def _send_create(store: Store, backend: RemoteBackend, mapping: CompiledMapping, job: _Create, now: datetime,
                 stats: ExportStats) -> None:
    """Call the remote for a claimed create (no transaction open), then record the result."""
    spec = mapping.spec
    if job.remote_id is not None:
        try:
            version = getattr(backend, "complete_create")(spec, job.remote_id, job.version)  # noqa: B009 - optional
        except RemoteError as exc:  # a read or a passing fault (a refused posting leaves a draft, logged)
            with recording(store, job.row_id, job.token) as held:
                if held is not None:
                    fail(held[1], exc, now, stats, held=True)
            return
        with recording(store, job.row_id, job.token) as held:
            if held is not None:
                binding = held[0].get(BindingRow, job.binding_id)
                if version is not None and binding is not None:
                    wrote(binding, version)
                held[1].state, held[1].sent_at, held[1].last_error = "sent", now, None
        return
    if not supports_create(backend) or not spec.correlation:  # checked at the claim; said again for the types
        return
    try:
        found = backend.find(spec, spec.correlation, job.key)
    except RemoteError as exc:  # the look-up is a read: a refusal there is not the create's own
        with recording(store, job.row_id, job.token) as held:
            if held is not None:
                fail(held[1], exc, now, stats, held=True)
        return
    try:
        if found is None:
            found = backend.create(spec, job.values)
    except (ValueError, TypeError, LookupError) as exc:  # a value the adapter cannot encode: this row alone
        with recording(store, job.row_id, job.token) as held:
            if held is not None:
                unsendable(held[0], held[1], job.key or "", job.values, exc, now, stats)
        return
    except RemoteStoredOtherwise as exc:  # created, but not as sent: bound, and parked with the reason
        with recording(store, job.row_id, job.token) as held:
            if held is not None and (binding := held[0].get(BindingRow, job.binding_id)) is not None:
                fail(held[1], exc, now, stats)
                binding.remote_id, binding.state, binding.exported_at = exc.remote_id, "active", now
                stored_otherwise(binding, mapping, job.local, exc, now)
        return
    except RemoteError as exc:
        with recording(store, job.row_id, job.token) as held:
            if held is not None:
                fail(held[1], exc, now, stats)
        return
    remote_id, version = found
    with recording(store, job.row_id, job.token) as held:
        if held is None or (binding := held[0].get(BindingRow, job.binding_id)) is None:
            return
        binding.remote_id, binding.state, binding.exported_at = remote_id, "active", now
        wrote(binding, version)
        binding.base = job.local
        held[1].state, held[1].sent_at, held[1].last_error = "sent", now, None
        stats.created += 1


