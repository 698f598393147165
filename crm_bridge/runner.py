"""The embedded runner: one process, APScheduler triggers, jobs run in-process.

``run_cycle`` runs the loop once in data-flow order (import → mail in → intake → SLA tick →
routing → write-back → the CRM's numbers of new requests read back → notifications, so an
acknowledgement states the number and the due dates just planned);
``Runner`` repeats each job on its own interval until stopped, and a job of the cycle that
ends runs the next one right after it, in its thread (a pull's new requests are planned
and their due dates written back at once, whatever the intervals). A job is never run
twice at once: one asked for by the job before it while it runs runs once more when it
ends; its own interval coming while it runs, or soon after the job before it ran it, is
skipped, so each job runs once per cycle. APScheduler coalesces missed runs into one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler

from crm_bridge.app import App

__all__ = ["CYCLE", "Runner", "next_in_cycle", "pending_at_budget", "run_cycle"]

log = logging.getLogger(__name__)
CYCLE = ("sync.pull", "intake.fetch", "intake.process", "sla.tick", "routing.tick", "csat.tick", "sync.dispatch",
         "intake.confirm", "notify.dispatch")


def next_in_cycle(name: str, known: Iterable[str]) -> str | None:
    """The registered job that follows `name` in the cycle (None after the last)."""
    if name not in CYCLE:
        return None
    return next((n for n in CYCLE[CYCLE.index(name) + 1:] if n in known), None)


def run_cycle(app: App, *, budget: float | None = None) -> dict[str, Any]:
    """Run the registered jobs of one cycle, in order; returns each job's summary, with
    its ``seconds``.

    With a `budget` (seconds for the whole cycle; ``run --once``) the write-back drains
    the outbox with what is left of it (at least one batch, however long the import took)
    and its summary tells what is still pending (see ``sync.engine.push``).
    """
    known = app.jobs()
    deadline = None if budget is None else time.monotonic() + budget
    results: dict[str, Any] = {}
    for name in CYCLE:
        if name in known:
            started = time.monotonic()
            if name == "sync.dispatch" and deadline is not None:
                job: Callable[..., dict[str, Any]] = known[name]
                results[name] = job(app, app.clock(), budget=max(0.0, deadline - started))
            else:
                results[name] = app.run_job(name)
            results[name]["seconds"] = round(time.monotonic() - started, 3)
    return results


def pending_at_budget(result: dict[str, Any]) -> int:
    """Write-back rows a cycle left due because it stopped at its budget (0: it drained)."""
    dispatched = result.get("sync.dispatch", {})
    return sum(int(done.get("pending", 0)) for done in dispatched.values()
               if isinstance(done, dict) and done.get("stopped_at_budget"))


class Runner:
    """Runs the cycle's jobs on intervals until ``stop()`` (or Ctrl-C in ``serve``)."""

    def __init__(self, app: App, *, pull_every: int | None = None, on_result: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        self.app = app
        self.on_result = on_result
        sched = app.config.schedule
        self.intervals = {
            "sync.pull": pull_every or sched.pull_every,
            "intake.fetch": pull_every or sched.pull_every,  # IMAP without IDLE: polled after each import
            "intake.process": pull_every or sched.pull_every,
            "sla.tick": sched.sla_tick_every,
            "routing.tick": sched.routing_tick_every,
            "csat.tick": sched.sla_tick_every,  # surveys due after resolution: as often as the SLA clock
            "sync.dispatch": min(sched.dispatch_every, pull_every or sched.dispatch_every),
            "intake.confirm": min(sched.dispatch_every, pull_every or sched.dispatch_every),
            "notify.dispatch": sched.notify_every,
            "sync.reconcile": sched.reconcile_every,
        }
        self.scheduler = BackgroundScheduler(timezone="UTC")
        self._stopped = threading.Event()
        self._state = threading.Lock()  # guards the four below
        self._busy: set[str] = set()  # jobs running now, in any thread
        self._again: set[str] = set()  # jobs asked for while running: once more when they end
        self._chained: dict[str, float] = {}  # job -> when its last run asked by the job before it ended
        self._stopping = False

    def _run(self, name: str, *, timer: bool = True) -> None:
        """Run job `name` unless it is running already; after a successful run, the next
        job of the cycle runs, in this thread.

        Its own interval (`timer`) is skipped when the job is running, or when the job
        before it in the cycle ran it less than half an interval ago: a second run would
        find nothing new (that was why each job printed twice per cycle). Asked
        by the job before it while running, it runs once more when it ends: what it was
        asked for may have come too late for this run.
        """
        while True:
            with self._state:
                if self._stopping:
                    return
                if name in self._busy:
                    if not timer:
                        self._again.add(name)
                    return
                ended = self._chained.get(name)
                if timer and ended is not None and time.monotonic() - ended < self.intervals[name] / 2:
                    return
                self._busy.add(name)
            started = time.monotonic()
            try:
                result = self.app.run_job(name)
                result["seconds"] = round(time.monotonic() - started, 3)
            except Exception:  # a failing pass must not stop the scheduler; it is logged once here
                log.exception("job %s failed", name, extra={"event": "runner.job.failed", "job": name})
                result = None
            finally:
                with self._state:
                    self._busy.discard(name)
                    if not timer:
                        self._chained[name] = time.monotonic()
                    again = name in self._again
                    self._again.discard(name)
            if result is not None and self.on_result is not None:
                self.on_result(name, result)
            timer = False
            if again:
                continue  # asked for while it ran: what it was asked for may have come too late for this run
            follower = next_in_cycle(name, self.app.jobs()) if result is not None else None
            if follower is None:
                return
            name = follower

    def start(self) -> None:
        """Schedule each job on its interval. Only the cycle's first job starts at once:
        it runs the others after it, so starting them too would run each twice."""
        now = self.app.clock()
        known = self.app.jobs()
        first = next((n for n in CYCLE if n in known), None)
        for name in (*CYCLE, "sync.reconcile"):
            if name in known:
                self.scheduler.add_job(
                    self._run, "interval", args=[name], id=name, seconds=self.intervals[name],
                    next_run_time=now if name == first else now + timedelta(seconds=self.intervals[name]),
                    max_instances=len(CYCLE) + 1, coalesce=True,  # `_busy` keeps a job from running twice at once
                )
        self.scheduler.start()
        log.info("runner started: %s", self.intervals, extra={"event": "runner.started"})

    def busy(self) -> set[str]:
        """The jobs running now."""
        with self._state:
            return set(self._busy)

    def stop(self) -> None:
        with self._state:
            self._stopping = True  # running jobs finish; none starts after them
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
