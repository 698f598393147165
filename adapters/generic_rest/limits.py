"""Politeness: a token bucket per backend, and the wait an answer asks for.

Bitrix24 allows about 2 calls a second per portal, amoCRM 7; over it they answer 503
``QUERY_LIMIT_EXCEEDED`` or 429. The bucket keeps the bridge under the configured rate
(``rate_limit: {per_second, burst}``), shared by every thread of the backend; the answer's
``Retry-After`` (seconds or an HTTP date) or ``RateLimit-Reset`` / ``X-RateLimit-Reset``
(seconds, or an epoch instant) says how long to back off when the CRM still says no.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from crm_bridge.http import retry_after

__all__ = ["TokenBucket", "wait_asked"]


class TokenBucket:
    """``take()`` blocks until a call is allowed; thread-safe. `clock` and `sleep` are
    injectable for tests."""

    def __init__(self, per_second: float, burst: int | None = None, *,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.rate = per_second
        self.capacity = float(burst or max(1, round(per_second)))
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """Wait for a token; returns the seconds waited."""
        with self._lock:  # one waiter at a time: the order of callers is the order of calls
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            wait = (1 - self._tokens) / self.rate
            self._sleep(wait)
            self._last = self._clock()
            self._tokens = 0.0
            return wait

    def pause(self, seconds: float) -> None:
        """The CRM said "too many": no call for `seconds` (the bucket empties)."""
        with self._lock:
            self._tokens = min(self._tokens, 0.0) - seconds * self.rate
            self._last = self._clock()


def wait_asked(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the answer asks to wait: ``Retry-After`` (seconds or an HTTP date), else
    ``RateLimit-Reset`` / ``X-RateLimit-Reset`` (seconds); None when it says nothing.
    Capped at an hour: a header cannot stop the bridge for a day."""
    lower = {k.lower(): v for k, v in headers.items()}
    if "retry-after" in lower:
        return retry_after(lower["retry-after"], now=now)
    for name in ("ratelimit-reset", "x-ratelimit-reset"):
        try:
            seconds = float(lower[name])
        except (KeyError, ValueError):
            continue
        if seconds > 1e9:  # an epoch instant (GitHub's style), not a delay
            seconds -= (now or datetime.now(UTC)).timestamp()
        return retry_after(str(seconds), now=now)
    return None
