"""Long work told where no terminal is: one log line per minute with count, rate and ETA,
and a closing line; nothing at all for work that ends within the minute."""

from __future__ import annotations

import logging

import pytest

from crm_bridge import progress
from crm_bridge.progress import LogReporter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_ten_minute_backlog_logs_once_a_minute_with_rate_and_eta(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    previous = progress.use(LogReporter(clock=clock))
    try:
        with caplog.at_level(logging.INFO, logger="crm_bridge.progress"), \
                progress.task("write-back crm", total=6000) as bar:
            for _ in range(600):  # ten rows a second for ten minutes, advanced each second
                clock.now += 1
                bar.advance(10)
    finally:
        progress.use(previous)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 11  # minutes 1..10, then the end
    assert lines[0] == "write-back crm: 600 of 6,000 rows, 10/s, about 9 min left"
    assert lines[-2] == "write-back crm: 6,000 of 6,000 rows, 10/s"
    assert lines[-1] == "write-back crm: done, 6,000 rows in 10 min"
    assert {r.__dict__["event"] for r in caplog.records} == {"progress", "progress.done"}


def test_work_done_within_a_minute_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    previous = progress.use(LogReporter(clock=clock))
    try:
        with caplog.at_level(logging.INFO, logger="crm_bridge.progress"), progress.task("sla recalc") as bar:
            clock.now += 59
            bar.advance(5000)
    finally:
        progress.use(previous)
    assert caplog.records == []


def test_progress_lines_are_logged_at_the_default_level_and_silenced_with_errors_only() -> None:
    from crm_bridge.cli.common import setup_logging

    told, root = logging.getLogger("crm_bridge.progress"), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        setup_logging("warning")  # the CLI's default: a cron job's log still says how far the work is
        assert told.isEnabledFor(logging.INFO)
        assert not logging.getLogger("sync.engine").isEnabledFor(logging.INFO)
        setup_logging("error")
        assert not told.isEnabledFor(logging.INFO)
    finally:
        told.setLevel(logging.NOTSET)
        root.handlers[:] = handlers
        root.setLevel(level)


def test_an_import_learns_its_total_from_whoever_counts_it_and_tells_an_eta(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    previous = progress.use(LogReporter(clock=clock))
    try:
        with caplog.at_level(logging.INFO, logger="crm_bridge.progress"), \
                progress.task("import crm ticket", unit="records", key=("crm", "Document_Интерес")) as bar:
            clock.now += 60
            bar.advance(1000)  # no total yet: count and rate only
            progress.expect(("crm", "Document_Интерес"), 4000)  # the adapter counted the set (another thread, as it may)
            progress.expect(("crm", "Document_Интерес"), 9999)  # told once: a later count changes nothing
            progress.expect(("crm", "Catalog_Партнеры"), 50)  # another set's count is not this task's
            clock.now += 60
            bar.advance(1000)
    finally:
        progress.use(previous)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "import crm ticket: 1,000 records, 17/s"
    assert lines[1] == "import crm ticket: 2,000 of 4,000 records, 17/s, about 2 min left"
