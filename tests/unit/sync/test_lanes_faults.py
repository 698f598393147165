"""Lanes (sync/lanes.py) when a call raises something unexpected: the job's outcome is
recorded with the exception, the others gathered with it are recorded, no claim is held."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from crm_bridge.errors import RemoteBusy
from sync import claim as claims
from sync.lanes import Stop, run_lanes

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


@dataclass
class _Job:
    row_id: int
    token: str


def _rows(*ids: int) -> dict[int, SimpleNamespace]:
    return {i: SimpleNamespace(id=i, claimed_by=None, claim_expires=None) for i in ids}


def _claimer(rows: dict[int, SimpleNamespace]):  # type: ignore[no-untyped-def]
    def claim(ids: list[int]) -> dict[int, _Job]:
        return {i: _Job(i, claims.take(rows[i], NOW)) for i in ids}  # type: ignore[arg-type]

    return claim


@pytest.mark.parametrize("with_failed", [True, False], ids=["failed-given", "no-failed"])
def test_a_call_raising_an_unexpected_exception_is_recorded_and_releases_every_claim(
    with_failed: bool,
) -> None:
    rows = _rows(1, 2, 3)
    recorded: list[object] = []
    untried_seen: list[int] = []

    def call(job: _Job) -> object:
        if job.row_id == 1:
            raise RuntimeError(
                "an exception the call does not translate (complete_create's ValueError)"
            )
        return job.row_id

    def record(finished: list[object], untried: list[_Job]) -> None:
        recorded.extend(finished)
        untried_seen.extend(j.row_id for j in untried)

    def failed(job: _Job, exc: Exception) -> object:
        return (job.row_id, type(exc).__name__)

    try:
        left = run_lanes(
            [[1, 3], [2]],
            claim=_claimer(rows),
            call=call,
            record=record,
            stop=Stop(),
            concurrency=2,
            name="faults",
            failed=failed if with_failed else None,
        )
        leaked = [i for i, row in rows.items() if row.claimed_by in claims._sending]
        assert leaked == [], f"claims of rows {leaked} still count as in flight in this process"
        assert 2 in recorded
        if with_failed:
            assert (1, "RuntimeError") in recorded
            assert 3 in recorded  # the lane goes on after its row's fault is recorded
            assert left == []
        else:
            assert untried_seen == [1]  # claim released, no attempt spent
            assert left == [1, 3]
    finally:
        for row in rows.values():
            if row.claimed_by:
                claims.done(row.claimed_by)


def _overloaded(called: list[int], stop: Stop):  # type: ignore[no-untyped-def]
    """A call that notes its row and meets a 503: the stop every call after it must respect."""
    lock = threading.Lock()

    def call(job: _Job) -> int:
        with lock:
            called.append(job.row_id)
        stop.met(RemoteBusy("1C: 503, retry after 60 s"), job.row_id)
        return job.row_id
    return call


def test_the_first_call_goes_alone_so_an_overloaded_remote_sees_one_write() -> None:
    rows = _rows(1, 2, 3, 4)
    called: list[int] = []
    stop = Stop()
    call = _overloaded(called, stop)

    left = run_lanes(
        [[1], [2], [3], [4]],
        claim=_claimer(rows),
        call=call,
        record=lambda f, u: None,
        stop=stop,
        concurrency=4,
        name="probe",
    )
    assert called == [1]
    assert sorted(left) == [2, 3, 4]
    assert all(row.claimed_by not in claims._sending for row in rows.values())


def test_after_a_good_first_answer_the_lanes_widen_to_the_concurrency() -> None:
    rows = _rows(*range(1, 9))
    in_flight, most = 0, 0
    lock = threading.Lock()
    gate = threading.Barrier(4, timeout=5)

    def call(job: _Job) -> int:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        if job.row_id in (2, 3, 4, 5):
            gate.wait()  # fails (BrokenBarrierError, recorded as untried) unless four are in flight at once
        with lock:
            in_flight -= 1
        return job.row_id

    done: list[int] = []
    left = run_lanes(
        [[i] for i in range(1, 9)],
        claim=_claimer(rows),
        call=call,
        record=lambda f, u: done.extend(f),
        stop=Stop(),
        concurrency=4,
        name="widen",
    )
    assert left == []
    assert sorted(done) == list(range(1, 9))
    assert most == 4


def test_a_batch_is_claimed_in_one_call_sent_at_most_concurrency_at_once_and_recorded_in_one() -> None:
    rows = _rows(*range(1, 21))
    in_flight, most = 0, 0
    lock = threading.Lock()
    claimed: list[list[int]] = []
    recorded: list[list[int]] = []
    claim_one = _claimer(rows)

    def claim(ids: list[int]) -> dict[int, _Job]:
        claimed.append(ids)
        return claim_one(ids)  # type: ignore[no-any-return]

    def call(job: _Job) -> int:
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        with lock:
            in_flight -= 1
        return job.row_id

    left = run_lanes(
        [[i] for i in range(1, 19)] + [[19, 20]],  # a lane of two: its second row goes in the next batch
        claim=claim,
        call=call,
        record=lambda f, u: recorded.append(sorted(f)),
        stop=Stop(),
        concurrency=2,
        name="batch",
        batch=8,
    )
    assert left == []
    assert [len(ids) for ids in claimed] == [8, 8, 3, 1]
    assert recorded == [sorted(ids) for ids in claimed]  # each batch's outcomes in one record, once all are back
    assert most <= 2
    assert all(row.claimed_by not in claims._sending for row in rows.values())


def test_a_stopping_fault_in_a_batch_leaves_the_calls_not_made_untried() -> None:
    rows = _rows(*range(1, 11))
    called: list[int] = []
    stop = Stop()
    untried: list[int] = []
    call = _overloaded(called, stop)
    left = run_lanes(
        [[i] for i in range(1, 11)],
        claim=_claimer(rows),
        call=call,
        record=lambda f, u: untried.extend(j.row_id for j in u),
        stop=stop,
        concurrency=4,
        name="batch-stop",
        batch=6,
    )
    assert called == [1]
    assert sorted(untried) == [2, 3, 4, 5, 6]  # claimed with the first, released unsent
    assert sorted(left) == list(range(2, 11))
    assert all(row.claimed_by not in claims._sending for row in rows.values())
