"""read_ahead: the next page is read while the caller stores this one, in order, bounded."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator

import pytest

from sync.ahead import read_ahead

_RUN: contextvars.ContextVar[str] = contextvars.ContextVar("run", default="none")


class Source:
    """Pages 0..count-1; records how far the reader got and whether it was closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.produced, self.closed, self.threads, self.runs = 0, False, set[str](), list[str]()

    def pages(self) -> Iterator[list[int]]:
        try:
            for n in range(self.count):
                if n == self.fail_at:
                    raise ConnectionResetError(f"page {n}: connection reset")
                self.threads.add(threading.current_thread().name)
                self.runs.append(_RUN.get())
                self.produced = n + 1
                yield [n]
        finally:
            self.closed = True


def test_pages_arrive_in_order_read_by_another_thread_with_the_callers_context() -> None:
    source = Source(50)
    _RUN.set("run-7")
    assert [page[0] for page in read_ahead(source.pages())] == list(range(50))
    assert source.threads == {"crm-bridge-read-ahead"}
    assert set(source.runs) == {"run-7"}
    assert source.closed


def test_the_reader_stays_at_most_depth_pages_ahead() -> None:
    source = Source(20)
    pages = read_ahead(source.pages(), depth=2)
    for expected in range(5):
        assert next(pages) == [expected]
        time.sleep(0.05)  # time enough for the reader to run as far ahead as it may
        # delivered + 2 queued + 1 in the reader's hand, waiting for room
        assert expected + 1 < source.produced <= expected + 1 + 2 + 1
    pages.close()


def test_a_read_error_reaches_the_caller_after_the_pages_before_it_with_its_own_type() -> None:
    source = Source(10, fail_at=3)
    got: list[int] = []

    def store_all() -> None:
        for page in read_ahead(source.pages()):
            got.extend(page)

    with pytest.raises(ConnectionResetError, match="page 3"):
        store_all()
    assert got == [0, 1, 2]
    assert source.closed


def test_a_caller_that_stops_early_stops_and_closes_the_reader() -> None:
    source = Source(1000)
    before = threading.active_count()

    def store_until_it_fails() -> None:
        for page in read_ahead(source.pages()):
            if page == [2]:
                raise RuntimeError("store failed")

    with pytest.raises(RuntimeError, match="store failed"):
        store_until_it_fails()
    assert source.closed
    assert source.produced <= 5  # it did not read on to the end
    assert threading.active_count() == before


def test_a_caller_that_leaves_during_a_slow_read_does_not_wait_it_out(monkeypatch: pytest.MonkeyPatch) -> None:
    import sync.ahead

    monkeypatch.setattr(sync.ahead, "_JOIN", 0.1)
    release = threading.Event()

    def slow() -> Iterator[int]:
        yield 1
        release.wait(10)  # a read that hangs (1C busy) until released
        yield 2

    pages = read_ahead(slow())
    assert next(pages) == 1
    started = time.monotonic()
    pages.close()  # the caller leaves (an interrupt) while page 2 is being read
    assert time.monotonic() - started < 2
    release.set()
