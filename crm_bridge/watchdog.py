"""A watchdog over one HTTP exchange: at its deadline the exchange's sockets are shut down,
whatever phase it is in (connecting, the status line and headers, the body).

``requests`` with ``stream=True`` returns once the headers are in, and its read timeout
bounds each wait for the next bytes, not the whole: a server (or a proxy) that sends the
status line and headers a byte every half second, each byte inside the read timeout,
keeps the call waiting as long as it likes. ``Watchdog(seconds)`` around the exchange,
on a session prepared with ``watch_session``, cuts it at the deadline: a connection
registers itself with the watchdog of its thread when it starts a request, so pooled
keep-alive connections are watched as well as new ones. Every adapter's bounded
exchange uses it (``adapters.onec.deadline``, ``crm_bridge.http``).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from types import TracebackType
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["Watchdog", "watch_session"]


class _Current(threading.local):
    dog: Watchdog | None = None


_current = _Current()


class _Alarm:
    """One thread for every watchdog of the process: a heap of (deadline, watchdog), the
    earliest waited for. A thread per exchange would cost a thread start (hundreds of
    microseconds) on every request; an ended exchange's entry is only marked and dropped
    when it comes up, or when ended entries fill half the heap (``_compact``).

    The thread is woken only when a new deadline is the earliest: every exchange of a
    backend has the same ``timeout.total``, so a new one nearly always comes after those
    waited for, and waking the thread on every request cost up to a quarter of the
    client's CPU for a call to a local 1C (a thread switch and a GIL hand-over each)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Watchdog]] = []
        self._ready = threading.Condition()
        self._count = itertools.count()
        self._thread: threading.Thread | None = None
        self._kept = 0  # entries left after the last compaction

    def add(self, when: float, dog: Watchdog) -> None:
        with self._ready:
            entry = (when, next(self._count), dog)
            heapq.heappush(self._heap, entry)
            if len(self._heap) > 2 * self._kept + _SLACK:
                self._compact()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="crm-bridge-deadline", daemon=True)
                self._thread.start()
            if self._heap[0] is entry:  # earlier than the deadline the thread waits for
                self._ready.notify()

    def _compact(self) -> None:
        """Drop the entries of ended exchanges: with the thread asleep until the earliest
        deadline (minutes), a busy client would otherwise pile up one per request.
        Dropping entries only moves the earliest deadline later, so the thread, which
        wakes at the one it knew, misses none. Called with ``_ready`` held."""
        self._heap = [item for item in self._heap if not item[2].ended]
        heapq.heapify(self._heap)
        self._kept = len(self._heap)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._heap or self._heap[0][2].ended:
                    if self._heap:
                        heapq.heappop(self._heap)  # an exchange that ended in time
                        continue
                    self._ready.wait()
                when, _, dog = self._heap[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self._ready.wait(wait)
                    continue  # an earlier deadline may have come meanwhile
                heapq.heappop(self._heap)
            dog.fire()


#: ended entries tolerated beyond twice the live ones before a compaction
_SLACK = 256
_alarm = _Alarm()


class Watchdog:
    """Shuts down the sockets of this thread's exchange when `seconds` have passed.

    Used as a context manager around one exchange; ``fired`` says whether it cut it.
    Shutting a socket down from the alarm's thread is safe (the blocked ``recv`` in the
    exchange's thread returns empty, and urllib3 raises) where closing it is not. Once
    the exchange has ended, nothing is shut: its connection may be serving the next one.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.fired = self.ended = False
        self._lock = threading.Lock()
        self._connections: list[HTTPConnection] = []
        self._outer: Watchdog | None = None

    def __enter__(self) -> Watchdog:
        self._outer, _current.dog = _current.dog, self
        _alarm.add(time.monotonic() + self.seconds, self)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        _current.dog = self._outer
        with self._lock:
            self.ended = True
            self._connections.clear()

    def watch(self, connection: HTTPConnection) -> None:
        """`connection` carries this exchange; shut down at once if the time is up already."""
        with self._lock:
            self._connections.append(connection)
            if self.fired:
                _shut(connection)

    def fire(self) -> None:
        """The time is up: shut down the exchange's sockets (nothing, if it has ended)."""
        with self._lock:
            if self.ended:
                return
            self.fired = True
            for connection in self._connections:
                _shut(connection)


def _shut(connection: HTTPConnection) -> None:
    sock = getattr(connection, "sock", None)
    if sock is None:
        return
    with contextlib.suppress(OSError):  # closed already, or never connected
        sock.shutdown(socket.SHUT_RDWR)


def _watched(connection: HTTPConnection) -> None:
    dog = _current.dog
    if dog is not None:
        dog.watch(connection)


class _HTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        _watched(self)  # a new socket: the watchdog may have fired while it connected

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)  # a pooled connection reused: its socket exists already
        super().request(*args, **kwargs)


class _HTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        _watched(self)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _watched(self)
        super().request(*args, **kwargs)


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS: dict[str, type[HTTPConnectionPool]] = {"http": _HTTPPool, "https": _HTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter with connections a ``Watchdog`` can shut down."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if hasattr(manager, "pool_classes_by_scheme"):
            manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


def watch_session(session: requests.Session) -> requests.Session:
    """Mount watched connections on `session` for http and https (an adapter the caller
    mounted for a longer prefix, e.g. a test's, keeps its place); returns it."""
    for prefix in ("http://", "https://"):
        if type(session.adapters.get(prefix)) is HTTPAdapter:  # requests' default: replaced, nothing lost
            session.mount(prefix, _WatchedAdapter())
    return session
