"""The embedded runner: a job of the cycle that ends starts the next one at once, so a
pull's new requests are planned and their due dates written back without waiting for
the SLA tick's or the outbox's own interval."""

from __future__ import annotations

import threading
import time
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


def test_next_in_cycle_skips_jobs_no_addon_registered() -> None:
    assert next_in_cycle("sync.pull", CYCLE) == "sla.tick"
    assert next_in_cycle("sync.pull", {"sync.pull", "sync.dispatch"}) == "sync.dispatch"
    assert next_in_cycle("sync.dispatch", CYCLE) is None
    assert next_in_cycle("sync.reconcile", CYCLE) is None


def test_a_pull_wakes_the_sla_tick_which_wakes_the_outbox(tmp_path: Path) -> None:
    now = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=3)  # the emulator's clock: naive Moscow time
    hour = "schedule: {pull_every: 3600, sla_tick_every: 3600, dispatch_every: 3600, reconcile_every: 3600}\n"
    with Emulator(requests=30, seed=11, now=now, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        app = App.from_text(demo_config(emu.base_url, tmp_path / "s.db") + hour)
        app.upgrade_db()
        runs: list[tuple[str, float]] = []
        done = threading.Condition()

        def seen(name: str, result: dict[str, Any]) -> None:
            with done:
                runs.append((name, time.monotonic()))
                done.notify_all()

        def wait_for(count: int, name: str) -> float:
            with done:
                assert done.wait_for(lambda: sum(n == name for n, _ in runs) >= count, timeout=60), runs
                return [t for n, t in runs if n == name][count - 1]

        runner = Runner(app, on_result=seen)
        runner.start()
        try:
            wait_for(1, "sync.dispatch")  # the first cycle: every job starts once, at start
            template = next(d for d in emu.records(DOC) if not d["DeletionMark"])
            new = next(s["Ref_Key"] for s in emu.records("Catalog_СостоянияИнтересов") if s["Description"] == "Новое")
            doc = app.backend("demo-1c").client.post(DOC, {  # a 1C user opens a request
                "Date": now.isoformat(timespec="seconds"), "Партнер_Key": template["Партнер_Key"],
                "Тема": "Не печатает принтер", "ВидОбращения": "СрочныйЗапрос", "Состояние_Key": new, "Posted": True})
            assert doc["СрокИсполнения"] == "0001-01-01T00:00:00"  # 1C's empty date
            woke = time.monotonic()
            runner.scheduler.modify_job("sync.pull", next_run_time=datetime.now(UTC))  # a pull, an hour early
            pulled, ticked, sent = wait_for(2, "sync.pull"), wait_for(2, "sla.tick"), wait_for(2, "sync.dispatch")
            assert woke <= pulled <= ticked <= sent < woke + 30  # not an hour later: each woke the next
            fresh = emu.get(DOC, str(doc["Ref_Key"]))
            assert fresh is not None
            assert fresh["СрокИсполнения"] != "0001-01-01T00:00:00"  # planned and written back in the cycle the pull started
        finally:
            runner.stop()
        with app.store.transaction() as s:
            assert s.scalar(select(func.count()).select_from(SlaQueueRow)) == 0  # every imported request planned
            assert s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending")) == 0
        app.close()
