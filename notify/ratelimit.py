"""Rate limits per recipient and per channel: token buckets, the excess folded, never dropped.

Before a recipient's mails of a pass go out, ``Limiter.admit`` asks both buckets (the
recipient's, the channel's) how many mails may go:

* enough tokens: every mail goes as ``notify.digest.fold`` grouped them;
* fewer: the rows are folded into as few digests as possible and those go, a token each;
* none, or digests still left over: the remaining rows wait until the next token and are
  marked to go then as one digest (``data.fold = "rate"``; ``notify log``: "rate limit: ...").

The buckets are stored (``notify_rate_buckets``), so a limit holds across passes and
processes; the bucket math (``refill``, ``take``, ``next_token``) is pure. Example::

    limit = RateLimit(rate=10, per=timedelta(hours=1), burst=3)
    bucket = refill(None, limit, now)          # full: 3 tokens
    ok, bucket = take(bucket, limit, now, 3)   # True; the next token in 6 minutes
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm_bridge.app import App
from notify.digest import fold
from notify.outgoing import Outgoing
from notify.settings import RateLimit, RateLimits
from notify.tables import NotificationRow, RateBucketRow

__all__ = ["Bucket", "Limiter", "next_token", "refill", "take"]


@dataclass(frozen=True)
class Bucket:
    tokens: float
    at: datetime


def refill(bucket: Bucket | None, limit: RateLimit, now: datetime) -> Bucket:
    """The bucket at `now`: full when new, else topped up at `rate` per `per` up to the burst."""
    if bucket is None:
        return Bucket(float(limit.capacity), now)
    gained = max((now - bucket.at) / limit.per, 0.0) * limit.rate
    return Bucket(min(float(limit.capacity), bucket.tokens + gained), max(now, bucket.at))


def take(bucket: Bucket | None, limit: RateLimit, now: datetime, count: int = 1) -> tuple[bool, Bucket]:
    """Take `count` tokens at `now` if there are that many; the bucket after."""
    full = refill(bucket, limit, now)
    if full.tokens + 1e-9 < count:
        return False, full
    return True, Bucket(full.tokens - count, now)


def next_token(bucket: Bucket | None, limit: RateLimit, now: datetime) -> datetime:
    """When the bucket holds a whole token again (`now` if it does)."""
    full = refill(bucket, limit, now)
    if full.tokens + 1e-9 >= 1:
        return now
    return now + limit.per * ((1 - full.tokens) / limit.rate)


class Limiter:
    """One dispatch pass's view of the buckets: loaded as asked, stored by ``save``."""

    def __init__(self, app: App, limits: RateLimits, now: datetime, zone: str) -> None:
        self.app, self.limits, self.now, self.zone = app, limits, now, ZoneInfo(zone)
        self._buckets: dict[str, Bucket | None] = {}

    @property
    def active(self) -> bool:
        return self.limits.recipient is not None or bool(self.limits.channel)

    def admit(self, recipient: str, channel: str, groups: list[list[Outgoing]], *,
              refold: Callable[[list[Outgoing]], list[list[Outgoing]]] | None = None,
              ) -> tuple[list[list[Outgoing]], list[Outgoing]]:
        """(the mails that may go now, the rows that wait) for one recipient's grouped rows.
        `refold` groups rows as tightly as the channel allows (default: digests of
        ``notify.digest.fold``'s size)."""
        per_channel: dict[str, RateLimit] = {str(k): v for k, v in self.limits.channel.items()}
        candidates = [(f"recipient:{channel}:{recipient}", self.limits.recipient, "this recipient"),
                      (f"channel:{channel}", per_channel.get(channel), f"the {channel} channel")]
        checks = [(k, lim, who) for k, lim, who in candidates if lim is not None]
        if not checks or not groups:
            return groups, []
        allowed = min(math.floor(refill(self._bucket(k), lim, self.now).tokens + 1e-9) for k, lim, _ in checks)
        if allowed < len(groups):
            groups = (refold or (lambda claims: fold(claims, 2)))([c for g in groups for c in g])
        now_, later = groups[:allowed], [c for g in groups[allowed:] for c in g]
        for key, limit, _ in checks:
            ok, self._buckets[key] = take(self._bucket(key), limit, self.now, len(now_))
            assert ok, "admitted more mails than the bucket held"
        if later:
            key, limit, who = max(checks, key=lambda c: next_token(self._bucket(c[0]), c[1], self.now))
            until = next_token(self._bucket(key), limit, self.now)
            self._postpone(later, until, f"rate limit of {who}: folded into the next digest at "
                                         f"{until.astimezone(self.zone):%H:%M %Z}")
        return now_, later

    def _bucket(self, key: str) -> Bucket | None:
        if key not in self._buckets:
            with self.app.store.transaction() as session:
                row = session.get(RateBucketRow, key)
                self._buckets[key] = Bucket(row.tokens, row.at) if row is not None else None
        return self._buckets[key]

    def _postpone(self, claims: Sequence[Outgoing], until: datetime, reason: str) -> None:
        """The claimed rows wait (their attempt not spent) and then go as one digest."""
        with self.app.store.transaction() as session:
            for row in session.scalars(select(NotificationRow).where(NotificationRow.id.in_([c.row_id for c in claims]))):
                row.next_attempt_at, row.reason = until, reason
                row.attempts = max(row.attempts - 1, 0)
                row.data = {**row.data, "fold": row.data.get("fold") or "rate"}

    def save(self) -> None:
        """Store the buckets this pass changed."""
        if not self._buckets:
            return
        with self.app.store.transaction() as session:
            for key, bucket in self._buckets.items():
                if bucket is not None:
                    _store(session, key, bucket)


def _store(session: Session, key: str, bucket: Bucket) -> None:
    changed: Any = session.execute(update(RateBucketRow).where(RateBucketRow.key == key)
                                   .values(tokens=bucket.tokens, at=bucket.at))
    if changed.rowcount == 0:
        session.add(RateBucketRow(key=key, tokens=bucket.tokens, at=bucket.at))
