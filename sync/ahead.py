"""Read the next page while this one is stored.

A remote page takes the remote its time to build (1C assembles a thousand documents for a
second or more) and the bridge its time to store; done one after the other, each waits
for the other. ``read_ahead`` runs the page iterator in a thread a page or two ahead, so
the two overlap and memory stays bounded. What the iterator raises reaches the caller at
the page it concerns, with its own type: retry and parking decisions do not change.

``read_ahead_batches`` hands over, with each page, the pages already read behind it: a
store that falls behind a fast remote catches up in fewer, larger transactions (a commit
and the look-ups of a page cost the same for one page or four), while a slow remote's
pages are stored one by one as they come.

``fetch_sliced`` reads a list of keys in slices at once (the write-back's re-read).
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Generic, TypeVar, cast

if TYPE_CHECKING:
    from mapping.spec import MappingSpec
    from sync.source import RemoteRecord, VersionScanning

__all__ = ["REFRESH_SLICE", "fetch_sliced", "read_ahead", "read_ahead_batches"]

T = TypeVar("T")
_END = object()
_NOTHING = object()  # nothing read yet (a look that does not wait)
_POLL = 0.2  # seconds: how often a reader blocked on a full queue looks whether the caller left
_JOIN = 5.0  # seconds a caller that left waits for the page being read


class _Reader(Generic[T]):
    """`pages` read by a thread into a queue of `depth` pages; ``take`` hands them over in
    order. With `size` and `room`, at most `room` records wait in the queue (or one page
    larger than that), whatever the size of the remote's pages."""

    def __init__(self, pages: Iterator[T], depth: int, size: Callable[[T], int] | None = None,
                 room: int | None = None) -> None:
        self.pages, self.size, self.room = pages, size, room
        self.ready: queue.Queue[tuple[object, BaseException | None, int]] = queue.Queue(maxsize=depth)
        self.left = threading.Event()
        self.held: tuple[object, BaseException | None, int] | None = None  # looked at, not taken
        self.waiting = 0  # records in the queue
        self.freed = threading.Condition()
        # The reader logs with the caller's context (backend, run) as if it were the caller.
        self.thread = threading.Thread(target=contextvars.copy_context().run, args=(self._pump,),
                                       name="crm-bridge-read-ahead", daemon=True)
        self.thread.start()

    def _hand(self, item: object, error: BaseException | None = None) -> bool:
        n = self.size(cast(T, item)) if self.size is not None and item is not _END else 0
        if self.room is not None:
            with self.freed:
                while self.waiting and self.waiting + n > self.room and not self.left.is_set():
                    self.freed.wait(_POLL)
                self.waiting += n
        while not self.left.is_set():
            try:
                self.ready.put((item, error, n), timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def _pump(self) -> None:
        try:
            for page in self.pages:
                if not self._hand(page):
                    return
        except BaseException as exc:  # handed over, raised in the caller's thread  # noqa: BLE001
            self._hand(_END, exc)
            return
        self._hand(_END)

    def _taken(self, n: int) -> None:
        if self.room is not None and n:
            with self.freed:
                self.waiting -= n
                self.freed.notify()

    def put_back(self, item: object, n: int) -> None:
        """A page `look` returned goes first again, waiting as it did."""
        if self.room is not None:
            with self.freed:
                self.waiting += n
        self.held = (item, None, n)

    def take(self) -> tuple[object, int]:
        """The next page (waiting for it) and its size, or ``_END``; raises what the reader raised."""
        item, error, n = self.held if self.held is not None else self.ready.get()
        self.held = None
        self._taken(n)
        if error is not None:
            raise error
        return item, n

    def look(self) -> tuple[object, int]:
        """The next page and its size if it has been read already, else ``_NOTHING``; the end
        of the pages and a read error are left for ``take``. ``put_back`` returns a page."""
        if self.held is None:
            try:
                self.held = self.ready.get_nowait()
            except queue.Empty:
                return _NOTHING, 0
        item, error, n = self.held
        if error is not None or item is _END:
            return _NOTHING, 0
        self.held = None
        self._taken(n)
        return item, n

    def close(self) -> None:
        self.left.set()
        # The reader stops at its next page boundary. A read in flight (a slow 1C, its
        # retries) is not waited out on the way to an interrupt: after a few seconds the
        # daemon thread is left to end by itself, and its iterator to its own cleanup.
        self.thread.join(_JOIN)
        close = getattr(self.pages, "close", None)
        if close is not None and not self.thread.is_alive():
            close()


def read_ahead(pages: Iterator[T], *, depth: int = 1) -> Iterator[T]:
    """`pages` in order, read by a thread ahead of the caller: `depth` pages wait in the
    queue, and the reader holds one more while it waits for room.

    When the caller stops early (an error while storing, a ``break``), the thread finishes
    the page it is reading (waited for up to ``_JOIN`` seconds), stops, and the iterator
    is closed before this generator ends.
    """
    reader = _Reader(pages, depth)
    try:
        while (item := reader.take()[0]) is not _END:
            yield cast(T, item)
    finally:
        reader.close()


def read_ahead_batches(pages: Iterator[T], *, limit: int, size: Callable[[T], int], depth: int = 8) -> Iterator[list[T]]:
    """`pages` in order as ``read_ahead`` reads them, in lists: the next page (waited for)
    and those behind it read already, as long as their `size` together stays within
    `limit` (a page larger than `limit` comes alone). At most `limit` records wait read
    (or one larger page), and the reader holds one page more. A read error reaches the
    caller after the pages before it, in a list of their own.
    """
    reader = _Reader(pages, depth, size, limit)
    try:
        while (first := reader.take())[0] is not _END:
            batch, count = [cast(T, first[0])], first[1]
            while count < limit:
                more, n = reader.look()
                if more is _NOTHING:
                    break
                if count + n > limit:
                    reader.put_back(more, n)
                    break
                batch.append(cast(T, more))
                count += n
            yield batch
    finally:
        reader.close()


REFRESH_SLICE = 40  # keys a slice reads at least: fewer would cost more requests than they overlap


def fetch_sliced(backend: VersionScanning, spec: MappingSpec, remote_ids: list[str], concurrency: int) -> list[RemoteRecord]:
    """``backend.fetch(spec, remote_ids)`` in up to `concurrency` slices read at once, in order.

    The write-back's re-read of a batch: a 20 ms 1C answers some ten keys a request (its
    URL length bounds the ``or`` list), so 500 keys read one request after another cost
    a second; read in eight slices, an eighth of it. A fault raises as the whole read's."""
    step = max(-(-len(remote_ids) // max(concurrency, 1)), REFRESH_SLICE)
    slices = [remote_ids[i:i + step] for i in range(0, len(remote_ids), step)]
    if len(slices) <= 1:
        return backend.fetch(spec, remote_ids)
    with ThreadPoolExecutor(len(slices), thread_name_prefix="refresh") as pool:
        return [record for part in pool.map(lambda ids: backend.fetch(spec, ids), slices) for record in part]
