"""read_ahead: the next page is read while the caller stores this one, in order, bounded."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from sync.ahead import read_ahead, read_ahead_batches

_RUN: contextvars.ContextVar[str] = contextvars.ContextVar("run", default="none")


class Source:
    """Pages 0..count-1 as an iterator with its own ``close``: records how far the reader
    got, in which thread and context, and whether it was closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count, self.fail_at = count, fail_at
        self.produced, self.closed, self.threads, self.runs = 0, False, set[str](), list[str]()

    def __iter__(self) -> Source:
        return self

    def __next__(self) -> list[int]:
        n = self.produced
        if self.closed or n == self.count:
            raise StopIteration
        if n == self.fail_at:
            raise ConnectionResetError(f"page {n}: connection reset")
        self.threads.add(threading.current_thread().name)
        self.runs.append(_RUN.get())
        self.produced = n + 1
        return [n]

    def close(self) -> None:
        self.closed = True


def readers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "crm-bridge-read-ahead"}


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 2
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_pages_arrive_in_order_read_by_another_thread_with_the_callers_context() -> None:
    source = Source(50)
    _RUN.set("run-7")
    assert [page[0] for page in read_ahead(source)] == list(range(50))
    assert source.threads == {"crm-bridge-read-ahead"}
    assert set(source.runs) == {"run-7"}
    assert source.closed  # read_ahead closed the iterator it was given


def test_the_reader_stays_at_most_depth_pages_ahead() -> None:
    source = Source(20)
    pages = read_ahead(source, depth=2)
    for expected in range(5):
        assert next(pages) == [expected]
        furthest = expected + 1 + 2 + 1  # delivered + 2 queued + 1 in the reader's hand, waiting for room
        wait_for(lambda: source.produced == furthest)  # noqa: B023 - called before the loop moves on
        time.sleep(0.02)  # and a moment more, to see it go no further
        assert source.produced == furthest
    pages.close()


def test_a_read_error_reaches_the_caller_after_the_pages_before_it_with_its_own_type() -> None:
    source = Source(10, fail_at=3)
    got: list[int] = []

    def store_all() -> None:
        for page in read_ahead(source):
            got.extend(page)

    with pytest.raises(ConnectionResetError, match="page 3"):
        store_all()
    assert got == [0, 1, 2]
    assert source.closed


def test_a_caller_that_stops_early_stops_and_closes_the_reader() -> None:
    source = Source(1000)
    before = readers()

    def store_until_it_fails() -> None:
        for page in read_ahead(source):
            if page == [2]:
                raise RuntimeError("store failed")

    with pytest.raises(RuntimeError, match="store failed"):
        store_until_it_fails()
    assert source.closed
    assert source.produced <= 5  # it did not read on to the end
    assert readers() == before  # its reader thread has ended


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


def test_batches_hold_the_pages_read_already_within_the_limit_in_order() -> None:
    source = Source(12)
    batches = read_ahead_batches(source, limit=3, size=len)
    first = next(batches)  # page 0, and whatever was read behind it by now
    wait_for(lambda: source.produced - len(first) == 4)  # 3 records wait, the reader holds one page more
    rest = list(batches)
    assert [p[0] for batch in [first, *rest] for p in batch] == list(range(12))  # every page once, in order
    assert all(1 <= len(batch) <= 3 for batch in [first, *rest])  # never over the limit
    assert len(rest[0]) == 3  # the pages waiting were stored together
    assert source.closed


def test_a_slow_remote_s_pages_come_one_by_one_as_they_arrive() -> None:
    arrived = threading.Event()

    def slow() -> Iterator[list[int]]:
        for n in range(3):
            yield [n]
            arrived.wait(1)  # the next page only once the caller has this one
            arrived.clear()

    got = []
    for batch in read_ahead_batches(slow(), limit=10, size=len):
        got.append(batch)
        arrived.set()
    assert got == [[[0]], [[1]], [[2]]]


class Pages:
    """The given pages as an iterator that counts how many it has handed out."""

    def __init__(self, pages: list[list[int]]) -> None:
        self.pages, self.produced = pages, 0

    def __iter__(self) -> Pages:
        return self

    def __next__(self) -> list[int]:
        if self.produced == len(self.pages):
            raise StopIteration
        self.produced += 1
        return self.pages[self.produced - 1]


def test_a_page_that_would_pass_the_limit_waits_for_the_next_batch_and_a_larger_one_comes_alone() -> None:
    source = Pages([[0, 0, 0, 0], [1, 2], [3, 4], [5], [6, 7, 8, 9, 10, 11]])
    batches = read_ahead_batches(source, limit=4, size=len)
    assert next(batches) == [[0, 0, 0, 0]]  # the limit reached: nothing looked at behind it
    wait_for(lambda: source.produced == 4)  # [1, 2] and [3, 4] wait (4 records), [5] in the reader's hand
    time.sleep(0.02)
    assert source.produced == 4  # no more than the limit waits
    assert next(batches) == [[1, 2], [3, 4]]
    assert list(batches) == [[[5]], [[6, 7, 8, 9, 10, 11]]]  # 5 + 6 records would pass the limit


def test_pages_larger_than_the_limit_wait_one_at_a_time() -> None:
    source = Pages([[n] * 10 for n in range(6)])
    batches = read_ahead_batches(source, limit=4, size=len)
    for delivered in range(1, 4):
        assert next(batches) == [[delivered - 1] * 10]
        wait_for(lambda: source.produced == delivered + 2)  # noqa: B023 - called before the loop moves on
        time.sleep(0.02)
        assert source.produced == delivered + 2  # one page waits, the reader holds one: 20 records, not 60
    batches.close()


def test_a_read_error_in_batches_comes_after_the_pages_read_before_it() -> None:
    source = Source(10, fail_at=3)
    got: list[list[list[int]]] = []

    def store_all() -> None:
        for batch in read_ahead_batches(source, limit=100, size=len):
            if not got:
                wait_for(lambda: source.produced == 3)  # the reader reaches the failing page
                time.sleep(0.05)
            got.append(batch)

    with pytest.raises(ConnectionResetError, match="page 3"):
        store_all()
    assert [p[0] for batch in got for p in batch] == [0, 1, 2]
    assert source.closed


def test_a_caller_that_stops_a_batch_early_stops_and_closes_the_reader() -> None:
    source = Source(1000)
    before = readers()
    for batch in read_ahead_batches(source, limit=2, size=len):
        if batch[0] == [4] or batch[-1] == [4]:
            break
    assert source.closed
    assert source.produced <= 12
    assert readers() == before
