"""Lanes: a pass's outbox rows sent `concurrency` records at once, the store touched in batches.

Each record's rows form a lane, sent one after another in order, so no record ever has two
writes in flight and a later decision is never overtaken by an earlier one. The remote is
waited on by a pool of `concurrency` threads; the store is touched only by the calling
thread, and in batches: the heads of many lanes are claimed in one short transaction, and
the outcomes of the writes that finished meanwhile are recorded in one more. A row is
claimed only when a lane is free to send it: every claim on the store is a write in
flight, so a crash leaves no claim on a row that was never sent. With a 20 ms
remote, eight writes in flight finish 400 a second: two transactions per row would bound
the pass long before that (``sync/README.md``, "Concurrent write-back").

A fault that stops the pass (``Stop``: the remote is overloaded, or only an administrator
can fix it) is seen by every lane before its next call: the rows claimed and not sent yet
are recorded as *untried* (their claim released, no attempt spent) and handed back with
the rows never claimed, for the caller to hold back. A pass's first call goes alone: the
others claimed with it (in the same batch, so their claim and look-ups stay one) call
once its answer is back, so a remote that answers 429/503 to the first write sees that
one, not a burst of `concurrency` — the rows held that round trip are then untried.

With `together` (a context manager: one store transaction), the outcomes recorded and
the claim of the lanes they free share one transaction: each round of finished writes
costs one transaction, not two (``sync/README.md``, "One transaction a round"). The
claims are still committed before their calls start; a claim that raises rolls back
with the record, and the record is then made again alone, so the outcomes of the writes
1C took are kept as before.

A call that raises something unexpected (a bug, an exception the adapter does not
translate) is logged with its traceback and becomes that job's outcome through
`failed(job, exc)`, recorded with the others finished with it: its row backs off or is
parked with the reason, and no claim stays held. Without `failed` the job is recorded
as untried (its claim released, no attempt spent).

Used by the updates (``sync/exporter.py``) and the creates (``sync/creates.py``)::

    untried = run_lanes(lanes, claim=claim_heads, call=write_one, record=record_done,
                        stop=stop, concurrency=8, name="write-back-demo-1c",
                        failed=lambda job, exc: Outcome(job, fault=exc), together=one_transaction)
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

from crm_bridge.errors import RemoteError
from crm_bridge.store import Store
from sync import claim as claims

__all__ = ["GATHER", "RENEW_EVERY", "Claimed", "Stop", "lanes_of", "renewer", "run_lanes"]

log = logging.getLogger(__name__)

GATHER = 0.02  # seconds finished calls wait for more to finish with them before they are recorded, at most
# Seconds between two renewals of the claims a pass still holds (``run_lanes``' `renew`):
# a third of ``claims.LEASE``, so a claim is renewed twice before it could lapse even when
# one renewal fails (the database briefly unavailable).
RENEW_EVERY = claims.LEASE.total_seconds() / 3


class Claimed(Protocol):
    """A row claimed for sending: its id and the claim's token."""

    @property
    def row_id(self) -> int: ...

    @property
    def token(self) -> str: ...


J = TypeVar("J", bound=Claimed)
R = TypeVar("R")


def renewer(store: Store, now: datetime, started: float) -> Callable[[Sequence[Claimed]], None]:
    """``run_lanes``' `renew` for claims taken at `now` by a pass that began at `started`
    (``time.monotonic()``): the claims still held, renewed in one short transaction of their
    own (``claims.renew``: those still ours only), at `now` moved on by the wall time since."""
    def renew(held: Sequence[Claimed]) -> None:
        with store.transaction() as session:
            claims.renew(session, [(job.row_id, job.token) for job in held], claims.advanced(now, started))
    return renew


@dataclass
class Stop:
    """The fault that stops a pass's lanes (the first one met; set from any lane's thread)."""

    fault: RemoteError | None = None
    row_id: int | None = None  # the row whose write met it
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def met(self, fault: RemoteError, row_id: int) -> None:
        with self._lock:
            if self.fault is None:
                self.fault, self.row_id = fault, row_id


def lanes_of(due: Iterable[tuple[int, str, int]]) -> list[list[int]]:
    """The due rows ``(row id, model, local id)`` by record, in the order each record first
    comes: one lane each."""
    lanes: dict[tuple[str, int], list[int]] = {}
    for row_id, model, local_id in due:
        lanes.setdefault((model, local_id), []).append(row_id)
    return list(lanes.values())


def _renewing(running: Mapping[Future[Any], J], renew: Callable[[list[J]], None] | None, name: str,
              return_when: str) -> set[Future[Any]]:
    """``wait(running, return_when=...)``, in slices of ``RENEW_EVERY`` seconds: at the end of
    each slice that leaves calls running or queued, `renew` is given every job still held
    (none is recorded yet), so a claim lasts as long as its owner is alive, however long the
    queue before its call. A renewal that raises is logged and the calls go on: a claim that
    lapses meanwhile is one the record step finds lost (it checks ownership)."""
    while True:
        done, pending = wait(running, timeout=None if renew is None else RENEW_EVERY, return_when=return_when)
        if done and (return_when == FIRST_COMPLETED or not pending):
            return done
        assert renew is not None  # without it the wait above has no timeout
        try:
            renew(list(running.values()))
        except Exception as exc:
            log.warning("%s: the claims of %d rows could not be renewed (%s): their calls go on",
                        name, len(running), exc, extra={"event": "sync.lanes.renew_failed"})


def _gathered(running: Mapping[Future[Any], J], want: int, renew: Callable[[list[J]], None] | None = None,
              name: str = "") -> set[Future[Any]]:
    """The calls finished once at least one is, and up to `want` within ``GATHER`` seconds
    of it: recorded together, they cost one transaction (and their lanes' next rows one
    claim), while the lanes freed wait at most that long."""
    done = _renewing(running, renew, name, FIRST_COMPLETED)
    deadline = time.monotonic() + GATHER
    while len(done) < min(want, len(running)) and (left := deadline - time.monotonic()) > 0:
        more, _ = wait(
            [f for f in running if f not in done], timeout=left, return_when=FIRST_COMPLETED
        )
        done |= more
    return done


def run_lanes(
    lanes: list[list[int]],
    *,
    claim: Callable[[list[int]], Mapping[int, J]],
    call: Callable[[J], R],
    record: Callable[[list[R], list[J]], None],
    stop: Stop,
    concurrency: int,
    name: str,
    failed: Callable[[J, Exception], R] | None = None,
    batch: int = 0,
    together: Callable[[], AbstractContextManager[object]] | None = None,
    renew: Callable[[list[J]], None] | None = None,
) -> list[int]:
    """Send `lanes` (row ids, each lane one record's rows in order); returns the rows left
    untried when `stop` was met (claimed and not sent, or never claimed).

    `claim(row_ids)` claims lane heads in one transaction and returns the jobs of those it
    claimed (a row it settled or skipped is left out: its lane goes on with the next row);
    `call(job)` makes the remote call with no transaction open (in a pool thread; it
    reports a stopping fault with ``stop.met``); `record(finished, untried)` records the
    outcomes of finished calls and releases the claims of untried jobs, in one transaction;
    `failed(job, exc)` turns an exception `call` raised into that job's outcome (without
    it, the job is untried); `together()`, when given, is the transaction a record and the
    claim after it share (`claim` and `record` then use it). The first call goes alone;
    the others follow once it is back.

    With `batch`, up to that many lane heads are claimed in one transaction (the calls
    beyond `concurrency` queue for a free connection) and recorded in one once all of them
    are over; then the next batch. Claims then wait in the queue before their call: with
    `renew(jobs)`, every ``RENEW_EVERY`` seconds that calls are still running or queued the
    jobs still held (not recorded yet) are given to it, for the caller to push their
    expiry on (one short transaction), so each claim is taken for one ``claims.LEASE``
    and lives as long as its owner does. An owner that dies leaves claims that lapse one
    ``LEASE`` after their last renewal, taken over as any dead owner's (``sync/claim.py``).
    A `renew` that raises is logged; the calls go on.
    """
    width = max(concurrency, 1)
    room = max(batch, width)
    waiting: deque[deque[int]] = deque(deque(lane) for lane in lanes if lane)
    running: dict[Future[R | None], J] = {}
    lane_of: dict[int, deque[int]] = {}
    untried: list[int] = []
    first = True
    probed = threading.Event()  # the pass's first call is back: the others may call

    def attempt(job: J, *, probe: bool) -> R | None:
        if not probe:
            probed.wait()
        try:
            if stop.fault is not None:
                return None
            return call(job)
        except Exception as exc:  # a bug or an untranslated fault: this job's, not the pass's
            log.exception(
                "%s: outbox %d: the call raised %s; the row is recorded with it",
                name,
                job.row_id,
                type(exc).__name__,
                extra={"event": "sync.lanes.raised", "row_id": job.row_id},
            )
            return None if failed is None else failed(job, exc)
        finally:
            if probe:
                probed.set()

    def claim_free() -> list[tuple[J, deque[int]]]:
        """Claim the heads of as many waiting lanes as there are free places: the jobs to
        start, each with the rest of its lane (a lane whose head needs no call goes on)."""
        taken = [waiting.popleft() for _ in range(min(room - len(running), len(waiting)))]
        jobs = claim([lane[0] for lane in taken])
        ready: list[tuple[J, deque[int]]] = []
        for lane in taken:
            job = jobs.get(lane.popleft())
            if job is not None:
                ready.append((job, lane))
            elif lane:
                waiting.append(lane)
        return ready

    def may_claim() -> bool:
        return stop.fault is None and bool(waiting) and (not running if batch else len(running) < width)

    def record_ended(finished: list[R], left: list[J], ended: list[J]) -> None:
        """Record the calls over and put their lanes back in line (or with the untried)."""
        try:
            record(finished, left)
        finally:
            for job in ended:
                claims.done(job.token)
        left_ids = {job.row_id for job in left}
        for job in ended:
            lane = lane_of.pop(job.row_id)
            if job.row_id in left_ids:
                untried.extend([job.row_id, *lane])
            elif lane and stop.fault is None:
                waiting.append(lane)
            else:
                untried.extend(lane)

    def record_and_claim(finished: list[R], left: list[J], ended: list[J]) -> list[tuple[J, deque[int]]]:
        """``record_ended`` and the claim of the lanes it frees, in `together`'s one transaction."""
        assert together is not None
        ready: list[tuple[J, deque[int]]] = []
        recorded = False
        try:
            with together():
                record_ended(finished, left, ended)
                recorded = True
                if may_claim():
                    ready = claim_free()
        except Exception:
            for job, _ in ready:  # claimed in the transaction that failed: never sent
                claims.done(job.token)
            if recorded:  # the claim failed, not the record: the outcomes are kept, as apart
                record(finished, left)
            raise
        return ready

    with ThreadPoolExecutor(width, thread_name_prefix=name) as pool:
        try:
            ready: list[tuple[J, deque[int]]] = []
            while True:
                for job, lane in ready:  # claimed and committed: their calls may start
                    running[pool.submit(attempt, job, probe=first)] = job
                    first = False
                    lane_of[job.row_id] = lane
                ready = []
                if may_claim():
                    ready = claim_free()
                    continue  # claim again at once when nothing was claimed but lanes wait
                if not running:
                    break
                if batch:
                    done = _renewing(running, renew, name, ALL_COMPLETED)
                else:
                    done = _gathered(running, max(width // 2, 1), renew, name)
                finished: list[R] = []
                ended: list[J] = []  # every job whose call is over, sent or not
                left: list[J] = []
                for future in done:
                    job = running.pop(future)
                    ended.append(job)
                    try:
                        outcome = future.result()
                    except Exception:  # `failed` itself raised (logged above): the job is untried
                        log.exception(
                            "%s: outbox %d: its outcome could not be made",
                            name,
                            job.row_id,
                            extra={"event": "sync.lanes.raised", "row_id": job.row_id},
                        )
                        outcome = None
                    if outcome is None:
                        left.append(job)
                    else:
                        finished.append(outcome)
                if together is None:
                    record_ended(finished, left, ended)
                else:
                    ready = record_and_claim(finished, left, ended)
        finally:
            probed.set()  # no call waits on a probe that will not come
            leftover = [*running.values(), *(job for job, _ in ready)]
            for future in list(running):
                future.cancel()
            pool.shutdown(wait=True)
            for job in leftover:
                claims.done(job.token)
    for lane in waiting:
        untried += lane
    return untried
