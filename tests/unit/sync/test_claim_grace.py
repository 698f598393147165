"""The takeover grace (``sync.claim``): a dead owner's claim waits ``TAKEOVER_GRACE`` on
the wall clock before it is taken over — an earlier process with this very pid (a
container's pid 1 restarted after a crash) included."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from sync import claim as claims

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
DEAD_PID = 2**22 + 12345  # above pid_max on common kernels: no such process


def _row(token: str) -> Any:  # an outbox row as is_live reads it
    return SimpleNamespace(claimed_by=token, claim_expires=NOW + claims.LEASE)


def _token(pid: int, taken_ms: int, mark: str) -> str:
    return f"{claims._HOST}:{pid}:{taken_ms}:{mark}"


def test_a_claim_of_an_earlier_process_with_our_pid_waits_out_the_grace_like_a_dead_pids() -> None:
    just_now = time.time_ns() // 1_000_000
    earlier_incarnation = _token(os.getpid(), just_now, "deadbeef0000")  # not this process's mark
    assert claims.is_live(_row(_token(DEAD_PID, just_now, "deadbeef0001")), NOW)
    assert claims.is_live(_row(earlier_incarnation), NOW)
    long_ago = just_now - int(claims.TAKEOVER_GRACE * 1000) - 1000
    assert not claims.is_live(_row(_token(os.getpid(), long_ago, "deadbeef0000")), NOW)
    assert not claims.is_live(_row(_token(DEAD_PID, long_ago, "deadbeef0001")), NOW)


def test_this_processs_own_claim_is_live_while_it_sends_and_free_at_once_when_it_does_not() -> None:
    row: Any = SimpleNamespace(claimed_by=None, claim_expires=None)
    token = claims.take(row, NOW)
    assert claims.is_live(row, NOW)
    claims.done(token)
    assert not claims.is_live(row, NOW)  # ours, not in flight: no grace to wait


def test_a_takeover_is_judged_as_of_the_re_read() -> None:
    just_now = time.time_ns() // 1_000_000
    row = _row(_token(DEAD_PID, just_now, "deadbeef0002"))
    later = time.time() + claims.TAKEOVER_GRACE + 1
    assert not claims.is_live(row, NOW, as_of=later)
    assert claims.is_live(row, NOW, as_of=just_now / 1000)  # re-read inside the grace
