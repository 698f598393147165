"""The embedded runner: a job of the cycle that ends starts the next one at once, so a
pull's new requests are planned and their due dates written back without waiting for
the SLA tick's or the outbox's own interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App
from crm_bridge.runner import CYCLE, Runner, next_in_cycle
from sla.tables import SlaQueueRow
from sync.tables import OutboxRow

DOC = "Document_Интерес"


def wait_until(condition: Callable[[], bool], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_next_in_cycle_skips_jobs_no_addon_registered() -> None:
    assert next_in_cycle("sync.pull", CYCLE) == "intake.fetch"  # new mail registered before the SLA plans
    assert next_in_cycle("intake.process", CYCLE) == "sla.tick"
    assert next_in_cycle("sync.pull", set(CYCLE) - {"intake.fetch", "intake.process"}) == "sla.tick"
    assert next_in_cycle("sync.pull", {"sync.pull", "sync.dispatch"}) == "sync.dispatch"
    assert next_in_cycle("sync.dispatch", CYCLE) == "intake.confirm"  # the CRM's number, before the acknowledgement
    assert next_in_cycle("intake.confirm", CYCLE) == "notify.dispatch"  # mail states what was just written back
    assert next_in_cycle("notify.dispatch", CYCLE) is None
    assert next_in_cycle("sync.reconcile", CYCLE) is None


def test_a_pull_wakes_the_sla_tick_which_wakes_the_outbox(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=3)  # the emulator's clock: naive Moscow time
    hour = "schedule: {pull_every: 3600, sla_tick_every: 3600, dispatch_every: 3600, reconcile_every: 3600}\n"
    with Emulator(requests=30, seed=11, now=now, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        app = App.from_text(demo_config(emu.base_url, tmp_path / "s.db") + hour)
        app.upgrade_db()
        runs: list[tuple[str, float]] = []  # (job, when it ended)
        done = threading.Condition()

        def seen(name: str, result: dict[str, Any]) -> None:
            with done:
                runs.append((name, time.monotonic()))
                done.notify_all()

        def ended_after(name: str, since: float) -> float:
            def ended() -> float | None:
                return next((t for n, t in runs if n == name and t > since), None)
            with done:
                assert done.wait_for(lambda: ended() is not None, timeout=60), runs
                found = ended()
                assert found is not None
                return found

        runner = Runner(app, on_result=seen)
        runner.start()
        try:
            ended_after("sync.dispatch", 0.0)  # the first cycle
            assert wait_until(lambda: not runner.busy())
            template = next(d for d in emu.records(DOC) if not d["DeletionMark"])
            new = next(s["Ref_Key"] for s in emu.records("Catalog_СостоянияИнтересов") if s["Description"] == "Новое")
            doc = app.backend("demo-1c").client.post(DOC, {  # a 1C user opens a request
                "Date": now.isoformat(timespec="seconds"), "Партнер_Key": template["Партнер_Key"],
                "Тема": "Не печатает принтер", "ВидОбращения": "СрочныйЗапрос", "Состояние_Key": new, "Posted": True})
            assert doc["СрокИсполнения"] == "0001-01-01T00:00:00"  # 1C's empty date
            woke = time.monotonic()
            runner.scheduler.modify_job("sync.pull", next_run_time=datetime.now(UTC))  # a pull, an hour early
            pulled = ended_after("sync.pull", woke)
            ticked = ended_after("sla.tick", pulled)
            sent = ended_after("sync.dispatch", ticked)
            assert sent < woke + 30  # not an hour later: each ran the next
            fresh = emu.get(DOC, str(doc["Ref_Key"]))
            assert fresh is not None
            assert fresh["СрокИсполнения"] != "0001-01-01T00:00:00"  # planned and written back in the cycle the pull started
        finally:
            runner.stop()
        with app.store.transaction() as s:
            assert s.scalar(select(func.count()).select_from(SlaQueueRow)) == 0  # every imported request planned
            assert s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending")) == 0
        app.close()


class _Jobs:
    """The cycle's jobs as stand-ins that record their runs; `hold` blocks a job's first run."""

    def __init__(self, hold: str) -> None:
        self.runs: list[str] = []
        self.hold, self.started, self.release = hold, threading.Event(), threading.Event()

    def __call__(self, name: str) -> dict[str, Any]:
        self.runs.append(name)
        if name == self.hold and not self.started.is_set():
            self.started.set()
            assert self.release.wait(10)
        return {}


def _runner_of(jobs: _Jobs, tmp_path: Path) -> Runner:
    app = App.from_text(f'store: {{url: "sqlite:///{tmp_path / "s.db"}"}}\n')
    app.run_job = jobs  # type: ignore[method-assign,assignment]
    return Runner(app)


def test_a_job_asked_for_while_it_runs_runs_once_more_then_the_cycle_goes_on(tmp_path: Path) -> None:
    jobs = _Jobs(hold="sla.tick")
    runner = _runner_of(jobs, tmp_path)
    first = threading.Thread(target=runner._run, args=["sync.pull"])
    first.start()
    assert jobs.started.wait(10)  # the pull ended; its tick is running
    runner._run("sla.tick")  # the tick's own interval comes: returns at once, the tick is busy
    runner._run("sync.pull")  # a pull is not busy: it runs, and its tick is asked for once more
    assert runner.busy() == {"sla.tick"}
    jobs.release.set()
    first.join(10)
    intake = ["intake.fetch", "intake.process"]
    assert jobs.runs == ["sync.pull", *intake, "sla.tick", "sync.pull", *intake, "sla.tick", "routing.tick",
                         "csat.tick", "sync.dispatch", "intake.confirm", "notify.dispatch"]
    assert runner.busy() == set()


def test_stop_lets_the_running_job_finish_and_starts_no_other(tmp_path: Path) -> None:
    jobs = _Jobs(hold="sync.pull")
    runner = _runner_of(jobs, tmp_path)
    first = threading.Thread(target=runner._run, args=["sync.pull"])
    first.start()
    assert jobs.started.wait(10)
    stopping = threading.Thread(target=runner.stop)
    stopping.start()
    stopping.join(0.2)
    jobs.release.set()
    first.join(10)
    stopping.join(10)
    assert not first.is_alive()
    assert not stopping.is_alive()
    assert jobs.runs == ["sync.pull"]  # the tick it would have run next never started


def test_only_the_first_job_starts_at_once_and_each_job_runs_once_per_cycle(tmp_path: Path) -> None:
    """Each job used to run twice in the first cycle: once after the job before it, once by
    its own start a fraction of a second later (so `run` printed it twice)."""
    jobs = _Jobs(hold="")
    runner = _runner_of(jobs, tmp_path)
    runner.start()
    try:
        assert wait_until(lambda: "notify.dispatch" in jobs.runs, timeout=10)
        time.sleep(1.5)  # the old staggered starts came within a second
    finally:
        runner.stop()
    assert jobs.runs == list(CYCLE)


def test_a_jobs_own_interval_soon_after_the_job_before_it_ran_it_is_skipped(tmp_path: Path) -> None:
    jobs = _Jobs(hold="")
    runner = _runner_of(jobs, tmp_path)
    runner._run("sync.pull")  # its own interval: the whole cycle after it
    runner._run("sla.tick")  # the tick's own interval, a moment later: nothing new to plan
    assert jobs.runs == list(CYCLE)
    runner._run("sync.pull")  # the first job is never skipped: nothing runs it but its interval
    assert jobs.runs == [*CYCLE, *CYCLE]
