"""The scale-out queue: streams, locks, one schedule for many workers, stalled jobs,
follow-up retries; key-range partitions and outbox shards against the 1C emulator."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from procrastinate.jobs import Job
from procrastinate.periodic import PeriodicDeferrer
from sqlalchemy import func, select, text

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from adapters.onec.refs import stored_order
from crm_bridge.app import App
from crm_bridge.errors import ConfigError
from crm_bridge.queue import (
    MAX_ATTEMPTS,
    STALLED_TASK,
    Queue,
    cron_every,
    defer_all,
    prepare_store,
    run_worker,
)
from crm_bridge.store.tables import TicketRow
from sla.tables import SlaQueueRow
from sync.engine import pull, push
from sync.tables import BindingRow, CheckpointRow, OutboxRow

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=ZoneInfo("Europe/Moscow"))
MODELS = ("customer", "contact", "agent", "ticket")


def pg_config(url: str, base_url: str = "http://127.0.0.1:9/crm/odata/standard.odata/") -> str:
    return demo_config(base_url, Path("unused.db")).replace('sqlite:///unused.db', url)


@pytest.fixture
def pg_app(pg_url: str) -> Iterator[App]:
    app = App.from_text(pg_config(pg_url))
    prepare_store(app)
    yield app
    app.close()


def jobs(app: App, where: str = "true") -> list[dict[str, Any]]:
    with app.store.engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, task_name, status, lock, queueing_lock, args, scheduled_at, attempts "
                                 f"FROM procrastinate_jobs WHERE {where} ORDER BY id"))
        return [dict(r._mapping) for r in rows]


def test_cron_every_rounds_intervals_to_steps_cron_can_express() -> None:
    assert cron_every(1) == "* * * * * */1"
    assert cron_every(15) == "* * * * * */15"
    assert cron_every(60) == "*/1 * * * * 0"
    assert cron_every(90) == "*/2 * * * * 0"
    assert cron_every(3600) == "0 */1 * * * 0"
    assert cron_every(86400 * 2) == "0 0 * * * 0"


def test_a_sqlite_store_is_refused_with_the_way_to_postgresql(tmp_path: Path) -> None:
    app = App.from_text(demo_config("http://127.0.0.1:9/crm/odata/standard.odata/", tmp_path / "s.db"))
    try:
        with pytest.raises(ConfigError, match=r"need PostgreSQL.*postgresql\+psycopg://.*crm-bridge run"):
            Queue(app)
    finally:
        app.close()


def test_the_worker_command_on_sqlite_exits_2_and_says_why(tmp_path: Path) -> None:
    cfg = tmp_path / "crm-bridge.yaml"
    cfg.write_text(demo_config("http://127.0.0.1:9/crm/odata/standard.odata/", tmp_path / "s.db"), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "crm_bridge", "-c", str(cfg), "worker"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "COLUMNS": "200"}, check=False)
    assert done.returncode == 2
    assert "need PostgreSQL" in done.stderr
    assert not (tmp_path / "s.db").exists()  # refused before touching the store


def test_db_upgrade_installs_the_queue_schema_once_even_from_concurrent_processes(pg_url: str) -> None:
    results: list[str | None] = []

    def upgrade() -> None:
        app = App.from_text(pg_config(pg_url))
        try:
            results.append(prepare_store(app))
        finally:
            app.close()

    threads = [threading.Thread(target=upgrade) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r.split(" ")[0] for r in results if r) == ["current", "current", "installed"]


def test_every_stream_gets_a_schedule_with_its_own_lock_and_queueing_lock(pg_app: App) -> None:
    queue = Queue(pg_app)
    periodic = {p.periodic_id: p for p in queue.procrastinate.periodic_registry.periodic_tasks.values()}
    pulls = {f"pull:demo-1c:{m}:{i}/8" for m in MODELS for i in range(8)}
    shards = {f"dispatch:demo-1c:{i}/8" for i in range(8)}
    assert pulls | shards | {"sla.tick", "sync.reconcile", STALLED_TASK} <= set(periodic)
    for key in pulls | shards:
        options = periodic[key].configure_kwargs
        assert (options["lock"], options["queueing_lock"]) == (key, key)
    assert periodic["pull:demo-1c:ticket:3/8"].configure_kwargs["task_kwargs"] == {
        "backend": "demo-1c", "model": "ticket", "partition": "3/8"}
    assert periodic["pull:demo-1c:ticket:3/8"].cron == cron_every(pg_app.config.schedule.pull_every)
    assert "lock" not in periodic[STALLED_TASK].configure_kwargs  # a stalled run of it must not block the next


def test_periodic_ticks_from_several_workers_queue_each_stream_once(pg_app: App) -> None:
    workers = [Queue(pg_app), Queue(pg_app), Queue(pg_app)]
    tick = datetime.now(UTC).replace(microsecond=0).timestamp() - 1

    async def tick_on_every_worker(at: float) -> None:
        for queue in workers:
            async with queue.procrastinate.open_async():
                deferrer = PeriodicDeferrer(registry=queue.procrastinate.periodic_registry)
                await deferrer.defer_jobs(deferrer.get_previous_tasks(at=at))

    asyncio.run(tick_on_every_worker(tick))
    first = jobs(pg_app)
    keys = [j["queueing_lock"] for j in first]
    assert len(keys) == len(set(keys)) > 40  # one job per stream, however many workers ticked
    asyncio.run(tick_on_every_worker(tick + 3600))  # a later tick while they all still wait
    assert len(jobs(pg_app)) == len(first)  # the queueing lock: a stream waits at most once


def _insert_job(app: App, *, status: str, lock: str, worker: int | None) -> int:
    with app.store.engine.begin() as conn:
        return int(conn.execute(text(
            "INSERT INTO procrastinate_jobs (queue_name, task_name, lock, queueing_lock, args, status, worker_id) "
            "VALUES ('sync.pull', 'sync.pull', :lock, :lock, '{}', CAST(:status AS procrastinate_job_status), :worker) "
            "RETURNING id"), {"lock": lock, "status": status, "worker": worker}).scalar_one())


def test_the_job_of_a_killed_worker_runs_again_unless_its_next_run_already_waits(pg_app: App) -> None:
    with pg_app.store.engine.begin() as conn:
        dead = conn.execute(text("INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now() - interval '1 hour') "
                                 "RETURNING id")).scalar_one()
        alive = conn.execute(text("INSERT INTO procrastinate_workers DEFAULT VALUES RETURNING id")).scalar_one()
    orphan = _insert_job(pg_app, status="doing", lock="pull:a", worker=dead)
    twin_doing = _insert_job(pg_app, status="doing", lock="pull:b", worker=dead)
    twin_todo = _insert_job(pg_app, status="todo", lock="pull:b", worker=None)
    busy = _insert_job(pg_app, status="doing", lock="pull:c", worker=alive)
    queue = Queue(pg_app, heartbeat=1)

    async def sweep() -> dict[str, int]:
        async with queue.procrastinate.open_async():
            return await queue._retry_stalled()

    assert asyncio.run(sweep()) == {"retried": 1, "failed": 1}
    status = {j["id"]: j["status"] for j in jobs(pg_app)}
    assert status == {orphan: "todo", twin_doing: "failed", twin_todo: "todo", busy: "doing"}


def test_a_failed_job_is_followed_by_a_later_run_of_its_stream_until_the_maximum(pg_app: App) -> None:
    queue = Queue(pg_app)
    failed = Job(id=1, queue="sync.pull", lock="pull:x", queueing_lock="pull:x", task_name="sync.pull",
                 task_kwargs={"backend": "demo-1c"})
    boom = RuntimeError("deadlock detected")

    async def fail(attempt: int, exc: Exception = boom) -> None:
        async with queue.procrastinate.open_async():
            await queue._retry_later(failed, {"backend": "demo-1c"}, attempt, exc)

    asyncio.run(fail(0))
    [follow_up] = jobs(pg_app)
    assert (follow_up["lock"], follow_up["queueing_lock"], follow_up["status"]) == ("pull:x", "pull:x", "todo")
    assert follow_up["args"] == {"backend": "demo-1c", "attempt": 1}
    asyncio.run(fail(1))  # the stream already waits: nothing more, no error
    assert len(jobs(pg_app)) == 1
    with pg_app.store.engine.begin() as conn:
        conn.execute(text("DELETE FROM procrastinate_jobs"))
    asyncio.run(fail(MAX_ATTEMPTS - 1))
    asyncio.run(fail(0, ConfigError("no backend 'x'")))
    assert jobs(pg_app) == []  # out of attempts, or not worth retrying: it stays failed


def test_a_retry_after_from_1c_delays_the_follow_up_at_least_that_long(pg_app: App) -> None:
    from crm_bridge.errors import RemoteUnavailable

    queue = Queue(pg_app)
    failed = Job(id=1, queue="sync.pull", lock="pull:y", queueing_lock="pull:y", task_name="sync.pull")

    async def fail() -> None:
        async with queue.procrastinate.open_async():
            await queue._retry_later(failed, {}, 0, RemoteUnavailable("429", retry_after=120))

    asyncio.run(fail())
    [follow_up] = jobs(pg_app)
    assert follow_up["scheduled_at"] >= datetime.now(UTC) + timedelta(seconds=110)


# -- partitions and shards against the emulator ------------------------------------------
@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=150, seed=5, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def _snapshot(app: App) -> list[tuple[str, str, bool]]:
    with app.store.transaction() as s:
        return sorted((t.number, t.type, t.customer_id is not None) for t in s.scalars(select(TicketRow)))


def test_partitions_in_any_order_import_what_one_whole_pass_imports(emulator: Emulator, tmp_path: Path) -> None:
    whole = App.from_text(demo_config(emulator.base_url, tmp_path / "whole.db"), clock=lambda: NOW)
    parts = App.from_text(demo_config(emulator.base_url, tmp_path / "parts.db"), clock=lambda: NOW)
    try:
        for app in (whole, parts):
            app.upgrade_db()
        whole.run_job("sync.pull")
        for model in reversed(MODELS):  # requests first: their customers are imported on demand
            for index in (3, 0, 2, 1):
                pull(parts, NOW, backend="demo-1c", model=model, partition=f"{index}/4")
        assert _snapshot(parts) == _snapshot(whole)
        assert len(_snapshot(parts)) > 100
        with parts.store.transaction() as s:
            cursors: dict[str, Any] = {stream: value for stream, value in s.execute(select(CheckpointRow.stream, CheckpointRow.value))}
            bound = s.scalars(select(BindingRow.remote_id)).all()
        assert {f"ticket:Document_Интерес#{i}/4" for i in range(4)} <= set(cursors)
        assert all(v["after"] is None for stream, v in cursors.items() if "#cut/" not in stream)
        assert len(bound) == len(set(bound))
        # The slices' bounds are keys at equal steps of 1C's own order: even slices, and
        # disjoint and complete whatever that order (1C does not order GUIDs as text)
        bounds = cursors["ticket:Document_Интерес#cut/4"]["bounds"]
        assert bounds[0][0] is None
        assert bounds[-1][1] is None
        assert all(bounds[i][1] == bounds[i + 1][0] for i in range(3))
        keys = [stored_order(str(d["Ref_Key"])) for d in emulator.records("Document_Интерес")]  # as 1C orders them
        sizes = [sum(1 for k in keys if (start is None or stored_order(start) <= k) and (before is None or k < stored_order(before)))
                 for start, before in bounds]
        assert sum(sizes) == len(keys)
        assert max(sizes) - min(sizes) <= 1
    finally:
        whole.close()
        parts.close()


def test_a_partition_resumes_from_its_own_cursor(emulator: Emulator, tmp_path: Path) -> None:
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db") + "    page_size: 10\n", clock=lambda: NOW)
    try:
        app.upgrade_db()
        backend = app.backend("demo-1c")
        real_read = backend.read  # a first pass reads whole pages; interrupted after its second, as a kill would

        def two_pages(*args: Any, **kwargs: Any) -> Iterator[Any]:
            for n, page in enumerate(real_read(*args, **kwargs)):
                if n == 2:
                    raise RuntimeError("killed")
                yield page

        backend.read = two_pages
        with pytest.raises(RuntimeError, match="killed"):
            pull(app, NOW, backend="demo-1c", model="ticket", partition="1/4")
        with app.store.transaction() as s:
            cursor = s.scalar(select(CheckpointRow.value).where(CheckpointRow.stream == "ticket:Document_Интерес#1/4"))
        assert cursor is not None
        with app.store.transaction() as s:
            kept = s.scalar(select(CheckpointRow.value).where(CheckpointRow.stream == "ticket:Document_Интерес#cut/4"))
        assert kept is not None
        start, before = kept["bounds"][1]
        assert stored_order(start) < stored_order(cursor["after"]) < stored_order(before)  # mid-partition, inside its range
        backend.read = real_read

        def asked_again(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the slices' bounds were asked of 1C again")

        backend.key_ranges = asked_again  # the resumed slice keeps the bounds it was cut with
        pull(app, NOW, backend="demo-1c", model="ticket", partition="1/4")
        with app.store.transaction() as s:
            keys = s.scalars(select(BindingRow.remote_id).where(BindingRow.model == "ticket")).all()
        expected = {str(d["Ref_Key"]) for d in emulator.records("Document_Интерес")
                    if not d["DeletionMark"] and stored_order(start) <= stored_order(str(d["Ref_Key"])) < stored_order(before)}
        assert set(keys) == expected
        assert len(keys) == len(set(keys))
    finally:
        app.close()


def test_outbox_shards_split_the_write_back_by_record_and_together_send_everything(emulator: Emulator, tmp_path: Path) -> None:
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=lambda: NOW)
    try:
        app.upgrade_db()
        app.run_job("sync.pull")
        app.run_job("sla.tick")  # the plans write the SLA fields back
        with app.store.transaction() as s:
            total = s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending"))
        first = push(app, NOW, backend="demo-1c", shard="0/3")["demo-1c"]["sent"]
        with app.store.transaction() as s:
            left = s.scalars(select(OutboxRow.local_id).where(OutboxRow.state == "pending")).all()
        assert first > 0
        assert all(local_id % 3 != 0 for local_id in left)
        rest = sum(push(app, NOW, backend="demo-1c", shard=f"{i}/3")["demo-1c"]["sent"] for i in (1, 2))
        assert first + rest == total
    finally:
        app.close()


def test_bounds_cut_while_a_set_held_fewer_records_than_slices_are_cut_again(emulator: Emulator, tmp_path: Path) -> None:
    app = App.from_text(demo_config(emulator.base_url, tmp_path / "s.db"), clock=lambda: NOW)
    try:
        app.upgrade_db()
        backend = app.backend("demo-1c")
        real, asked = backend.key_ranges, []

        def counting(spec: Any, count: int) -> Any:
            asked.append((spec.model, count))
            return real(spec, count)

        backend.key_ranges = counting
        for _ in range(2):  # 9 users in 16 slices: some slices stay empty, so the next pass asks again
            pull(app, NOW, backend="demo-1c", model="agent", partition="0/16")
        for _ in range(2):  # 150 requests in 4 slices: cut once, kept
            pull(app, NOW, backend="demo-1c", model="ticket", partition="0/4")
        assert asked == [("agent", 16), ("agent", 16), ("ticket", 4)]
    finally:
        app.close()


def test_a_worker_runs_the_cycle_in_order_each_job_queueing_the_next(emulator: Emulator, pg_url: str) -> None:
    """Only the pulls are queued: each pull queues the SLA tick when it ends, and the tick
    the outbox shards, so every imported request is planned and its due date sent."""
    day = "schedule: {pull_every: 86400, dispatch_every: 86400, sla_tick_every: 86400, reconcile_every: 86400}\n"
    app = App.from_text(pg_config(pg_url, emulator.base_url) + day, clock=lambda: NOW)
    try:
        prepare_store(app)
        assert defer_all(app, ["sync.pull"]) > 0
        run_worker(app, wait=False)  # until the queue is empty
        with app.store.transaction() as s:
            assert s.scalar(select(func.count()).select_from(SlaQueueRow)) == 0
            sent = s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "sent"))
            assert s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state != "sent")) == 0
            due = s.scalar(select(func.count()).select_from(TicketRow).where(TicketRow.resolution_due.is_not(None)))
        assert due
        assert sent
        assert sent >= due
        written = [d for d in emulator.records("Document_Интерес") if d["СрокИсполнения"] != "0001-01-01T00:00:00"]
        assert len(written) == due  # every planned due date reached 1C
        assert [r for r in jobs(app) if r["status"] != "succeeded"] == []  # nothing left waiting or failed
    finally:
        app.close()


@pytest.fixture
def slow_emulator() -> Iterator[Emulator]:
    """1C answering in 30 ms: an import stream lasts longer than the jobs after it."""
    with Emulator(requests=150, seed=5, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD},
                  latency=0.03) as emu:
        yield emu


def test_the_streams_of_a_job_queue_the_next_job_once_after_the_last_of_them(
    slow_emulator: Emulator, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """32 import streams queue one SLA tick, after the last of them ends (as the embedded
    runner plans once after the whole import), not when a free worker meets the tick
    queued by an earlier stream while the last ones still import; so no request is written
    back before it is planned, and each due date is one write."""
    emulator = slow_emulator
    day = ("schedule: {pull_every: 86400, dispatch_every: 86400, sla_tick_every: 86400, routing_tick_every: 86400, "
           "notify_every: 86400, reconcile_every: 86400}\n")
    app = App.from_text(pg_config(pg_url, emulator.base_url) + day, clock=lambda: NOW)
    try:
        prepare_store(app)
        streams = defer_all(app, ["sync.pull"])
        assert streams > 8
        with caplog.at_level(logging.INFO, logger="crm_bridge.queue"):
            for _ in range(20):  # as four workers: a free one takes what is queued, while the others run
                run_worker(app, concurrency=4, wait=False)  # stops once it finds nothing to take
                if not jobs(app, "status = 'todo'"):
                    break
        done = [r.job for r in caplog.records if getattr(r, "event", None) == "queue.job.done"]
        assert done.count("sync.pull") == streams
        assert done.count("sla.tick") == 1
        assert done.index("sla.tick") > max(i for i, job in enumerate(done) if job == "sync.pull")
        assert done.count("sync.dispatch") == 8  # each shard once, after the plan
        assert done.index("sync.dispatch") > done.index("sla.tick")
        with app.store.transaction() as s:
            sent = select(OutboxRow.local_id).where(OutboxRow.state == "sent")
            writes = s.scalar(select(func.count()).select_from(sent.subquery()))
            written = s.scalar(select(func.count()).select_from(sent.distinct().subquery()))
        assert writes
        assert writes == written  # no request written twice (a first write sent before its plan)
    finally:
        app.close()
