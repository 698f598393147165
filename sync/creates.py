"""Creates: records born here (intake's requests, new contacts) written to a CRM that
does not know them yet, bind-first: a ``pending:<correlation key>`` binding is stored
before the call, and a create whose answer was lost is found again by that key instead
of made twice (``sync.source.supports_create``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_bridge.errors import RemoteBusy, RemoteError, RemoteStoredOtherwise
from crm_bridge.model import fields_to_json
from crm_bridge.store.engine import Store
from crm_bridge.store.records import ROWS
from mapping.compile import CompiledMapping
from sync import claim as claims
from sync.binder import Binder
from sync.lanes import Stop, renewer, run_lanes
from sync.record import (
    ExportStats,
    backoff,
    fail,
    hold_untried,
    recording_many,
    stored_otherwise,
    unsendable,
    wrote,
)
from sync.source import RemoteBackend, supports_create
from sync.tables import BindingRow, OutboxRow

__all__ = ["create_pending"]

log = logging.getLogger(__name__)

ROUNDS = 3  # a create, the record it refers to and that one's reference: created in one pass
WAIT = timedelta(minutes=1)  # a create whose reference is still being created looks again after this
# Creates claimed (bound, looked up) in one transaction and recorded in one: the calls
# beyond the backend's concurrency queue behind it. At 16 a batch per connection, the last
# call waits for 15 others on its connection: its claim (one ``claims.LEASE``) is renewed
# while it waits (``lanes.renewer``), so an owner that dies elsewhere blocks it one lease, not 16.
BATCH_PER_CONNECTION = 16


class _Waiting(Exception):  # noqa: N818 - a state, not a failure
    """A create refers to a record whose own create has not reached the remote yet (an
    attachment of a request 1C has not got): sending it now would write a key 1C refuses."""

    def __init__(self, model: str, local_id: int) -> None:
        super().__init__(f"waits for {model} {local_id} to be created in the CRM first")

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
    looked: bool = False  # the key was looked up with the claim's batch (``_look_up``): `found` is the answer
    found: tuple[str, str | None] | None = None
    lookup_fault: RemoteError | None = None


@dataclass
class _Made:
    """What a claimed create's remote calls gave."""

    job: _Create
    remote_id: str | None = None
    version: str | None = None
    fault: Exception | None = None
    held: bool = False  # the fault was the look-up's (a read), not the create's own


def create_pending(store: Store, backend: RemoteBackend, mappings: Mapping[str, CompiledMapping], now: datetime,
                   stats: ExportStats, limit: int, *, concurrency: int = 1) -> None:
    """Create the remote records of records born here, bind-first: the binding with its
    correlation key was stored with the decision; a retry looks the key up before
    creating, so a lost answer (or a crash before the result was recorded) never leaves
    two remote records.

    The creates go over the write-back's lanes (``sync/lanes.py``) in batches of up to
    ``BATCH_PER_CONNECTION`` times `concurrency`: a batch claimed in one transaction, its
    keys looked up in one request (an ``or`` of keys, ``find_many``, when the adapter
    offers it) after the claim is committed and before any is created, its calls made
    `concurrency` at once, and its outcomes recorded in one transaction once all are over
    — two commits a batch, not two for every two creates. A claim is renewed while it waits
    behind the batch's earlier calls (``lanes.renewer``, every ``lanes.RENEW_EVERY`` seconds);
    after a crash the look-up by key finds what was created.

    A create that refers to a record still being created in the same batch (a request's
    file, claimed beside the request) waits; once the batch has created something, the
    waiting ones are claimed again in another round, up to ``ROUNDS`` deep — so a file
    goes in the pass that creates its request, not a minute later.

    A create that meets a fault every other would meet too (``RemoteBusy``: 429, 503; or
    one only an administrator can fix) stops the pass like an update's: the row that met it
    backs off, the rows not tried yet wait (``_hold_back``) and no further round runs.
    A call that raises something unexpected is that row's fault alone (backed off, then
    parked with the reason); the others go on."""
    with store.transaction() as session:
        ids = list(session.scalars(select(OutboxRow.id).where(
            OutboxRow.backend == backend.name, OutboxRow.operation == "create", OutboxRow.state == "pending",
            OutboxRow.next_attempt_at <= now).order_by(OutboxRow.id).limit(limit)))
    started = time.monotonic()  # the claims' renewals stand at `now` moved on by the wall time since
    writers: dict[str, CompiledMapping] = {}  # each model's full write mapping, compiled once per pass
    for _ in range(ROUNDS):
        if not ids:
            return
        waiting: list[int] = []
        created = stats.created
        stop = Stop()
        _create_round(store, backend, mappings, now, stats, ids, concurrency, writers, waiting, stop, started)
        if stop.fault is not None or stats.created == created:  # stopped, or nothing new in the CRM: what waits, waits on
            return
        ids = waiting


def _create_round(store: Store, backend: RemoteBackend, mappings: Mapping[str, CompiledMapping], now: datetime,
                  stats: ExportStats, ids: list[int], concurrency: int, writers: dict[str, CompiledMapping],
                  waiting: list[int], stop: Stop, started: float) -> None:
    """One round of `create_pending` over `ids`; the rows whose reference is not created yet go into `waiting`.
    `started`: ``time.monotonic()`` when the pass began at `now` (the claims' renewals move on from it)."""

    def claim(row_ids: list[int]) -> dict[int, _Create]:
        jobs: dict[int, _Create] = {}
        with store.transaction() as session:
            rows = {row.id: row for row in session.scalars(
                select(OutboxRow).where(OutboxRow.id.in_(row_ids)).with_for_update(skip_locked=True))}
            bindings, _held = _read_for_claim(session, backend.name, list(rows.values()))
            binder = Binder(session, backend.name)  # one a batch: a customer many requests refer to is read once
            for row_id in row_ids:
                row = rows.get(row_id)
                job = _claim_create(session, backend, mappings, row, now, stats, writers, waiting,
                                    binding=bindings.get((row.model, row.local_id)), binder=binder) \
                    if row is not None else None
                if job is not None:
                    jobs[row_id] = job
        _look_up(backend, mappings, list(jobs.values()))  # the claims are committed: no transaction open
        return jobs

    def call(job: _Create) -> _Made:
        made = _call_create(backend, mappings[job.model], job)
        fault = made.fault
        if isinstance(fault, RemoteError) and not isinstance(fault, RemoteStoredOtherwise) and (
                fault.administrative or isinstance(fault, RemoteBusy)):
            stop.met(fault, job.row_id)  # every other create would meet it too: they wait
        return made

    def failed(job: _Create, exc: Exception) -> _Made:  # logged by the lanes with its traceback
        return _Made(job, fault=RemoteError(
            f"{backend.name}: the create of {job.model} raised {type(exc).__name__}: {exc} "
            "(not a fault 1C reported: see the log's traceback; retried, then parked)"), held=True)

    def record(finished: list[_Made], untried: list[_Create]) -> None:
        with recording_many(store, [(m.job.row_id, m.job.token) for m in finished],
                            [(j.row_id, j.token) for j in untried]) as (session, held):
            bindings = {b.id: b for b in session.scalars(select(BindingRow).where(  # one query, not one a create
                BindingRow.id.in_([m.job.binding_id for m in finished])))} if finished else {}
            for made in finished:
                if (row := held.get(made.job.row_id)) is not None:
                    _settle(session, row, bindings.get(made.job.binding_id), mappings[made.job.model], made, now, stats)

    renew = renewer(store, now, started)

    untried = run_lanes([[row_id] for row_id in ids], claim=claim, call=call, record=record, stop=stop,
                        concurrency=concurrency, name=f"create-{backend.name}", failed=failed,
                        batch=BATCH_PER_CONNECTION * max(concurrency, 1), renew=renew)
    if stop.fault is not None and untried:
        _hold_back(store, untried, stop.fault, now, stats, backend.name)



def _hold_back(store: Store, row_ids: list[int], exc: RemoteError, now: datetime, stats: ExportStats,
               backend: str) -> None:
    """The creates not tried when `exc` stopped the pass: on a 429/503 they wait as long as
    the remote asked (else the first back-off step), spending no attempt — they met
    nothing; a fault only an administrator can fix holds them like the row that met it."""
    busy = isinstance(exc, RemoteBusy) and not exc.administrative
    until = now + backoff(0, exc.retry_after)
    with store.transaction() as session:
        held = hold_untried(session, row_ids, exc, now, stats, until=until if busy else None)
    if held:
        log.warning("%d creates wait until %s: %s", held, until.isoformat(timespec="seconds"), exc,
                    extra={"event": "sync.create.held", "backend": backend})


def _look_up(backend: RemoteBackend, mappings: Mapping[str, CompiledMapping], jobs: list[_Create]) -> None:
    """Look the claimed creates' correlation keys up, one request per model (and per as
    many keys as 1C's URL takes): a create whose answer was lost is found and bound, not
    made twice. Only after the claims are committed: a look-up made before could miss a
    create a live owner finished meanwhile. An adapter without ``find_many`` looks each
    key up in its lane."""
    find_many = getattr(backend, "find_many", None)
    by_model: dict[str, list[_Create]] = {}
    for job in jobs:
        if job.remote_id is None and job.key:
            by_model.setdefault(job.model, []).append(job)
    if find_many is None:
        return
    for model, some in by_model.items():
        spec = mappings[model].spec
        try:
            found = find_many(spec, spec.correlation, [job.key for job in some])
        except RemoteError as exc:  # the look-up is a read: each create waits, none is refused for it
            for job in some:
                job.lookup_fault = exc
            continue
        except Exception as exc:  # untranslated: the same, so the batch's claims are recorded, not leaked
            log.exception("%s: the look-up of %d %s keys raised %s", backend.name, len(some), model,
                          type(exc).__name__, extra={"event": "sync.create.lookup_raised", "backend": backend.name})
            fault = RemoteError(f"{backend.name}: the look-up of {model} keys raised {type(exc).__name__}: {exc} "
                                "(not a fault 1C reported: see the log's traceback)")
            for job in some:
                job.lookup_fault = fault
            continue
        for job in some:
            job.looked, job.found = True, found.get(job.key)


def _read_for_claim(session: Session, backend: str, rows: list[OutboxRow]
                    ) -> tuple[dict[tuple[str, int], BindingRow], list[Any]]:
    """The bindings in `backend` of a claim batch's rows by (model, local id), and their local
    records (returned to be held: ``session.get`` then finds them without a query): two
    queries a model for the batch, not two a row (each after a flush)."""
    bindings: dict[tuple[str, int], BindingRow] = {}
    records: list[Any] = []
    by_model: dict[str, list[int]] = {}
    for row in rows:
        by_model.setdefault(row.model, []).append(row.local_id)
    for model, local_ids in by_model.items():
        for binding in session.scalars(select(BindingRow).where(
                BindingRow.backend == backend, BindingRow.model == model, BindingRow.local_id.in_(local_ids))
                .order_by(BindingRow.id)):
            bindings.setdefault((binding.model, binding.local_id), binding)
        if model in ROWS:
            records += session.scalars(select(ROWS[model]).where(ROWS[model].id.in_(local_ids)))  # type: ignore[attr-defined]
    return bindings, records


def _claim_create(session: Session, backend: RemoteBackend, mappings: Mapping[str, CompiledMapping], row: OutboxRow,
                  now: datetime, stats: ExportStats, writers: dict[str, CompiledMapping],
                  waiting: list[int], *, binding: BindingRow | None, binder: Binder) -> _Create | None:
    """Claim a create row and work out its write; settle at once what needs no remote call.
    `binding`: the row's binding (read with its batch), None when it has none."""
    if row.state != "pending" or claims.is_live(row, now):
        return None
    claims.release(row)  # a lapsed claim (its owner died): the look-up below finds what it did
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

    def resolve(ref_model: str, local_id: Any) -> str | None:
        remote = binder.remote_id(ref_model, int(local_id))
        if remote is not None and remote.startswith("pending:"):
            raise _Waiting(ref_model, int(local_id))
        return remote

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
        # What the batch's claims changed so far (outbox rows' claims and states) is nothing the
        # references' look-ups read: flushed once, at the commit, not before each look-up.
        with session.no_autoflush:
            values: dict[str, Any] = {**writers[row.model].to_remote(given, resolve), correlation: key}
    except _Waiting as exc:  # what it refers to is not created yet (its create failed): later, not parked
        row.next_attempt_at, row.last_error = now + WAIT, str(exc)
        waiting.append(row.id)
        return None
    except (ValueError, TypeError, LookupError) as exc:  # this record's data: it fails alone, the others go
        unsendable(session, row, key, fields_to_json(row.model, local), exc, now, stats)
        return None
    return _Create(row.id, claims.take(row, now), row.model, binding.id, key=key, values=values,
                   local=fields_to_json(row.model, local))


def _call_create(backend: RemoteBackend, mapping: CompiledMapping, job: _Create) -> _Made:
    """The remote calls of a claimed create (a lane's thread, no transaction open): finish
    a create an import met first, or create the record unless its key was found."""
    spec = mapping.spec
    if job.remote_id is not None:
        try:
            return _Made(job, job.remote_id, getattr(backend, "complete_create")(spec, job.remote_id, job.version))  # noqa: B009
        except RemoteError as exc:  # a read or a passing fault (a refused posting leaves a draft, logged)
            return _Made(job, fault=exc, held=True)
        except (ValueError, TypeError, LookupError) as exc:  # its remote id no request can carry (not a GUID)
            return _Made(job, fault=exc)
    if not supports_create(backend) or not spec.correlation:  # checked at the claim; said again for the types
        return _Made(job, fault=RemoteError(f"{backend.name}: cannot create {job.model}"))
    if job.lookup_fault is not None:
        return _Made(job, fault=job.lookup_fault, held=True)
    try:
        found = job.found if job.looked else backend.find(spec, spec.correlation, job.key)
    except RemoteError as exc:  # the look-up is a read: a refusal there is not the create's own
        return _Made(job, fault=exc, held=True)
    try:
        remote_id, version = found if found is not None else backend.create(spec, job.values)
    except (ValueError, TypeError, LookupError, RemoteError) as exc:  # RemoteStoredOtherwise: created, not as sent
        return _Made(job, fault=exc)
    return _Made(job, remote_id, version)


def _settle(session: Session, row: OutboxRow, binding: BindingRow | None, mapping: CompiledMapping, made: _Made,
            now: datetime, stats: ExportStats) -> None:
    """What a create leaves on its row and binding (the claim still ours): bound and sent,
    set aside, bound and parked with what the remote stored, or backed off."""
    job, fault = made.job, made.fault
    if isinstance(fault, (ValueError, TypeError, LookupError)):  # a value the adapter cannot encode: this row alone
        unsendable(session, row, job.key or job.remote_id or "", job.values, fault, now, stats)
    elif isinstance(fault, RemoteStoredOtherwise):  # created, but not as sent: bound, and parked with the reason
        if binding is not None:
            fail(row, fault, now, stats)
            binding.remote_id, binding.state, binding.exported_at = fault.remote_id, "active", now
            stored_otherwise(binding, mapping, job.local, fault, now)
    elif isinstance(fault, RemoteError):
        fail(row, fault, now, stats, held=made.held)
    elif job.remote_id is not None:  # completed: posted where it was not
        if made.version is not None and binding is not None:
            wrote(binding, made.version)
        row.state, row.sent_at, row.last_error = "sent", now, None
    elif binding is not None and made.remote_id is not None:
        binding.remote_id, binding.state, binding.exported_at = made.remote_id, "active", now
        wrote(binding, made.version)
        binding.base = job.local
        row.state, row.sent_at, row.last_error = "sent", now, None
        stats.created += 1
