"""What a write-back attempt leaves on its outbox row: sent (the version it produced on the
binding), backed off, or parked with the reason; and the second short transaction that
records it only while the claim is still the sender's (``sync/claim.py``). Shared by the
updates (``sync/exporter.py``) and the creates (``sync/creates.py``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from crm_bridge.errors import RemoteError, RemoteStoredOtherwise
from crm_bridge.retry import backoff as retry_backoff
from crm_bridge.store.engine import Store
from crm_bridge.store.numbers import record_label
from mapping.compile import CompiledMapping
from sync import claim as claims
from sync.quarantine import hold
from sync.tables import BindingRow, OutboxRow

__all__ = ["ADMIN_WAIT", "MAX_ATTEMPTS", "ExportStats", "backoff", "fail", "hold_untried", "recording", "recording_many",
           "stored_otherwise", "unsendable", "wrote"]

log = logging.getLogger("sync.exporter")  # the outbox's lines keep the logger operators filter on
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


@contextmanager
def recording(store: Store, row_id: int, token: str) -> Iterator[tuple[Session, OutboxRow] | None]:
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


@contextmanager
def recording_many(store: Store, finished: Sequence[tuple[int, str]], untried: Sequence[tuple[int, str]] = (), *,
                   session: Session | None = None) -> Iterator[tuple[Session, dict[int, OutboxRow]]]:
    """``recording`` for many sends in one transaction: yields the session and the rows of
    `finished` ``(row id, token)`` whose claim is still the sender's (each counted an
    attempt), and releases the claims of `untried` (claimed, never sent: no attempt
    spent). Every claim of ours is released when the block ends. With `session`, the
    transaction is that one (it commits with what else it holds: ``sync.lanes``' `together`)."""
    tokens = dict(finished)
    left = dict(untried)
    with nullcontext(session) if session is not None else store.transaction() as session:
        wanted = [*tokens, *left]
        rows = list(session.scalars(select(OutboxRow).where(OutboxRow.id.in_(wanted)).with_for_update())) if wanted else []
        held: dict[int, OutboxRow] = {}
        for row in rows:
            if row.id in left:
                if claims.owns(row, left[row.id]):
                    claims.release(row)
            elif claims.owns(row, tokens[row.id]):
                row.attempts += 1  # counted with the answer: a send cut short by a crash costs none
                held[row.id] = row
        for row_id in tokens.keys() - held.keys():
            log.warning("outbox %d: its claim lapsed while the remote answered; the row is left to its new owner",
                        row_id, extra={"event": "sync.export.claim_lost"})
        yield session, held
        for row in held.values():
            claims.release(row)



def wrote(binding: BindingRow, version: str | None) -> None:
    """Record a write of ours on its binding: the version it produced (the next import
    recognises its echo) and no content hash (it fingerprinted 1C before the write, so a
    1C user restoring those values would pass for unchanged)."""
    binding.remote_version = binding.written_version = version
    binding.content_hash = None


def stored_otherwise(binding: BindingRow, mapping: CompiledMapping, fields: Mapping[str, Any],
                      exc: RemoteStoredOtherwise, now: datetime) -> None:
    """A write the remote took but stored otherwise than sent (its row is parked): the
    version it produced is recorded as ours, so the next import does not take it for a
    user's edit and send the same values into the same field again, pass after pass; the
    fields stored as sent join the merge base, those stored otherwise do not."""
    wrote(binding, exc.version)
    binding.exported_at = now
    otherwise = {name for name, f in mapping.spec.fields.items() if f.source in exc.fields}
    otherwise |= {name for name, c in mapping.spec.children.items() if c.source in exc.fields}
    binding.base = {**(binding.base or {}), **{k: v for k, v in fields.items() if k not in otherwise}}


def fail(row: OutboxRow, exc: RemoteError, now: datetime, stats: ExportStats, *, quiet: bool = False,
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


def hold_untried(session: Session, row_ids: Sequence[int], exc: RemoteError, now: datetime, stats: ExportStats, *,
                 until: datetime | None = None) -> int:
    """The pending rows of `row_ids` that a fault stopped before they were tried (the re-read
    before the batch, or a write before them that every other would meet too); returns how
    many it held. With `until` (the remote said it is overloaded: 429, 503) each waits until
    then, spending no attempt — it met nothing; without, each backs off as if it had met
    `exc` (``fail``, `held`: parked only once out of attempts, never for a refusal that was
    not its own). A row a live claim holds is left alone: its sender's answer decides. The
    caller tells the fault, once, in its own log line."""
    held = 0
    for row in session.scalars(select(OutboxRow).where(OutboxRow.id.in_(row_ids), OutboxRow.state == "pending")):
        if claims.is_live(row, now):
            continue
        if until is not None:
            row.next_attempt_at, row.last_error = until, f"waits: {exc}"
            stats.retried += 1
        else:
            row.attempts += 1  # given back by `fail` for an administrator's fault
            fail(row, exc, now, stats, quiet=True, held=True)
        held += 1
    return held


def unsendable(session: Session, row: OutboxRow, remote_id: str, values: Mapping[str, Any], exc: Exception,
                now: datetime, stats: ExportStats) -> None:
    """A row no request can carry (its key is no GUID, a value the adapter cannot encode):
    parked with the reason and set aside in the quarantine (stage ``write``); no retry helps."""
    reason = str(exc) if isinstance(exc, ValueError) and str(exc).startswith(row.model) else (
        f"{row.model} {remote_id!r}: {type(exc).__name__}: {exc}")
    row.state, row.last_error = "parked", f"cannot be sent: {reason}"
    stats.parked += 1
    stats.errors.append(row.last_error)
    hold(session, row.backend, row.model, remote_id, "write", reason, dict(values), now)


