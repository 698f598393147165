"""Export: send pending outbox rows to their backend.

No transaction is open while the remote is waited on: each row is claimed in a short
transaction, written, and its result recorded in a second one that checks the claim is
still ours (``sync/claim.py``).

A sent row stores the remote version our write produced in the binding, so the next
import recognises its own echo and skips it. Retryable faults back off exponentially with
jitter (honouring Retry-After); refusals and rows out of attempts are parked with the
reason for an operator.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from crm_bridge.errors import RemoteBusy, RemoteError, RemoteStoredOtherwise
from crm_bridge.model import fields_from_json, fields_to_json
from crm_bridge.progress import Task
from crm_bridge.retry import backoff as retry_backoff
from crm_bridge.store.engine import Store
from crm_bridge.store.numbers import record_label
from crm_bridge.store.records import ROWS
from mapping.compile import CompiledMapping
from sync import claim as claims
from sync.binder import Binder
from sync.importer import Importer
from sync.merge import same
from sync.quarantine import hold
from sync.source import RemoteBackend, RemoteRecord, supports_create
from sync.tables import BindingRow, OutboxRow

__all__ = ["ExportStats", "backoff", "dispatch"]

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
ADMIN_WAIT = 60.0  # seconds, at least, before a row retries after a fault only an administrator can fix


@dataclass
class ExportStats:
    sent: int = 0
    created: int = 0  # remote records created for records born here
    unchanged: int = 0  # the remote already held the values: nothing sent
    retried: int = 0
    parked: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: ExportStats) -> None:
        """Count `other`'s rows in (a lane's, a batch's)."""
        self.sent, self.created, self.unchanged = self.sent + other.sent, self.created + other.created, self.unchanged + other.unchanged
        self.retried, self.parked = self.retried + other.retried, self.parked + other.parked
        self.errors += other.errors


def backoff(attempt: int, retry_after: float | None = None, *, base: float = 5.0, cap: float = 3600.0) -> timedelta:
    """Delay before an outbox row's attempt ``attempt + 1`` (``crm_bridge.retry``, the outbox's base and cap)."""
    return timedelta(seconds=retry_backoff(attempt, retry_after, base=base, cap=cap))


def _due_rows(store: Store, backend: str, now: datetime, limit: int, shard: tuple[int, int] | None = None) -> list[tuple[int, str, int]]:
    query = (
        select(OutboxRow.id, OutboxRow.model, OutboxRow.local_id)
        .where(OutboxRow.operation == "update")
        .where(OutboxRow.backend == backend, OutboxRow.state == "pending", OutboxRow.next_attempt_at <= now)
        .order_by(OutboxRow.id)
        .limit(limit)
    )
    if shard is not None and shard[1] > 1:
        # By record, not by row: every change of one record stays in one shard, in order.
        query = query.where(OutboxRow.local_id % shard[1] == shard[0])
    with store.transaction() as session:
        return [(r.id, r.model, r.local_id) for r in session.execute(query)]


def due_count(store: Store, backend: str, now: datetime, shard: tuple[int, int] | None = None) -> int:
    """How many outbox rows of `backend` (updates and creates) are due at `now`: what a
    dispatch pass that stops early leaves behind, and the total its progress counts to."""
    query = (
        select(func.count(OutboxRow.id))
        .where(OutboxRow.backend == backend, OutboxRow.state == "pending", OutboxRow.next_attempt_at <= now)
    )
    if shard is not None and shard[1] > 1:
        query = query.where(OutboxRow.local_id % shard[1] == shard[0])
    with store.transaction() as session:
        return int(session.scalar(query) or 0)


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


def _create_pending(store: Store, backend: RemoteBackend, mappings: Mapping[str, CompiledMapping], now: datetime,
                    stats: ExportStats, limit: int) -> None:
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
            _unsendable(session, row, key, fields_to_json(row.model, local), exc, now, stats)
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
            with _recording(store, job.row_id, job.token) as held:
                if held is not None:
                    _fail(held[1], exc, now, stats, held=True)
            return
        with _recording(store, job.row_id, job.token) as held:
            if held is not None:
                binding = held[0].get(BindingRow, job.binding_id)
                if version is not None and binding is not None:
                    _wrote(binding, version)
                held[1].state, held[1].sent_at, held[1].last_error = "sent", now, None
        return
    if not supports_create(backend) or not spec.correlation:  # checked at the claim; said again for the types
        return
    try:
        found = backend.find(spec, spec.correlation, job.key)
    except RemoteError as exc:  # the look-up is a read: a refusal there is not the create's own
        with _recording(store, job.row_id, job.token) as held:
            if held is not None:
                _fail(held[1], exc, now, stats, held=True)
        return
    try:
        if found is None:
            found = backend.create(spec, job.values)
    except (ValueError, TypeError, LookupError) as exc:  # a value the adapter cannot encode: this row alone
        with _recording(store, job.row_id, job.token) as held:
            if held is not None:
                _unsendable(held[0], held[1], job.key or "", job.values, exc, now, stats)
        return
    except RemoteStoredOtherwise as exc:  # created, but not as sent: bound, and parked with the reason
        with _recording(store, job.row_id, job.token) as held:
            if held is not None and (binding := held[0].get(BindingRow, job.binding_id)) is not None:
                _fail(held[1], exc, now, stats)
                binding.remote_id, binding.state, binding.exported_at = exc.remote_id, "active", now
                _stored_otherwise(binding, mapping, job.local, exc, now)
        return
    except RemoteError as exc:
        with _recording(store, job.row_id, job.token) as held:
            if held is not None:
                _fail(held[1], exc, now, stats)
        return
    remote_id, version = found
    with _recording(store, job.row_id, job.token) as held:
        if held is None or (binding := held[0].get(BindingRow, job.binding_id)) is None:
            return
        binding.remote_id, binding.state, binding.exported_at = remote_id, "active", now
        _wrote(binding, version)
        binding.base = job.local
        held[1].state, held[1].sent_at, held[1].last_error = "sent", now, None
        stats.created += 1


@contextmanager
def _recording(store: Store, row_id: int, token: str) -> Iterator[tuple[Session, OutboxRow] | None]:
    """The second short transaction of a send: yields the row (and its session) when the
    claim is still `token`'s, else None — the claim lapsed while the remote answered and
    its new owner settles the row (its re-read finds what this write did). The claim is
    released when the block ends."""
    with store.transaction() as session:
        row = session.scalar(select(OutboxRow).where(OutboxRow.id == row_id).with_for_update())
        if row is None or not claims.owns(row, token):
            log.warning("outbox %d: its claim lapsed while the remote answered; the row is left to its new owner",
                        row_id, extra={"event": "sync.export.claim_lost"})
            yield None
            return
        row.attempts += 1  # counted with the answer: a send cut short by a crash costs none
        yield session, row
        claims.release(row)


def _refresh(store: Store, importer: Importer | None, due: list[tuple[int, str, int]], backend: str,
             broken: dict[str, str]) -> dict[str, RemoteRecord]:
    """Re-read the records about to be written and merge what changed remotely first.

    1C has no If-Match: this read is the optimistic-concurrency check. A record a user
    changed since our last import is imported (three-way merge, conflicts queued) before
    anything is sent, and the values it holds now let us send only what differs. A key
    the remote cannot be asked for (not a GUID) goes into `broken` with why: its rows
    fail alone, the others are sent.
    """
    if importer is None:
        return {}
    by_model: dict[str, list[str]] = {}
    with store.transaction() as session:
        binder = Binder(session, backend)
        for _, model, local_id in due:
            remote_id = binder.remote_id(model, local_id)
            if remote_id is not None and not remote_id.startswith("pending:") and model in importer.mappings:
                by_model.setdefault(model, []).append(remote_id)
    seen: dict[str, RemoteRecord] = {}
    for model, remote_ids in by_model.items():
        try:
            seen.update(importer.refresh(model, remote_ids))
        except ValueError:  # one key the adapter cannot put in a request: find it, read the others
            for remote_id in remote_ids:
                try:
                    seen.update(importer.refresh(model, [remote_id]))
                except ValueError as exc:
                    broken[remote_id] = f"{model} {remote_id!r} is no key {backend} can address: {exc}"
    return seen


def _wrote(binding: BindingRow, version: str | None) -> None:
    """Record a write of ours on its binding: the version it produced (the next import
    recognises its echo) and no content hash (it fingerprinted 1C before the write, so a
    1C user restoring those values would pass for unchanged)."""
    binding.remote_version = binding.written_version = version
    binding.content_hash = None


def _stored_otherwise(binding: BindingRow, mapping: CompiledMapping, fields: Mapping[str, Any],
                      exc: RemoteStoredOtherwise, now: datetime) -> None:
    """A write the remote took but stored otherwise than sent (its row is parked): the
    version it produced is recorded as ours, so the next import does not take it for a
    user's edit and send the same values into the same field again, pass after pass; the
    fields stored as sent join the merge base, those stored otherwise do not."""
    _wrote(binding, exc.version)
    binding.exported_at = now
    otherwise = {name for name, f in mapping.spec.fields.items() if f.source in exc.fields}
    otherwise |= {name for name, c in mapping.spec.children.items() if c.source in exc.fields}
    binding.base = {**(binding.base or {}), **{k: v for k, v in fields.items() if k not in otherwise}}


def _fail(row: OutboxRow, exc: RemoteError, now: datetime, stats: ExportStats, *, quiet: bool = False,
          held: bool = False) -> None:
    """Record a failed attempt: back off when worth retrying, otherwise park with the reason.

    A fault only an administrator can fix (a password, a publication) costs the row no
    attempt: however long the outage, the row is still pending when it is fixed. A row
    `held` by a fault its own write did not meet (the re-read before the batch, the
    look-up before a create) is never parked for that fault's kind: its write may well go
    through; it backs off."""
    row.last_error = str(exc)
    if exc.administrative:
        row.attempts = max(row.attempts - 1, 0)
        row.next_attempt_at = now + timedelta(seconds=max(exc.retry_after or 0.0, ADMIN_WAIT))
        stats.retried += 1
    elif (exc.retryable or held) and row.attempts < MAX_ATTEMPTS:
        row.next_attempt_at = now + backoff(row.attempts, exc.retry_after)
        stats.retried += 1
    else:
        row.state = "parked"
        stats.parked += 1
        if exc.retryable or held:  # out of attempts: the remote's "will retry" is no longer true
            row.last_error = f"gave up after {row.attempts} attempts: {exc.once}"
    if not quiet:
        stats.errors.append(str(exc))
        log.warning("outbox %d, %s: %s", row.id, record_label(object_session(row), row.model, row.local_id), exc,
                    extra={"event": "sync.export.failed", "backend": row.backend, "model": row.model,
                           "local_id": row.local_id})


def _unsendable(session: Session, row: OutboxRow, remote_id: str, values: Mapping[str, Any], exc: Exception,
                now: datetime, stats: ExportStats) -> None:
    """A row no request can carry (its key is no GUID, a value the adapter cannot encode):
    parked with the reason and set aside in the quarantine (stage ``write``); no retry helps."""
    reason = str(exc) if isinstance(exc, ValueError) and str(exc).startswith(row.model) else (
        f"{row.model} {remote_id!r}: {type(exc).__name__}: {exc}")
    row.state, row.last_error = "parked", f"cannot be sent: {reason}"
    stats.parked += 1
    stats.errors.append(row.last_error)
    hold(session, row.backend, row.model, remote_id, "write", reason, dict(values), now)


def _newest_only(session: Session, row: OutboxRow) -> bool:
    """Take out of `row` the fields a newer row of its record sets (waiting, parked or
    already sent): a later decision always wins, whatever order the rows get through in
    (a retry after back-off, a parked row a person retries). False when nothing is left:
    the row is withdrawn, saying what replaced it."""
    newer: set[str] = set()
    for fields in session.scalars(select(OutboxRow.fields).where(
            OutboxRow.backend == row.backend, OutboxRow.model == row.model, OutboxRow.local_id == row.local_id,
            OutboxRow.operation == "update", OutboxRow.id > row.id, OutboxRow.state.in_(("pending", "parked", "sent")))):
        newer.update(fields)
    replaced = sorted(newer & set(row.fields))
    if not replaced:
        return True
    row.fields = {k: v for k, v in row.fields.items() if k not in replaced}
    log.info("outbox %d, %s: %s replaced by a newer decision", row.id, record_label(session, row.model, row.local_id),
             ", ".join(replaced), extra={"event": "sync.outbox.superseded", "backend": row.backend, "model": row.model,
                                         "local_id": row.local_id})
    if row.fields:
        return True
    row.state, row.last_error = "withdrawn", f"replaced by a newer decision ({', '.join(replaced)})"
    return False


def _postpone(store: Store, row_ids: list[int], exc: RemoteError, now: datetime, stats: ExportStats) -> None:
    """A fault met before these rows were tried (the re-read, or the row before them) holds
    them all: each backs off as if it had met it — parked only once out of attempts, never
    for a refusal that was not its own — and the fault is told once."""
    held, backend = 0, ""
    with store.transaction() as session:
        for row in session.scalars(select(OutboxRow).where(OutboxRow.id.in_(row_ids), OutboxRow.state == "pending")):
            if claims.is_live(row, now):
                continue  # being sent by another dispatcher: its own answer decides
            row.attempts += 1
            _fail(row, exc, now, stats, quiet=True, held=True)
            held += 1
            backend = row.backend
    if held:
        stats.errors.append(str(exc))
        log.warning("%d outbox rows wait: %s", held, exc, extra={"event": "sync.export.held", "backend": backend})


def dispatch(
    store: Store,
    backend: RemoteBackend,
    mappings: Mapping[str, CompiledMapping],
    now: datetime,
    *,
    importer: Importer | None = None,
    limit: int = 500,
    shard: tuple[int, int] | None = None,
    bar: Task | None = None,
    concurrency: int = 1,
) -> ExportStats:
    """Send up to `limit` due outbox rows of `backend`, `concurrency` records at once.

    Each row is claimed (an owner token and expiry, taken ``FOR UPDATE SKIP LOCKED``)
    in a short transaction, written with no transaction open, and recorded in a second
    one, so several workers dispatch one outbox without sending a row twice, and a slow
    remote never holds SQLite's write lock from the other jobs.
    The rows go in lanes, one per record (``_lanes``): a lane sends its record's rows one
    after another, in order, and up to `concurrency` lanes send at once, so a 20 ms
    remote is waited on by several writes together while no record ever has two writes
    in flight. A fault that stops the pass — one only an administrator can fix, or the
    remote saying it is overloaded (``RemoteBusy``: 429, 503) — stops every lane: the
    rows not tried yet wait (``_postpone``, ``_wait_out``).
    ``shard=(i, n)`` sends only the rows of records whose ``local_id % n == i``: n
    dispatchers share the outbox without re-reading the same records. `bar` (see
    ``crm_bridge.progress``) advances by each row handled, so a backlog's bar moves
    row by row, not once a batch.
    """
    stats = ExportStats()
    due = _due_rows(store, backend.name, now, limit, shard)
    broken: dict[str, str] = {}  # remote id -> why no request can name it
    try:
        current = _refresh(store, importer, due, backend.name, broken) if due else {}
    except RemoteError as exc:
        _postpone(store, [row_id for row_id, _, _ in due], exc, now, stats)
        return stats
    _create_pending(store, backend, mappings, now, stats, limit)
    if bar is not None:
        bar.advance(stats.created + stats.parked + stats.retried)
    written: dict[str, dict[str, Any]] = {}  # remote id -> what this batch wrote there: a later row need not repeat it
    unsure: set[str] = set()  # remote ids a write found changed by someone else: no version of theirs is ours alone
    stop = _Stop()

    def send(lane: list[int]) -> _LaneResult:
        done = _LaneResult(ExportStats())
        for position, row_id in enumerate(lane):
            if stop.fault is not None:
                done.untried = lane[position:]
                break
            job = _claim_update(store, row_id, mappings, current, written, now, done.stats)
            if job is None:
                continue
            try:
                halted = _send_update(store, backend, mappings[job.model], job, written, unsure, broken, now, done.stats)
            finally:
                claims.done(job.token)
                if bar is not None:
                    bar.advance()
            if halted is not None and stop.fault is None:  # every other row would meet the same fault: they wait too
                stop.fault, stop.row_id = halted, row_id
        return done

    lanes = _lanes(due)
    if concurrency <= 1 or len(lanes) <= 1:
        results = [send(lane) for lane in lanes]
    else:
        with ThreadPoolExecutor(min(concurrency, len(lanes)), thread_name_prefix=f"write-back-{backend.name}") as pool:
            results = list(pool.map(send, lanes))
    untried = [row_id for result in results for row_id in result.untried]
    for result in results:
        stats.add(result.stats)
    if stop.fault is not None and untried:
        if isinstance(stop.fault, RemoteBusy) and not stop.fault.administrative:
            _wait_out(store, untried, stop.fault, stop.row_id, now, stats, backend.name)
        else:
            _postpone(store, untried, stop.fault, now, stats)
    return stats


def _lanes(due: list[tuple[int, str, int]]) -> list[list[int]]:
    """The due rows by record, in the order each record first comes: one lane each."""
    lanes: dict[tuple[str, int], list[int]] = {}
    for row_id, model, local_id in due:
        lanes.setdefault((model, local_id), []).append(row_id)
    return list(lanes.values())


@dataclass
class _Stop:
    """The fault that stops a pass's lanes (the first one met; set from any lane's thread)."""

    fault: RemoteError | None = None
    row_id: int | None = None  # the row whose write met it


@dataclass
class _LaneResult:
    stats: ExportStats
    untried: list[int] = field(default_factory=list)  # rows the lane left when the pass stopped


def _wait_out(store: Store, row_ids: list[int], exc: RemoteError, met_by_row: int | None, now: datetime,
              stats: ExportStats, backend: str) -> None:
    """The remote said it is overloaded (429, 503): the rows not tried yet wait as long as
    it asked (else the first back-off step), spending no attempt — they met nothing."""
    until = now + backoff(0, exc.retry_after)
    waited, met_by = 0, "a write"
    with store.transaction() as session:
        if met_by_row is not None and (first := session.get(OutboxRow, met_by_row)) is not None:
            met_by = f"the write of {record_label(session, first.model, first.local_id)}"
        for row in session.scalars(select(OutboxRow).where(OutboxRow.id.in_(row_ids), OutboxRow.state == "pending")):
            if claims.is_live(row, now):
                continue
            row.next_attempt_at, row.last_error = until, f"waits: {exc}"
            waited += 1
    stats.retried += waited
    if waited:
        log.warning("%d outbox rows wait until %s, as %s met: %s", waited, until.isoformat(timespec="seconds"), met_by, exc,
                    extra={"event": "sync.export.busy", "backend": backend})


@dataclass
class _Update:
    """An update claimed for sending: what the remote call needs, worked out in the claim."""

    row_id: int
    token: str
    model: str
    remote_id: str
    values: dict[str, Any]  # remote field -> value, only those 1C does not hold already
    fields: dict[str, Any]  # the row's canonical fields as claimed: the merge base once sent
    expected: str | None  # the version the write was decided against


def _claim_update(store: Store, row_id: int, mappings: Mapping[str, CompiledMapping],
                  current: Mapping[str, RemoteRecord], written: Mapping[str, dict[str, Any]], now: datetime,
                  stats: ExportStats) -> _Update | None:
    """Claim an update row and work out what to send (the first short transaction); a row
    that needs no remote call (withdrawn, parked, 1C holding its values) is settled here."""
    with store.transaction() as session:
        row = session.scalar(select(OutboxRow).where(OutboxRow.id == row_id).with_for_update(skip_locked=True))
        if row is None or row.state != "pending" or claims.is_live(row, now):
            return None
        if claims.held_elsewhere(session, row, now):
            return None  # an older decision on the record is in flight: this one follows it, never beside it
        claims.release(row)  # a lapsed claim (its owner died): the re-read showed what its write did
        mapping = mappings.get(row.model)
        binder = Binder(session, row.backend)
        remote_id = binder.remote_id(row.model, row.local_id)
        if remote_id is not None and remote_id.startswith("pending:"):
            row.next_attempt_at = now + timedelta(seconds=5)  # its create goes first
            return None
        if mapping is None or remote_id is None:
            row.state, row.last_error = "parked", f"no mapping or binding for {row.model} {row.local_id}"
            stats.parked += 1
            return None
        if not _newest_only(session, row):
            return None

        def resolve(ref_model: str, local_id: Any) -> str | None:
            return binder.remote_id(ref_model, int(local_id))

        values = mapping.to_remote(fields_from_json(row.model, row.fields), resolve)
        remote_now = current.get(remote_id)
        if remote_now is not None:
            values = {k: v for k, v in values.items() if not same(v, remote_now.values.get(k))}
        ours = written.get(remote_id, {})
        values = {k: v for k, v in values.items() if not (k in ours and same(v, ours[k]))}
        binding = binder.get(row.model, remote_id)
        if not values:
            row.state, row.sent_at, row.last_error = "sent", now, None  # 1C already holds these values
            if binding is not None:
                binding.base = {**(binding.base or {}), **row.fields}
                binding.content_hash = None  # it may fingerprint 1C before a user set these values: the next import merges
            stats.unchanged += 1
            return None
        expected = remote_now.version if remote_now is not None else binding.remote_version if binding else None
        return _Update(row.id, claims.take(row, now), row.model, remote_id, values, dict(row.fields), expected)


def _send_update(store: Store, backend: RemoteBackend, mapping: CompiledMapping, job: _Update,
                 written: dict[str, dict[str, Any]], unsure: set[str], broken: Mapping[str, str], now: datetime,
                 stats: ExportStats) -> RemoteError | None:
    """Write a claimed update (no transaction open) and record the result (the second
    short transaction). Returns a fault only an administrator can fix, or the remote
    saying it is overloaded: the batch stops.
    A row whose data no request can carry (`broken`: its key is no key of the remote; a
    value the adapter cannot encode) fails alone, set aside; the others go."""
    try:
        if job.remote_id in broken:
            raise ValueError(broken[job.remote_id])  # noqa: TRY301 - the row fails like a refused write
        version = backend.update(mapping.spec, job.remote_id, job.values, expected_version=job.expected)
    except (ValueError, TypeError, LookupError) as exc:  # this row's data
        with _recording(store, job.row_id, job.token) as held:
            if held is not None:
                _unsendable(held[0], held[1], job.remote_id, job.values, exc, now, stats)
        return None
    except RemoteStoredOtherwise as exc:
        kept = {k: v for k, v in job.values.items() if k not in exc.fields}
        written.setdefault(job.remote_id, {}).update(kept)
        with _recording(store, job.row_id, job.token) as held:
            if held is not None:
                _fail(held[1], exc, now, stats)  # parked with what the remote stored: not sent
                binding = Binder(held[0], held[1].backend).get(job.model, job.remote_id)
                if binding is not None:
                    _stored_otherwise(binding, mapping, job.fields, exc, now)
        return None
    except RemoteError as exc:
        with _recording(store, job.row_id, job.token) as held:
            if held is not None:
                _fail(held[1], exc, now, stats)
        return exc if exc.administrative or isinstance(exc, RemoteBusy) else None
    written.setdefault(job.remote_id, {}).update(job.values)
    if version is None or job.remote_id in unsure:  # the record holds more than our writes: read it again
        unsure.add(job.remote_id)
        version = None
    with _recording(store, job.row_id, job.token) as held:
        if held is None:
            return None
        session, row = held
        binding = Binder(session, row.backend).get(job.model, job.remote_id)
        if binding is not None:
            _wrote(binding, version)
            binding.exported_at = now
            binding.base = {**(binding.base or {}), **job.fields}  # both sides agree on these now
        row.state, row.sent_at, row.last_error = "sent", now, None
        stats.sent += 1
    return None
