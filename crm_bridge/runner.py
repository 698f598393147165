"""The embedded runner: one process, APScheduler triggers, jobs run in-process.

``run_cycle`` runs the loop once in data-flow order (import → SLA tick → write-back);
``Runner`` repeats each job on its own interval until stopped, and a job of the cycle that
ends starts the next one at once (a pull's new requests are planned and their due dates
written back in the same minute, whatever the intervals). APScheduler runs each job with
``max_instances=1`` and ``coalesce=True``: a slow pass is never run twice at once, and
missed runs collapse into one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from crm_bridge.app import App

__all__ = ["CYCLE", "Runner", "next_in_cycle", "run_cycle"]

log = logging.getLogger(__name__)
CYCLE = ("sync.pull", "sla.tick", "sync.dispatch")


def next_in_cycle(name: str, known: Iterable[str]) -> str | None:
    """The registered job that follows `name` in the cycle (None after the last)."""
    if name not in CYCLE:
        return None
    return next((n for n in CYCLE[CYCLE.index(name) + 1:] if n in known), None)


def run_cycle(app: App) -> dict[str, Any]:
    """Run the registered jobs of one cycle, in order; returns each job's summary."""
    known = app.jobs()
    results: dict[str, Any] = {}
    for name in CYCLE:
        if name in known:
            started = time.monotonic()
            results[name] = app.run_job(name)
            results[name]["seconds"] = round(time.monotonic() - started, 3)
    return results


class Runner:
    """Runs the cycle's jobs on intervals until ``stop()`` (or Ctrl-C in ``serve``)."""

    def __init__(self, app: App, *, pull_every: int | None = None, on_result: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.app = app
        self.on_result = on_result
        sched = app.config.schedule
        self.intervals = {
            "sync.pull": pull_every or sched.pull_every,
            "sla.tick": sched.sla_tick_every,
            "sync.dispatch": min(sched.dispatch_every, pull_every or sched.dispatch_every),
            "sync.reconcile": sched.reconcile_every,
        }
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._stopped = threading.Event()

    def _run(self, name: str) -> None:
        try:
            result = self.app.run_job(name)
        except Exception:  # a failing pass must not stop the scheduler; it is logged once here
            log.exception("job %s failed", name, extra={"event": "runner.job.failed", "job": name})
            return
        if self.on_result is not None:
            self.on_result(name, result)
        follower = next_in_cycle(name, self.app.jobs())
        if follower is not None and self.scheduler.running and self.scheduler.get_job(follower) is not None:
            self.scheduler.modify_job(follower, next_run_time=datetime.now(UTC))  # its next run: now

    def start(self) -> None:
        now = self.app.clock()
        for offset, name in enumerate((*CYCLE, "sync.reconcile")):
            if name in self.app.jobs():
                self.scheduler.add_job(
                    self._run, "interval", args=[name], id=name, seconds=self.intervals[name],
                    next_run_time=now + timedelta(seconds=self.intervals[name] if name == "sync.reconcile" else offset * 0.2),
                    max_instances=1, coalesce=True,
                )
        self.scheduler.start()
        log.info("runner started: %s", self.intervals, extra={"event": "runner.started"})

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self._stopped.set()
        log.info("runner stopped", extra={"event": "runner.stopped"})

    def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Start and block until Ctrl-C (SIGINT) or SIGTERM; let running jobs finish, then return.

        `on_ready` runs once the signal handlers are in place, so a "Ctrl-C stops it" hint
        is only shown when Ctrl-C really stops it cleanly.
        """
        import signal

        def request_stop(*_: object) -> None:
            self._stopped.set()

        previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            if on_ready is not None:
                on_ready()
            while not self._stopped.wait(0.5):
                pass
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
