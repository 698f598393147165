"""Decisions per second through the routing engine on a real store: ``routing.tick``
draining a queue of new requests, with the roster read, the capacity guard (the agent's
row locked, their load counted again), the assignment, the outbox event and the log.

    python benchmarks/routing_engine_bench.py [--store sqlite|postgresql ...] [--agents 500] [--open 100000] [--requests 5000]

Case: `agents` CRM users in teams of 50, each with skills (three, levels 1-5), a capacity
of 200-600, a fifth on the office calendar (off shift at the benchmark's instant, Monday
19:30), a twentieth away; `open` open requests spread over them as their load (bulk
inserted); then `requests` new requests queued, tagged with a random team whose rule is
round robin, least loaded or skills (by the team's number). Timed: ``routing_tick``
alone, then the naive alternative on the same store (count the team's open tickets per
agent at every decision, assign the least loaded, commit) over a few hundred more
requests, for the ratio. The exit status is 1 when a store misses 2,000 decisions/s
(issue #26, point 10). PostgreSQL: a fresh database on ``CRM_BRIDGE_TEST_PG`` (default the local
server), dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, create_engine, func, insert, select, text, update
from sqlalchemy.engine import make_url

from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import AgentRow, TicketRow, core_table
from routing.engine import routing_tick
from routing.tables import RoutingAgentRow, RoutingQueueRow

NOW = datetime(2026, 11, 23, 19, 30, tzinfo=ZoneInfo("Europe/Moscow"))  # a Monday evening
TYPES = ["technical_problem", "consultation", "feedback", "urgent", "other"]
SKILLS = ["1c-accounting", "edo", "payroll"]
METHODS = ["round_robin", "least_loaded", "skills"]
PG_ADMIN = os.environ.get("CRM_BRIDGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TEAM = 50
TARGET = 2_000.0  # decisions per second, issue #26 point 10


def config_text(url: str, agents: int, rng: random.Random) -> str:
    lines = [f'store: {{url: "{url}"}}', "routing:", "  agents:"]
    for i in range(agents):
        skills = ", ".join(f"{s}: {rng.randint(1, 5)}" for s in SKILLS)
        schedule = ", schedule: office" if rng.random() < 0.2 else ""
        lines.append(f'    "Agent {i}": {{team: T{i // TEAM}, capacity: {rng.randint(200, 600)}, skills: {{{skills}}}{schedule}}}')
    teams = (agents + TEAM - 1) // TEAM
    lines.append("  teams: {" + ", ".join(f"T{t}: {{}}" for t in range(teams)) + "}")
    lines.append("  rules:")
    for t in range(teams):
        method = METHODS[t % 3]
        need = ", skills: {1c-accounting: 2}" if method == "skills" else ""
        lines.append(f"    - {{name: r{t}, match: {{tags: [T{t}]}}, team: T{t}, method: {method}{need}}}")
    return "\n".join(lines) + "\n"


def seed(app: App, agents: int, open_total: int, requests: int, rng: random.Random) -> None:
    """The CRM's users, their open requests (bulk), the away ones, and the new requests queued."""
    teams = (agents + TEAM - 1) // TEAM
    with app.store.transaction() as s:
        s.execute(insert(core_table(AgentRow)), [{"id": i + 1, "name": f"Agent {i}", "active": True} for i in range(agents)])
        s.execute(insert(core_table(RoutingAgentRow)), [{"agent_id": i + 1, "status": "away", "since": NOW}
                                                        for i in range(agents) if rng.random() < 0.05])
        created = NOW - timedelta(days=3)
        rows = [{"number": f"OLD-{n}", "type": rng.choice(TYPES), "priority": "normal", "channel": "email",
                 "source": "external", "status": "in_progress", "assignee_id": rng.randrange(agents) + 1,
                 "created_at": created, "tags": [], "deleted": False} for n in range(open_total)]
        for start in range(0, len(rows), 10_000):
            s.execute(insert(core_table(TicketRow)), rows[start:start + 10_000])
        fresh = [{"id": open_total + n + 1, "number": f"NEW-{n}", "type": rng.choice(TYPES), "priority": "normal",
                  "channel": "email", "source": "external", "status": "new", "created_at": NOW - timedelta(minutes=n % 600),
                  "tags": [f"T{rng.randrange(teams)}"], "deleted": False} for n in range(requests)]
        s.execute(insert(core_table(TicketRow)), fresh)
        s.execute(insert(core_table(RoutingQueueRow)), [{"ticket_id": r["id"], "queued": NOW} for r in fresh])


@contextmanager
def store_url(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="routing-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'store.db'}"
        return
    name = f"crm_bridge_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def naive_rate(app: App, agents: int, requests: int, rng: random.Random) -> float:
    """Decisions per second of the naive alternative on the same store: per request, count
    the team's open tickets per agent (a query), take the least loaded, assign, commit —
    no eligibility, no log, no outbox: a floor for what "count per decision" costs."""
    teams = (agents + TEAM - 1) // TEAM
    first = 10_000_000
    with app.store.transaction() as s:
        s.execute(insert(core_table(TicketRow)), [
            {"id": first + n, "number": f"NAIVE-{n}", "type": "other", "priority": "normal", "channel": "email",
             "source": "external", "status": "new", "created_at": NOW, "tags": [], "deleted": False}
            for n in range(requests)])
    count = (select(TicketRow.assignee_id, func.count()).where(
        TicketRow.assignee_id.in_(bindparam("team", expanding=True)), TicketRow.deleted.is_(False),
        TicketRow.status.in_(["new", "in_progress", "waiting_customer"])).group_by(TicketRow.assignee_id))
    started = time.perf_counter()
    for n in range(requests):
        start = rng.randrange(teams) * TEAM
        team = list(range(start + 1, min(start + TEAM, agents) + 1))
        with app.store.transaction() as s:
            counts = dict(s.execute(count, {"team": team}).all())
            chosen = min(team, key=lambda a: counts.get(a, 0))
            s.execute(update(TicketRow).where(TicketRow.id == first + n).values(assignee_id=chosen))
    return requests / (time.perf_counter() - started)


def engine_rate(kind: str, agents: int, open_total: int, requests: int, seed_value: int, *,
                naive: int = 0) -> tuple[float, dict[str, int], float | None, float]:
    """(decisions per second of ``routing_tick``, its summary, the naive alternative's
    decisions per second over `naive` requests or None, decisions per second of this
    process's CPU time) on a fresh store of `kind`. The CPU rate is what the tick would
    reach with a core to itself (SQLite: all of its work; PostgreSQL: the client's share)."""
    rng = random.Random(seed_value)
    with store_url(kind) as url:
        app = App.from_text(config_text(url, agents, rng), clock=FrozenClock(NOW))
        try:
            app.upgrade_db()
            seed(app, agents, open_total, requests, rng)
            started, cpu = time.perf_counter(), time.process_time()
            summary = routing_tick(app, NOW)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            slow = naive_rate(app, agents, naive, rng) if naive else None
        finally:
            app.close()
    decided = int(summary["assigned"]) + int(summary["waiting"])
    return decided / elapsed, summary, slow, decided / cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--store", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if not report(args.store or ["sqlite", "postgresql"], args.agents, args.open, args.requests, args.seed):
        print(f"routing.tick missed its target of {TARGET:,.0f} decisions/s", file=sys.stderr)
        return 1
    return 0


def report(stores: list[str], agents: int, open_total: int, requests: int, seed_value: int, *,
           target: float = TARGET, naive: int = 300) -> bool:
    """Print each store's rate beside the naive alternative's; True when every store
    reached `target` decisions per second."""
    print(f"routing.tick through the store: {agents} agents, {open_total:,} open requests, {requests:,} new queued "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    met = True
    for kind in stores:
        rate, summary, slow, cpu = engine_rate(kind, agents, open_total, requests, seed_value, naive=naive)
        versus = f"; naive count-per-decision {slow:,.0f}/s, ratio {rate / slow:.1f}x" if slow else ""
        verdict = "met" if rate >= target else "MISSED"
        print(f"  engine, {kind:<11} {rate:>10,.0f} decisions/s  ({summary['assigned']:,} assigned, "
              f"{summary['waiting']:,} waiting{versus}) target {target:,.0f}/s {verdict}; "
              f"per CPU second of this process {cpu:,.0f}")
        met = met and rate >= target
    return met


if __name__ == "__main__":
    raise SystemExit(main())
