"""Claims on outbox rows: no transaction is open while the remote is waited on.

A row is sent in three steps: it is *claimed* in a short transaction (an owner token
and an expiry written on the row, the values to send worked out), the remote is called
with no transaction open, and the result is *recorded* in a second short transaction
that first checks the claim is still the caller's. Holding a transaction across the
call held SQLite's write lock (and PostgreSQL's row locks) for as long as 1C took to
answer: a PATCH slower than the busy timeout failed every other job with "database is
locked".

A claim is live until its expiry (``LEASE`` after it was taken, or after its owner last
renewed it: a batch's claims are renewed while their calls queue, ``renew``), or until its owner is
known to be gone: a process on this host whose pid no longer runs, or this very process
when the claim is not one it is sending (a pid reused after a crash). A dead owner's row
is claimed again once ``TAKEOVER_GRACE`` has passed on the wall clock since the claim was
taken: a write the dead owner sent may still be on its way through 1C, and taken over at
once it could land after the newer write sent in its place (a due date cleared by a stale
write, with nothing pending to put it back). The grace is timed on the wall clock (the
token carries the instant), not the application's clock, which tests freeze. The re-read
before the write then finds 1C holding the values when the lost write went through, so
nothing is written twice. One record has at most
one live claim: a newer decision is never sent beside an older one still in flight, so
the later decision is always the one 1C keeps.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from sync.tables import OutboxRow

__all__ = ["LEASE", "TAKEOVER_GRACE", "advanced", "done", "held_elsewhere", "held_elsewhere_many", "is_live",
           "live_claim", "owns", "release", "renew", "take"]

# Longer than any one remote write can take (connect, read timeouts, a slow 1C): a live
# owner never loses its claim mid-send. A crashed owner on another host is waited out.
LEASE = timedelta(minutes=10)
# Seconds on the wall clock after a claim was taken before a dead owner's claim is taken
# over: the time a write the owner sent just before it died may still take to land in 1C.
TAKEOVER_GRACE = 2.0
_HOST = socket.gethostname()
# This process's own mark in its tokens: a process restarted with the same pid (a
# container's pid 1 after a crash) has another, so its predecessor's claims get the grace.
_INCARNATION = uuid.uuid4().hex[:8]
_sending: set[str] = set()  # the tokens this process holds right now


def _token() -> str:
    """``host:pid:wall-clock ms:incarnation+random``: who holds the claim, and since when (wall clock)."""
    return f"{_HOST}:{os.getpid()}:{time.time_ns() // 1_000_000}:{_INCARNATION}{uuid.uuid4().hex[:8]}"


def _gone(owner: str, as_of: float | None = None) -> bool:
    """True when `owner` is known not to be sending any more (same host only): this
    process, not sending it; or a dead process — an earlier one with this pid among them
    — whose claim was older than ``TAKEOVER_GRACE`` at `as_of` (wall-clock seconds;
    default now). A token without its instant, written before the grace existed, is over it."""
    host, _, rest = owner.partition(":")
    parts = rest.split(":")
    if host != _HOST or not parts[0].isdigit():
        return False
    pid = int(parts[0])
    taken_ms = int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0
    past_grace = (time.time() if as_of is None else as_of) - taken_ms / 1000 >= TAKEOVER_GRACE
    if pid == os.getpid():
        if len(parts) > 2 and parts[2].startswith(_INCARNATION):
            return owner not in _sending  # nothing of ours is in flight that we do not know of
        return past_grace  # our pid, another process: it died, its last write may still be landing
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return past_grace
    except PermissionError:  # a process of another user runs under that pid
        return False
    return False


def is_live(row: OutboxRow, now: datetime, *, as_of: float | None = None) -> bool:
    """The row is being sent by someone right now. With `as_of` (wall-clock seconds: when
    the remote was re-read for the rows about to be claimed), a dead owner's claim counts
    as live until its grace had passed by then — so a takeover is judged against a re-read
    made after any write of the dead owner's could have landed."""
    return live_claim(row.claimed_by, row.claim_expires, now, as_of=as_of)


def live_claim(claimed_by: str | None, claim_expires: datetime | None, now: datetime, *,
               as_of: float | None = None) -> bool:
    """``is_live`` of a row read as columns (its ``claimed_by`` and ``claim_expires``)."""
    if claimed_by is None or claim_expires is None:
        return False
    expires = claim_expires if claim_expires.tzinfo else claim_expires.replace(tzinfo=now.tzinfo)
    return expires > now and not _gone(claimed_by, as_of)


def held_elsewhere(session: Session, row: OutboxRow, now: datetime) -> bool:
    """Another row of the same record is being sent: this one waits for it."""
    others = session.scalars(select(OutboxRow).where(
        OutboxRow.backend == row.backend, OutboxRow.model == row.model, OutboxRow.local_id == row.local_id,
        OutboxRow.id != row.id, OutboxRow.claimed_by.is_not(None)))
    return any(is_live(other, now) for other in others)


def held_elsewhere_many(session: Session, rows: Sequence[OutboxRow], now: datetime, *,
                        as_of: float | None = None) -> set[int]:
    """``held_elsewhere`` for many rows of one backend in one query: the ids of those whose
    record has another row being sent."""
    if not rows:
        return set()
    records = {(row.model, row.local_id) for row in rows}
    live: dict[tuple[str, int], set[int]] = {}
    for model in sorted({model for model, _ in records}):  # by (backend, model, local_id): the outbox's index
        local_ids = sorted(local_id for m, local_id in records if m == model)
        for other in session.scalars(select(OutboxRow).where(
                OutboxRow.backend == rows[0].backend, OutboxRow.model == model, OutboxRow.local_id.in_(local_ids),
                OutboxRow.claimed_by.is_not(None))):
            if is_live(other, now, as_of=as_of):
                live.setdefault((other.model, other.local_id), set()).add(other.id)
    return {row.id for row in rows if live.get((row.model, row.local_id), set()) - {row.id}}


def take(row: OutboxRow, now: datetime) -> str:
    """Write a fresh claim on `row`, for ``LEASE`` (its transaction commits it); returns its
    token, which counts as this process's own until ``done(token)``, once the result is
    recorded. A row whose call waits behind others claimed with it (``lanes.run_lanes``'
    `batch`) keeps the plain lease too: its owner renews it while it waits (``renew``), so
    an owner that dies on another host blocks the row one ``LEASE``, not one per call queued."""
    token = _token()
    row.claimed_by, row.claim_expires = token, now + LEASE
    _sending.add(token)
    return token


def renew(session: Session, held: Sequence[tuple[int, str]], now: datetime) -> int:
    """Push the expiry of the claims `held` (row id, token) to `now` + ``LEASE``, those still
    ours only: a row whose claim was lost (taken over) is left alone, and its record then
    finds it lost. Returns the rows renewed. `now`: the clock the claims were taken with,
    advanced by the wall time since (``advanced``), as the other dispatchers judge them by it."""
    if not held:
        return 0
    result = session.execute(
        update(OutboxRow)
        .where(OutboxRow.id.in_([row_id for row_id, _ in held]),
               OutboxRow.claimed_by.in_([token for _, token in held]))  # tokens are unique: each row's own
        .values(claim_expires=now + LEASE)
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def advanced(now: datetime, since: float) -> datetime:
    """`now` (the application's clock when a pass began; tests freeze it) moved on by the
    wall time since `since` (``time.monotonic()`` then): the instant a renewal stands at."""
    return now + timedelta(seconds=max(time.monotonic() - since, 0.0))


def done(token: str) -> None:
    """The send of `token` is over (recorded, or abandoned to a later claim)."""
    _sending.discard(token)


def owns(row: OutboxRow | None, token: str) -> bool:
    """The claim on `row` is still `token`'s: its result may be recorded."""
    return row is not None and row.claimed_by == token


def release(row: OutboxRow) -> None:
    row.claimed_by = row.claim_expires = None
