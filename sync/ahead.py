"""Read the next page while this one is stored.

A remote page takes the remote its time to build (1C assembles a thousand documents for a
second or more) and the bridge its time to store; done one after the other, each waits
for the other. ``read_ahead`` runs the page iterator in a thread a page or two ahead, so
the two overlap and memory stays bounded. What the iterator raises reaches the caller at
the page it concerns, with its own type: retry and parking decisions do not change.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar, cast

__all__ = ["read_ahead"]

T = TypeVar("T")
_END = object()
_POLL = 0.2  # seconds: how often a reader blocked on a full queue looks whether the caller left
_JOIN = 5.0  # seconds a caller that left waits for the page being read


def read_ahead(pages: Iterator[T], *, depth: int = 1) -> Iterator[T]:
    """`pages` in order, read by a thread ahead of the caller: `depth` pages wait in the
    queue, and the reader holds one more while it waits for room.

    When the caller stops early (an error while storing, a ``break``), the thread finishes
    the page it is reading (waited for up to ``_JOIN`` seconds), stops, and the iterator
    is closed before this generator ends.
    """
    ready: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    left = threading.Event()

    def hand(item: object, error: BaseException | None = None) -> bool:
        while not left.is_set():
            try:
                ready.put((item, error), timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def pump() -> None:
        try:
            for page in pages:
                if not hand(page):
                    return
        except BaseException as exc:  # handed over, raised in the caller's thread  # noqa: BLE001
            hand(_END, exc)
            return
        hand(_END)

    # The reader logs with the caller's context (backend, run) as if it were the caller.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(pump,), name="crm-bridge-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = ready.get()
            if error is not None:
                raise error
            if item is _END:
                return
            yield cast(T, item)
    finally:
        left.set()
        # The reader stops at its next page boundary. A read in flight (a slow 1C, its
        # retries) is not waited out on the way to an interrupt: after a few seconds the
        # daemon thread is left to end by itself, and its iterator to its own cleanup.
        thread.join(_JOIN)
        close = getattr(pages, "close", None)
        if close is not None and not thread.is_alive():
            close()
