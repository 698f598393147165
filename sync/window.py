"""Import windows for sources that can list records changed in a time range (REST CRMs
with an ``updated_at`` filter).

The lower bound is closed and starts ``overlap`` before the last cursor, and the upper
bound stays ``lag`` behind now: a record committed late with an earlier timestamp (clock
skew, long transactions on the remote) still falls into a later window, and a record
stamped exactly at the boundary is read, never skipped by a strict ``>``. Records read
twice because of the overlap are recognised by their version or content hash and cost
nothing. Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Window", "next_window"]


@dataclass(frozen=True, slots=True)
class Window:
    since: datetime  # inclusive
    until: datetime  # exclusive; the next cursor


def next_window(cursor: datetime | None, now: datetime, *, overlap: timedelta, lag: timedelta, start: datetime) -> Window:
    """The window to read after `cursor` (``None``: from `start`).

    Raises:
        ValueError: a naive instant (windows are compared across time zones).
    """
    for name, value in (("now", now), ("start", start), ("cursor", cursor)):
        if value is not None and value.utcoffset() is None:
            msg = f"{name} is a naive datetime; windows need time zones"
            raise ValueError(msg)
    since = start if cursor is None else max(start, cursor - overlap)
    until = max(since, now - lag)
    return Window(since, until)
