"""The watchdog behind ``timeout.total`` (``adapters.onec.deadline``): it shuts the
exchange's socket at the deadline, and never a socket of an exchange that ended in time
(its pooled connection may be serving the next one)."""

from __future__ import annotations

import socket
import time
from types import SimpleNamespace
from typing import Any

from adapters.onec.deadline import Watchdog


def watched(dog: Watchdog, sock: socket.socket) -> None:
    connection: Any = SimpleNamespace(sock=sock)
    dog.watch(connection)


def test_a_watchdog_shuts_a_blocked_read_at_its_deadline() -> None:
    ours, server = socket.socketpair()
    with ours, server, Watchdog(0.3) as dog:
        watched(dog, ours)
        started = time.monotonic()
        assert ours.recv(1) == b""  # the server said nothing: the read ends at the deadline, not never
        assert 0.25 < time.monotonic() - started < 2.0
        assert dog.fired


def test_an_exchange_that_ended_in_time_keeps_its_connection() -> None:
    ours, server = socket.socketpair()
    with ours, server:
        dogs = [Watchdog(0.1) for _ in range(50)]
        for dog in dogs:
            with dog:
                watched(dog, ours)
        time.sleep(0.4)
        assert not any(dog.fired for dog in dogs)
        server.sendall(b"x")
        assert ours.recv(1) == b"x"  # still open for the next exchange


def test_watchdogs_fire_in_deadline_order_whatever_order_they_start_in() -> None:
    late, soon = Watchdog(0.6), Watchdog(0.2)
    with late:
        with soon:
            time.sleep(0.4)
            assert soon.fired
            assert not late.fired
        time.sleep(0.4)
        assert late.fired


def test_a_short_deadline_after_many_long_ones_still_fires_on_time() -> None:
    """The alarm thread is woken only for a deadline earlier than the one it waits for:
    a short one after long ones (ended and still running) must be among those."""
    for _ in range(100):
        with Watchdog(300.0):
            pass
    ours, server = socket.socketpair()
    with ours, server, Watchdog(300.0) as slow, Watchdog(0.2) as dog:
        watched(dog, ours)
        started = time.monotonic()
        assert ours.recv(1) == b""
        assert time.monotonic() - started < 2.0
        assert dog.fired
        assert not slow.fired


def test_ended_exchanges_do_not_pile_up_while_the_alarm_sleeps() -> None:
    from crm_bridge.watchdog import _alarm

    for _ in range(5000):
        with Watchdog(300.0):
            pass
    assert len(_alarm._heap) < 1000  # compacted: not one entry per request for the next five minutes
