"""How long to wait before trying a remote call again: exponential back-off with full
jitter, never shorter than what the remote asked for (Retry-After). One formula for the
queue's jobs, the sync outbox, notify's mail and the REST client's calls."""

from __future__ import annotations

import random

__all__ = ["backoff"]


def backoff(attempt: int, retry_after: float | None = None, *, base: float = 2.0, cap: float = 600.0) -> float:
    """Seconds before attempt ``attempt + 1``: exponential with full jitter, at least Retry-After."""
    delay = random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311 - jitter, not crypto
    return max(delay, retry_after or 0.0)
