"""Lanes (sync/lanes.py) renew the claims a batch still holds while its calls run: every
``RENEW_EVERY`` seconds `renew` gets the jobs not recorded yet, so each claim can be taken
for one ``claims.LEASE``; a renewal that fails is logged and the calls go on."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

import sync.lanes
from sync.lanes import Stop, run_lanes

CALL_SECONDS = 0.15


@dataclass
class _Job:
    row_id: int
    token: str


def _claim(ids: list[int]) -> dict[int, _Job]:
    return {i: _Job(i, f"token-{i}") for i in ids}


def _slow(job: _Job) -> int:
    time.sleep(CALL_SECONDS)
    return job.row_id


def test_a_batch_renews_the_claims_it_still_holds_while_its_calls_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """Six calls on two connections, three in turn: each renewal names every job not
    recorded yet (queued, running, or over but not recorded: the batch is recorded at its
    end); once the batch is recorded nothing is renewed."""
    monkeypatch.setattr(sync.lanes, "RENEW_EVERY", 0.03)
    renewed: list[list[int]] = []
    recorded: list[int] = []
    lock = threading.Lock()

    def renew(jobs: list[_Job]) -> None:
        with lock:
            renewed.append(sorted(job.row_id for job in jobs))

    def record(finished: list[int], untried: list[_Job]) -> None:
        assert not untried
        recorded.extend(finished)
        renewed.append([])  # the mark of a record: no renewal may follow with the batch's jobs

    left = run_lanes([[i] for i in range(1, 7)], claim=_claim, call=_slow, record=record, stop=Stop(),
                     concurrency=2, name="renew", batch=6, renew=renew)
    assert left == []
    assert sorted(recorded) == [1, 2, 3, 4, 5, 6]
    during = renewed[:renewed.index([])]
    assert len(during) >= 4, during  # about 0.6 s of calls (the first alone), a renewal each 0.03 s
    assert all(jobs == [1, 2, 3, 4, 5, 6] for jobs in during), during
    assert renewed[renewed.index([]) + 1:] == []


def test_a_renewal_that_fails_is_logged_and_the_calls_go_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sync.lanes, "RENEW_EVERY", 0.03)
    tries: list[int] = []

    def renew(jobs: list[_Job]) -> None:
        tries.append(len(jobs))
        raise ConnectionError("the database is restarting")

    recorded: list[int] = []
    left = run_lanes([[i] for i in range(1, 5)], claim=_claim, call=_slow,
                     record=lambda finished, untried: recorded.extend(finished), stop=Stop(),
                     concurrency=2, name="renew-fails", batch=4, renew=renew)
    assert left == []
    assert sorted(recorded) == [1, 2, 3, 4]
    assert tries
    assert any(getattr(r, "event", None) == "sync.lanes.renew_failed" for r in caplog.records)


def test_without_batches_the_lanes_renew_their_calls_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sync.lanes, "RENEW_EVERY", 0.03)
    renewed: list[list[int]] = []
    left = run_lanes([[1, 2], [3]], claim=_claim, call=_slow, record=lambda finished, untried: None,
                     stop=Stop(), concurrency=2, name="renew-lanes",
                     renew=lambda jobs: renewed.append(sorted(job.row_id for job in jobs)))
    assert left == []
    assert renewed
    assert all(jobs for jobs in renewed)  # only calls in flight, never an empty renewal
