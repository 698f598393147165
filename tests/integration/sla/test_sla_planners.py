"""Four real ``crm-bridge worker`` processes on PostgreSQL planning a queue of imported
requests with ``sla.planners: 4``: the four ``sla.tick`` streams run on different
workers at once, and each request is planned exactly once (one clock, one story in the
ledger, never an event twice)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from crm_bridge.app import App
from crm_bridge.queue import job_streams, prepare_store
from crm_bridge.store.bulk import bulk_insert
from crm_bridge.store.tables import TicketEventRow, TicketRow, core_table
from sla.tables import SlaClockRow, SlaEventRow, SlaQueueRow

CLI = [sys.executable, "-m", "crm_bridge"]
ROOT = Path(__file__).resolve().parents[3]
REQUESTS = 800


def config(url: str) -> str:
    return f"""
store: {{url: "{url}"}}
schedule: {{sla_tick_every: 1, routing_tick_every: 3600, dispatch_every: 3600, notify_every: 3600}}
sla: {{planners: 4}}
"""


def seed(app: App) -> None:
    """What an import leaves: the requests, their history, each queued for planning."""
    now = datetime.now(UTC)
    types = ["technical_problem", "consultation", "feedback", "urgent", "other"]
    tickets = [{"id": i, "number": f"CRM-{i:05d}", "type": types[i % 5], "priority": "normal", "channel": "email",
                "source": "external", "status": "new", "created_at": now - timedelta(hours=i % 100)}
               for i in range(1, REQUESTS + 1)]
    events = [{"ticket_id": t["id"], "kind": "created", "at": t["created_at"], "origin": "remote:onec",
               "data": {"status": "new"}} for t in tickets]
    queue = [{"ticket_id": t["id"], "token": t["id"], "queued": now, "reason": None} for t in tickets]
    with app.store.transaction() as s:
        for table, rows in ((TicketRow, tickets), (TicketEventRow, events), (SlaQueueRow, queue)):
            bulk_insert(s, core_table(table), rows)


def planned_by(logs: list[Path]) -> list[int]:
    """Requests each worker says it planned (``sla.queue.planned`` lines)."""
    return [sum(int(n) for n in re.findall(r"planned (\d+) queued request", p.read_text(encoding="utf-8"))) for p in logs]


def test_four_workers_plan_a_queue_in_parallel_each_request_exactly_once(pg_url: str, tmp_path: Path) -> None:
    cfg = tmp_path / "crm-bridge.yaml"
    cfg.write_text(config(pg_url), encoding="utf-8")
    app = App.from_file(cfg)
    logs = [tmp_path / f"w{i}.log" for i in range(4)]
    workers: list[subprocess.Popen[bytes]] = []
    try:
        assert [s.key for s in job_streams(app, "sla.tick")] == [f"sla.tick:{i}/4" for i in range(4)]
        prepare_store(app)
        seed(app)
        env = {**os.environ, "COLUMNS": "200"}
        for i, path in enumerate(logs):
            with path.open("w", encoding="utf-8") as out:
                workers.append(subprocess.Popen([*CLI, "-c", str(cfg), "--log-level", "info", "worker", "--heartbeat", "0.5", "--name", f"w{i}"],
                                                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 90
        while sum(planned_by(logs)) < REQUESTS:
            assert all(w.poll() is None for w in workers), f"a worker exited; see {tmp_path}"
            assert time.monotonic() < deadline, f"the queue was not planned in 90 s; see {tmp_path}"
            time.sleep(0.3)
        time.sleep(1.5)  # a planner that took a request twice would say so by now
        with app.store.transaction() as s:
            clocks = s.scalar(select(func.count()).select_from(SlaClockRow))
            twice = s.execute(select(SlaEventRow.ticket_id, SlaEventRow.metric, SlaEventRow.cycle, SlaEventRow.kind,
                                     SlaEventRow.at).group_by(SlaEventRow.ticket_id, SlaEventRow.metric, SlaEventRow.cycle,
                                                              SlaEventRow.kind, SlaEventRow.at)
                              .having(func.count() > 1)).all()
            generations = s.scalar(select(func.max(SlaEventRow.generation)))
            storyless = s.scalar(select(func.count()).select_from(TicketRow).where(
                ~select(SlaEventRow.id).where(SlaEventRow.ticket_id == TicketRow.id).exists()))
            unplanned = s.scalar(select(func.count()).select_from(TicketRow).where(TicketRow.resolution_due.is_(None)))
            left = s.scalar(select(func.count()).select_from(SlaQueueRow))
        counts = planned_by(logs)
        assert clocks == REQUESTS
        assert twice == []  # no event recorded twice: no request planned by two workers at once
        assert generations == 1  # and none planned again as if its story had changed
        assert (storyless, unplanned, left) == (0, 0, 0)
        assert sum(counts) == REQUESTS, counts  # each request planned by exactly one worker, once
        assert sum(1 for n in counts if n) > 1, counts  # and the planning spread over several workers
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(60)
            except subprocess.TimeoutExpired:
                w.kill()
                w.wait(10)
        app.close()
