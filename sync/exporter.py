"""Export: send pending outbox rows to their backend.

No transaction is open while the remote is waited on: each row is claimed in a short
transaction, written, and its result recorded in a second one that checks the claim is
still ours (``sync/claim.py``).

A sent row stores the remote version our write produced in the binding, so the next
import recognises its own echo and skips it. Retryable faults back off exponentially with
jitter (honouring Retry-After); refusals and rows out of attempts are parked with the
reason for an operator (``sync/record.py``). Records born here are created first
(``sync/creates.py``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_bridge.errors import RemoteBusy, RemoteError, RemoteStoredOtherwise, RemoteUnavailable
from crm_bridge.model import fields_from_json
from crm_bridge.progress import Task
from crm_bridge.store.engine import Store
from crm_bridge.store.numbers import record_label
from mapping.compile import CompiledMapping
from sync import claim as claims
from sync.binder import Binder
from sync.creates import create_pending
from sync.hold import Holds, not_held
from sync.importer import Importer
from sync.lanes import Stop, lanes_of, renewer, run_lanes
from sync.merge import same
from sync.record import (
    MAX_ATTEMPTS,
    ExportStats,
    backoff,
    fail,
    hold_untried,
    recording_many,
    stored_otherwise,
    unsendable,
    wrote,
)
from sync.source import RemoteBackend, RemoteRecord
from sync.tables import OutboxRow

__all__ = ["MAX_ATTEMPTS", "ExportStats", "backoff", "dispatch", "due_count"]

log = logging.getLogger(__name__)

# Update claims taken in one transaction, per connection of the backend, and recorded in
# one once all their calls are over. A round of the lanes without batches recorded and
# claimed about two rows at latency 0 (``sync.lanes.GATHER``): five statements and a
# transaction for every two writes, whatever the number of workers. At 8 a connection, the
# last call of a batch waits behind 7 others on its connection: its claim (one
# ``claims.LEASE``) is renewed while it waits (``lanes.renewer``), as the creates' (``sync.creates``).
BATCH_PER_CONNECTION = 8


def _due_rows(store: Store, backend: str, now: datetime, limit: int, shard: tuple[int, int] | None = None,
              holds: Holds | None = None) -> list[tuple[int, str, int]]:
    query = (
        select(OutboxRow.id, OutboxRow.model, OutboxRow.local_id)
        .where(OutboxRow.operation == "update")
        .where(OutboxRow.backend == backend, OutboxRow.state == "pending", OutboxRow.next_attempt_at <= now)
        .order_by(OutboxRow.id)
        .limit(limit)
    )
    query = _of_shard_not_held(query, now, shard, holds)
    with store.transaction() as session:
        return [(r.id, r.model, r.local_id) for r in session.execute(query)]


def _of_shard_not_held(query: Any, now: datetime, shard: tuple[int, int] | None, holds: Holds | None) -> Any:
    """`query` of outbox rows narrowed to `shard` and to the rows no decision to come holds:
    what both the dispatch's due rows and ``due_count`` read."""
    if shard is not None and shard[1] > 1:
        # By record, not by row: every change of one record stays in one shard, in order.
        query = query.where(OutboxRow.local_id % shard[1] == shard[0])
    if (free := not_held(holds or {}, now)) is not None:
        query = query.where(free)  # a decision on the record is on its way: it goes with this row (sync/hold.py)
    return query


def due_count(store: Store, backend: str, now: datetime, shard: tuple[int, int] | None = None,
              holds: Holds | None = None) -> int:
    """How many outbox rows of `backend` (updates and creates) are due at `now`: what a
    dispatch pass that stops early leaves behind, and the total its progress counts to.
    Rows held for a decision still to come (`holds`, ``sync.hold``) are not due yet."""
    query = (
        select(func.count(OutboxRow.id))
        .where(OutboxRow.backend == backend, OutboxRow.state == "pending", OutboxRow.next_attempt_at <= now)
    )
    query = _of_shard_not_held(query, now, shard, holds)
    with store.transaction() as session:
        return int(session.scalar(query) or 0)


def _refresh(store: Store, importer: Importer | None, due: list[tuple[int, str, int]], backend: str,
             broken: dict[str, str], concurrency: int = 1) -> dict[str, RemoteRecord]:
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
        for model in {model for _, model, _ in due}:
            binder.preload_local(model, [local_id for _, m, local_id in due if m == model])
        for _, model, local_id in due:
            remote_id = binder.remote_id(model, local_id)
            if remote_id is not None and not remote_id.startswith("pending:") and model in importer.mappings:
                by_model.setdefault(model, []).append(remote_id)
    seen: dict[str, RemoteRecord] = {}
    for model, remote_ids in by_model.items():
        try:
            seen.update(importer.refresh(model, remote_ids, concurrency=concurrency))
        except ValueError:  # one key the adapter cannot put in a request: find it, read the others
            for remote_id in remote_ids:
                try:
                    seen.update(importer.refresh(model, [remote_id]))
                except ValueError as exc:
                    broken[remote_id] = f"{model} {remote_id!r} is no key {backend} can address: {exc}"
    return seen


_DECIDED = ("pending", "parked", "sent")  # the states whose fields a later decision replaces


def _of_records(session: Session, rows: list[OutboxRow], now: datetime, *,
                as_of: float) -> tuple[set[int], dict[int, set[str]]]:
    """What the other rows of `rows`' records (one backend) say, in one query per model for
    a whole claim batch: the ids of `rows` whose record has another row being sent
    (``claims.held_elsewhere_many``), and for each row the fields newer update rows of its
    record set (waiting, parked or already sent)."""
    by_record: dict[tuple[str, int], list[tuple[int, dict[str, Any] | None, bool]]] = {}
    for model in sorted({row.model for row in rows}):
        local_ids = sorted({row.local_id for row in rows if row.model == model})
        for other in session.execute(select(
                OutboxRow.id, OutboxRow.local_id, OutboxRow.fields, OutboxRow.operation, OutboxRow.state,
                OutboxRow.claimed_by, OutboxRow.claim_expires).where(
                OutboxRow.backend == rows[0].backend, OutboxRow.model == model, OutboxRow.local_id.in_(local_ids),
                OutboxRow.claimed_by.is_not(None) | (
                    (OutboxRow.operation == "update") & OutboxRow.state.in_(_DECIDED)))):
            decided = other.operation == "update" and other.state in _DECIDED
            live = claims.live_claim(other.claimed_by, other.claim_expires, now, as_of=as_of)
            by_record.setdefault((model, other.local_id), []).append(
                (other.id, other.fields if decided else None, live))
    held: set[int] = set()
    newer: dict[int, set[str]] = {}
    for row in rows:
        others = by_record.get((row.model, row.local_id), ())
        if any(live and other_id != row.id for other_id, _, live in others):
            held.add(row.id)  # an older decision on the record is in flight: this one follows it, never beside it
        newer[row.id] = {name for other_id, fields, _ in others if other_id > row.id and fields for name in fields}
    return held, newer


def _newest_only(session: Session, row: OutboxRow, newer: set[str]) -> bool:
    """Take out of `row` the fields a newer row of its record sets (`newer`, from
    ``_of_records``): a later decision always wins, whatever order the rows get through in
    (a retry after back-off, a parked row a person retries). False when nothing is left:
    the row is withdrawn, saying what replaced it."""
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


def _postpone(store: Store, row_ids: list[int], exc: RemoteError, now: datetime, stats: ExportStats, backend: str) -> None:
    """A fault met before these rows were tried (the re-read, or the row before them) holds
    them all: each backs off as if it had met it — parked only once out of attempts, never
    for a refusal that was not its own — and the fault is told once."""
    with store.transaction() as session:
        held = hold_untried(session, row_ids, exc, now, stats)
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
    holds: Holds | None = None,
) -> ExportStats:
    """Send up to `limit` due outbox rows of `backend`, `concurrency` records at once.

    Each row is claimed (an owner token and expiry, taken ``FOR UPDATE SKIP LOCKED``)
    in a short transaction, written with no transaction open, and recorded in a second
    one, so several workers dispatch one outbox without sending a row twice, and a slow
    remote never holds SQLite's write lock from the other jobs. Rows are claimed and
    recorded ``BATCH_PER_CONNECTION`` × `concurrency` at a time (the record of one batch
    and the claim of the next in one transaction); the claims still held are renewed while
    the batch's calls run (``lanes.renewer``), and a crash leaves the claims of the batch's rows
    not sent yet, taken over as any dead owner's (``sync/claim.py``) one ``claims.LEASE``
    after their last renewal.
    The rows go in lanes, one per record (``_lanes``): a lane sends its record's rows one
    after another, in order, and up to `concurrency` lanes send at once, so a 20 ms
    remote is waited on by several writes together while no record ever has two writes
    in flight. A fault that stops the pass — one only an administrator can fix, or the
    remote saying it is overloaded (``RemoteBusy``: 429, 503) — stops every lane: the
    rows not tried yet wait (``_postpone``, ``_wait_out``).
    ``shard=(i, n)`` sends only the rows of records whose ``local_id % n == i``: n
    dispatchers share the outbox without re-reading the same records. `bar` (see
    ``crm_bridge.progress``) advances by each row handled, so a backlog's bar moves
    row by row, not once a batch. `holds` (``sync.hold``): rows of records an addon's
    decision is still to come for wait for it (a new request for its SLA plan), so the
    record is written once, with the decision.
    """
    stats = ExportStats()
    started = time.monotonic()  # the claims' renewals stand at `now` moved on by the wall time since
    due = _due_rows(store, backend.name, now, limit, shard, holds)
    broken: dict[str, str] = {}  # remote id -> why no request can name it
    reread_at = time.time()  # a dead owner's claim is taken over only if its grace had passed by this re-read
    try:
        current = _refresh(store, importer, due, backend.name, broken, concurrency) if due else {}
    except RemoteError as exc:
        _postpone(store, [row_id for row_id, _, _ in due], exc, now, stats, backend.name)
        return stats
    create_pending(store, backend, mappings, now, stats, limit, concurrency=concurrency)
    if bar is not None:
        bar.advance(stats.created + stats.parked + stats.retried)
    written: dict[str, dict[str, Any]] = {}  # remote id -> what this batch wrote there: a later row need not repeat it
    unsure: set[str] = set()  # remote ids a write found changed by someone else: no version of theirs is ours alone
    stop = Stop()
    shared: list[Session] = []  # the transaction a record and the claim after it share (the lanes' `together`)

    @contextmanager
    def together() -> Iterator[None]:
        with store.transaction() as session:
            shared.append(session)
            try:
                yield
            finally:
                shared.clear()

    def claim(row_ids: list[int]) -> dict[int, _Update]:
        with nullcontext(shared[0]) if shared else store.transaction() as session:
            return _claim_updates(session, row_ids, mappings, current, written, now, stats, reread_at)

    renew = renewer(store, now, started)

    def call(job: _Update) -> _Sent:
        return _call_update(backend, mappings[job.model], job, broken, stop)

    def record(finished: list[_Sent], untried: list[_Update]) -> None:
        _record_updates(store, mappings, finished, untried, written, unsure, now, stats,
                        session=shared[0] if shared else None)
        if bar is not None and finished:
            bar.advance(len(finished))

    def failed(job: _Update, exc: Exception) -> _Sent:  # logged by the lanes with its traceback
        return _Sent(job, fault=RemoteUnavailable(
            f"{backend.name}: the write of {job.model} {job.remote_id} raised {type(exc).__name__}: {exc} "
            "(not a fault the CRM reported: see the log's traceback; retried, then parked)"))

    untried = run_lanes(lanes_of(due), claim=claim, call=call, record=record, stop=stop, concurrency=concurrency,
                        name=f"write-back-{backend.name}", failed=failed, together=together,
                        batch=BATCH_PER_CONNECTION * max(concurrency, 1), renew=renew)
    if stop.fault is not None and untried:
        if isinstance(stop.fault, RemoteBusy) and not stop.fault.administrative:
            _wait_out(store, untried, stop.fault, stop.row_id, now, stats, backend.name)
        else:
            _postpone(store, untried, stop.fault, now, stats, backend.name)
    return stats



def _wait_out(store: Store, row_ids: list[int], exc: RemoteError, met_by_row: int | None, now: datetime,
              stats: ExportStats, backend: str) -> None:
    """The remote said it is overloaded (429, 503): the rows not tried yet wait as long as
    it asked (else the first back-off step), spending no attempt — they met nothing."""
    until = now + backoff(0, exc.retry_after)
    met_by = "a write"
    with store.transaction() as session:
        if met_by_row is not None and (first := session.get(OutboxRow, met_by_row)) is not None:
            met_by = f"the write of {record_label(session, first.model, first.local_id)}"
        waited = hold_untried(session, row_ids, exc, now, stats, until=until)
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


def _claim_updates(session: Session, row_ids: list[int], mappings: Mapping[str, CompiledMapping],
                   current: Mapping[str, RemoteRecord], written: Mapping[str, dict[str, Any]], now: datetime,
                   stats: ExportStats, reread_at: float) -> dict[int, _Update]:
    """Claim update rows (lane heads, one of each record) and work out what to send, in
    `session`'s short transaction; a row that needs no remote call (withdrawn, parked, 1C
    holding its values) is settled here and left out."""
    jobs: dict[int, _Update] = {}
    rows = {row.id: row for row in session.scalars(
        select(OutboxRow).where(OutboxRow.id.in_(row_ids)).with_for_update(skip_locked=True))}
    if not rows:
        return jobs
    binder = Binder(session, next(iter(rows.values())).backend)
    for model in {row.model for row in rows.values()}:
        binder.preload_local(model, [row.local_id for row in rows.values() if row.model == model])
    _preload_references(binder, list(rows.values()), mappings)
    held, newer = _of_records(session, list(rows.values()), now, as_of=reread_at)
    for row_id in row_ids:
        row = rows.get(row_id)
        if row is None or row.state != "pending" or claims.is_live(row, now, as_of=reread_at):
            continue
        if row.id in held:
            continue  # an older decision on the record is in flight: this one follows it, never beside it
        job = _claim_update(session, binder, row, newer[row.id], mappings, current, written, now, stats)
        if job is not None:
            jobs[row_id] = job
    return jobs


def _preload_references(binder: Binder, rows: list[OutboxRow], mappings: Mapping[str, CompiledMapping]) -> None:
    """Load the bindings the rows' reference fields name (customer, agent...), one query a
    model, so working out what to send costs no query per reference."""
    wanted: dict[str, set[int]] = {}
    for row in rows:
        mapping = mappings.get(row.model)
        if mapping is None:
            continue
        for name, value in row.fields.items():
            spec = mapping.spec.fields.get(name)
            if spec is not None and spec.ref and isinstance(value, int) and not isinstance(value, bool):
                wanted.setdefault(spec.ref, set()).add(value)
    for model, local_ids in wanted.items():
        binder.preload_local(model, local_ids)


def _claim_update(session: Session, binder: Binder, row: OutboxRow, newer: set[str], mappings: Mapping[str, CompiledMapping],
                  current: Mapping[str, RemoteRecord], written: Mapping[str, dict[str, Any]], now: datetime,
                  stats: ExportStats) -> _Update | None:
    claims.release(row)  # a lapsed claim (its owner died): the re-read showed what its write did
    mapping = mappings.get(row.model)
    remote_id = binder.remote_id(row.model, row.local_id)
    if remote_id is not None and remote_id.startswith("pending:"):
        row.next_attempt_at = now + timedelta(seconds=5)  # its create goes first
        return None
    if mapping is None or remote_id is None:
        row.state, row.last_error = "parked", f"no mapping or binding for {row.model} {row.local_id}"
        stats.parked += 1
        return None
    if not _newest_only(session, row, newer):
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


@dataclass
class _Sent:
    """What a claimed update's remote call gave: the version written, or the fault met."""

    job: _Update
    version: str | None = None
    fault: Exception | None = None  # ValueError, TypeError, LookupError (the row's data) or RemoteError


def _call_update(backend: RemoteBackend, mapping: CompiledMapping, job: _Update, broken: Mapping[str, str],
                 stop: Stop) -> _Sent:
    """Write a claimed update, no transaction open (a lane's thread). A fault only an
    administrator can fix, or the remote saying it is overloaded, stops the pass.
    A row whose data no request can carry (`broken`: its key is no key of the remote; a
    value the adapter cannot encode) fails alone, set aside; the others go."""
    try:
        if job.remote_id in broken:
            raise ValueError(broken[job.remote_id])  # noqa: TRY301 - the row fails like a refused write
        return _Sent(job, backend.update(mapping.spec, job.remote_id, job.values, expected_version=job.expected))
    except (ValueError, TypeError, LookupError) as exc:  # this row's data
        return _Sent(job, fault=exc)
    except RemoteError as exc:
        if not isinstance(exc, RemoteStoredOtherwise) and (exc.administrative or isinstance(exc, RemoteBusy)):
            stop.met(exc, job.row_id)  # every other row would meet the same fault: they wait too
        return _Sent(job, fault=exc)


def _record_updates(store: Store, mappings: Mapping[str, CompiledMapping], finished: list[_Sent],
                    untried: list[_Update], written: dict[str, dict[str, Any]], unsure: set[str], now: datetime,
                    stats: ExportStats, *, session: Session | None = None) -> None:
    """Record the outcomes of finished writes, and release the claims of rows left untried,
    in one short transaction (`session`'s, when given) that first checks each claim is
    still ours (``recording_many``)."""
    for sent in finished:  # what 1C holds now, whether or not our claim survived
        job = sent.job
        if isinstance(sent.fault, RemoteStoredOtherwise):
            written.setdefault(job.remote_id, {}).update(
                {k: v for k, v in job.values.items() if k not in sent.fault.fields})
        elif sent.fault is None:
            written.setdefault(job.remote_id, {}).update(job.values)
            if sent.version is None or job.remote_id in unsure:  # the record holds more than our writes: read it again
                unsure.add(job.remote_id)
                sent.version = None
    with recording_many(store, [(s.job.row_id, s.job.token) for s in finished],
                        [(j.row_id, j.token) for j in untried], session=session) as (session, held):
        if not held:
            return
        binder = Binder(session, next(iter(held.values())).backend)
        with session.no_autoflush:  # the attempts counted go with the outcome: one UPDATE a row, not two
            for model in {s.job.model for s in finished}:
                binder.preload(model, [s.job.remote_id for s in finished if s.job.model == model])
        for sent in finished:
            row = held.get(sent.job.row_id)
            if row is not None:
                _settle(session, binder, row, mappings[sent.job.model], sent, now, stats)


def _settle(session: Session, binder: Binder, row: OutboxRow, mapping: CompiledMapping, sent: _Sent, now: datetime,
            stats: ExportStats) -> None:
    """What one write leaves on its row and binding: sent (the version it produced), set
    aside, parked with what the remote stored, or backed off."""
    job, fault = sent.job, sent.fault
    if isinstance(fault, (ValueError, TypeError, LookupError)):
        unsendable(session, row, job.remote_id, job.values, fault, now, stats)
        return
    if isinstance(fault, RemoteStoredOtherwise):
        fail(row, fault, now, stats)  # parked with what the remote stored: not sent
        if (binding := binder.get(job.model, job.remote_id)) is not None:
            stored_otherwise(binding, mapping, job.fields, fault, now)
        return
    if isinstance(fault, RemoteError):
        fail(row, fault, now, stats)
        return
    if (binding := binder.get(job.model, job.remote_id)) is not None:
        wrote(binding, sent.version)
        binding.exported_at = now
        binding.base = {**(binding.base or {}), **job.fields}  # both sides agree on these now
    row.state, row.sent_at, row.last_error = "sent", now, None
    stats.sent += 1
