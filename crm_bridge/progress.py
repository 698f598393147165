"""Progress of long work (an initial import, a write-back backlog, ``sla recalc``), told
without the engines knowing who listens.

An engine opens a task with what it counts and, when known, the total, and advances it::

    with progress.task("write-back crm", total=10_565, unit="rows") as bar:
        for batch in batches:
            ...
            bar.advance(len(batch))

Who listens is chosen once per process with ``progress.use(reporter)``: the CLI installs a
rich progress bar when its output is a terminal; everywhere else (cron, a worker, tests)
the default ``LogReporter`` writes one log line per minute of a task, so a long silence
in a log file still says how far the work is and when it should end. The engines import
only this module, never the CLI.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

__all__ = ["LogReporter", "Reporter", "Task", "expect", "task", "use"]

log = logging.getLogger(__name__)


class Task(Protocol):
    """One piece of long work being counted.

    Example::

        bar.advance(500)       # 500 more rows done
        bar.grow(20)           # 20 more found on the way (the total was an estimate)
    """

    def advance(self, count: int = 1) -> None: ...

    def grow(self, count: int) -> None: ...


class Reporter(Protocol):
    """Shows tasks to someone: ``begin`` when the work starts, ``end`` when it stops.

    Example (what the CLI does on a terminal)::

        previous = progress.use(RichReporter(console))
    """

    def begin(self, label: str, total: int | None, unit: str) -> Task: ...

    def end(self, task: Task) -> None: ...


def _eta(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


class _LogTask:
    """A task told as log lines: at most one per `every` seconds, with count, rate and ETA."""

    def __init__(self, label: str, total: int | None, unit: str, every: float, clock: Callable[[], float]) -> None:
        self.label, self.total, self.unit, self.every, self.clock = label, total, unit, every, clock
        self.done = 0
        self.started = self.last = clock()
        self.told = False
        self._lock = threading.Lock()

    def grow(self, count: int) -> None:
        with self._lock:
            self.total = (self.total or 0) + count

    def advance(self, count: int = 1) -> None:
        with self._lock:
            self.done += count
            now = self.clock()
            if now - self.last < self.every:
                return
            self.last, self.told = now, True
        log.info("%s", self.line(now), extra={"event": "progress", "task": self.label, "done": self.done,
                                               "total": self.total})

    def line(self, now: float) -> str:
        """``write-back crm: 4,200 of 10,565 rows, 70/s, about 2 min left``."""
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        text = f"{self.label}: {self.done:,}" + (f" of {self.total:,}" if self.total else "") + f" {self.unit}, {rate:,.0f}/s"
        if self.total and rate > 0 and self.done < self.total:
            text += f", about {_eta((self.total - self.done) / rate)} left"
        return text


class LogReporter:
    """One log line per `every` seconds of each task (default a minute); a task that told
    anything also tells its end, so the last line of a log is never a stale percentage."""

    def __init__(self, every: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock

    def begin(self, label: str, total: int | None, unit: str) -> Task:
        return _LogTask(label, total, unit, self.every, self.clock)

    def end(self, task: Task) -> None:
        if isinstance(task, _LogTask) and task.told:
            log.info("%s: done, %s %s in %s", task.label, f"{task.done:,}", task.unit,
                     _eta(task.clock() - task.started), extra={"event": "progress.done", "task": task.label})


_reporter: Reporter = LogReporter()


def use(reporter: Reporter) -> Reporter:
    """Make `reporter` tell every task from now on; returns the one it replaces."""
    global _reporter  # noqa: PLW0603 - one listener per process, chosen by the command
    previous, _reporter = _reporter, reporter
    return previous


_waiting: dict[object, list[Task]] = {}  # key -> open tasks without a total, that `expect` may give one
_waiting_lock = threading.Lock()


@contextmanager
def task(label: str, total: int | None = None, *, unit: str = "rows", key: object = None) -> Iterator[Task]:
    """Count a piece of long work with whoever listens (see ``use``); ends it on exit.

    `key` (without `total`): the work's size is learnt on the way, by whoever reads it —
    an import's records are counted by the adapter when it pages (``expect(key, total)``),
    from any thread, so the bar gains its total and its ETA from then on."""
    reporter = _reporter
    current = reporter.begin(label, total, unit)
    if key is not None and total is None:
        with _waiting_lock:
            _waiting.setdefault(key, []).append(current)
    try:
        yield current
    finally:
        if key is not None and total is None:
            with _waiting_lock:
                tasks = _waiting.get(key, [])
                if current in tasks:
                    tasks.remove(current)
                if not tasks:
                    _waiting.pop(key, None)
        reporter.end(current)


def expect(key: object, total: int) -> None:
    """The open tasks waiting under `key` will count `total` in all (given once: a task
    that got its total keeps it)."""
    with _waiting_lock:
        tasks = _waiting.pop(key, [])
    for waiting in tasks:
        waiting.grow(total)
