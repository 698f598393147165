"""Four real ``crm-bridge worker`` processes on PostgreSQL routing a few hundred requests
that arrive in waves: no agent ever over capacity, every request assigned once, and round
robin fair across the workers (its pointer is stored, so whichever worker runs the tick
carries the rotation on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from crm_bridge.app import App
from crm_bridge.queue import prepare_store
from crm_bridge.store.tables import AgentRow, TicketRow
from routing.tables import RoutingLogRow, RoutingQueueRow

CLI = [sys.executable, "-m", "crm_bridge"]
ROOT = Path(__file__).resolve().parents[3]
TEAM_A = [f"Агент A{i}" for i in range(8)]  # equally skilled, room for everything: fairness
TEAM_B = [f"Агент B{i}" for i in range(3)]  # 10 each: more requests than room, the guard
WAVES, PER_WAVE_A, PER_WAVE_B = 4, 60, 12  # 240 to team A (30 each), 48 to team B (30 fit)


def config(url: str) -> str:
    agents = "".join(f'    "{n}": {{team: A, capacity: 100}}\n' for n in TEAM_A)
    agents += "".join(f'    "{n}": {{team: B, capacity: 10}}\n' for n in TEAM_B)
    return f"""
store: {{url: "{url}"}}
schedule: {{routing_tick_every: 1, sla_tick_every: 3600, dispatch_every: 3600, notify_every: 3600}}
routing:
  agents:
{agents}  teams: {{A: {{}}, B: {{}}}}
  rules:
    - {{name: team A, match: {{tags: [a]}}, team: A, method: round_robin}}
    - {{name: team B, match: {{tags: [b]}}, team: B, method: round_robin}}
"""


def add_wave(app: App, wave: int) -> None:
    """What an import does: the requests, and each one queued for routing in the same transaction."""
    now = datetime.now(UTC)
    with app.store.transaction() as s:
        for n, tag in enumerate(["a"] * PER_WAVE_A + ["b"] * PER_WAVE_B):
            ticket = TicketRow(number=f"CRM-{wave:02d}{n:03d}", type="other", priority="normal", channel="email",
                               source="external", status="new", created_at=now, tags=[tag])
            s.add(ticket)
            s.flush()
            s.add(RoutingQueueRow(ticket_id=ticket.id, queued=now))


def routed(app: App) -> bool:
    """Every request of the waves so far decided: assigned, or tried and waiting for room
    (by the workers' ``routing.tick`` jobs: this process routes nothing)."""
    with app.store.transaction() as s:
        untried = s.scalar(select(func.count()).select_from(RoutingQueueRow).where(RoutingQueueRow.tried.is_(None)))
        return untried == 0


def test_four_workers_route_hundreds_of_requests_never_over_capacity_each_once_and_fairly(pg_url: str, tmp_path: Path) -> None:
    cfg = tmp_path / "crm-bridge.yaml"
    cfg.write_text(config(pg_url), encoding="utf-8")
    app = App.from_file(cfg)
    log = (tmp_path / "workers.log").open("a", encoding="utf-8")
    workers: list[subprocess.Popen[bytes]] = []
    try:
        prepare_store(app)
        with app.store.transaction() as s:
            s.add_all(AgentRow(name=n, active=True) for n in TEAM_A + TEAM_B)
        env = {**os.environ, "COLUMNS": "200"}
        workers = [subprocess.Popen([*CLI, "-c", str(cfg), "worker", "--heartbeat", "0.5", "--name", f"w{i}"],
                                    cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT) for i in range(4)]
        for wave in range(WAVES):
            add_wave(app, wave)
            deadline = time.monotonic() + 90
            while not routed(app):
                assert all(w.poll() is None for w in workers), f"a worker exited; see {log.name}"
                assert time.monotonic() < deadline, f"wave {wave} not routed in 90 s; see {log.name}"
                time.sleep(0.2)
        with app.store.transaction() as s:
            names = {a.id: a.name for a in s.scalars(select(AgentRow))}
            load = Counter({names[int(a or 0)]: n for a, n in s.execute(
                select(TicketRow.assignee_id, func.count()).where(TicketRow.assignee_id.is_not(None))
                .group_by(TicketRow.assignee_id))})
            assigned_twice = s.execute(select(RoutingLogRow.ticket_id).where(RoutingLogRow.action == "assigned")
                                       .group_by(RoutingLogRow.ticket_id).having(func.count() > 1)).all()
            waiting = s.scalar(select(func.count()).select_from(RoutingQueueRow))
        assert assigned_twice == []
        assert all(load[n] <= 10 for n in TEAM_B), load  # the guard: never over capacity
        assert sum(load[n] for n in TEAM_B) == 30
        assert waiting == WAVES * PER_WAVE_B - 30  # the rest wait for room, not lost
        team_a = [load[n] for n in TEAM_A]
        assert sum(team_a) == WAVES * PER_WAVE_A
        assert max(team_a) / min(team_a) <= 1.05, team_a  # round robin across workers and restarts
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
        log.close()
        app.close()
