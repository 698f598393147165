"""SLA planning of imported requests: the set-based planner against the per-request path (issue #25).

    python benchmarks/sla_plan_bench.py [--requests 100000] [--naive 2000] [--store sqlite|postgresql|both]
                                        [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres] [--profile FILE]
                                        [--phases]

Each store gets ``--requests`` requests as an import leaves them: the row, its history
(``created``, for some a status change and a staff message), a binding to the 1C backend
(so every changed due date becomes a write-back row) and a row in ``sla_queue``. The demo
configuration's policies (Moscow office calendar with the production calendar, 24×7 for
urgent requests); the requests opened over the two months before the clock, so most are
past due (warnings, breaches, escalations in the ledger).

Measured in the same run on the same store:

* **planner**: ``sla.tick``'s ``plan_queued`` — every queued request planned, in chunks;
* **per-request**: the path a request takes alone (``facts_for``: ORM row, its events, its
  customer and team; ``evaluate``; ``record`` appending its ledger rows; the SLA fields
  set on the row object), on the first ``--naive`` requests of a fresh copy of the queue,
  one transaction per request, as the handler did before the queue existed.

With ``--phases`` the planner's CPU seconds are also split by phase (a CPU timer around
the clocks, the ledger INSERT, the outbox, the handlers, …): microseconds per request,
steadier than a profile on a loaded machine and without cProfile's bias against Python.

Printed: requests/s of both and their ratio, ledger rows per request, write-back rows per
request. Checked (exit status 1 otherwise): the queue is empty, every request has its
clock, and the planner's ledger for the naive sample equals the per-request path's
(metric, cycle, kind, at) — the same story, however it was written.
"""

from __future__ import annotations

import argparse
import cProfile
import random
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from adapters.onec.cli import demo_config  # noqa: E402
from crm_bridge.app import App, FrozenClock  # noqa: E402
from crm_bridge.events import Unit  # noqa: E402
from crm_bridge.store.bulk import bulk_insert  # noqa: E402
from crm_bridge.store.tables import TicketEventRow, TicketRow, core_table  # noqa: E402
from sla import engine as sla_engine  # noqa: E402
from sla.clock import evaluate  # noqa: E402
from sla.ledger import record  # noqa: E402
from sla.tables import SlaClockRow, SlaEventRow, SlaQueueRow  # noqa: E402
from sync.tables import BindingRow, OutboxRow  # noqa: E402

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
TYPES = ["technical_problem"] * 5 + ["consultation"] * 3 + ["feedback", "urgent", "other"]
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@dataclass
class Figures:
    store: str
    requests: int
    seconds: float
    ledger_rows: int
    outbox_rows: int
    naive_requests: int
    naive_seconds: float
    cpu: float  # the planner's CPU seconds (this process): steadier than wall time on a shared machine
    naive_cpu: float

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def naive_per_s(self) -> float:
        return self.naive_requests / self.naive_seconds if self.naive_seconds else 0.0


def seed(app: App, n: int, *, first_id: int = 1) -> list[int]:
    """`n` imported requests, each bound and queued (what ``sync.pull`` leaves for ``sla.tick``)."""
    rng = random.Random(25)
    tickets, events, bindings, queue = [], [], [], []
    for i in range(first_id, first_id + n):
        created = NOW - timedelta(seconds=rng.randrange(60 * 86400))
        status = rng.choice(["new", "new", "in_progress", "waiting_customer", "resolved"])
        tickets.append({"id": i, "number": f"CRM-{i:07d}", "subject": "Не работает печать", "type": rng.choice(TYPES),
                        "priority": rng.choice(["normal", "normal", "high", "low"]), "channel": "email",
                        "source": "external", "status": status, "created_at": created,
                        "resolved_at": created + timedelta(hours=30) if status == "resolved" else None})
        events.append({"ticket_id": i, "kind": "created", "at": created, "origin": "remote:onec",
                       "data": {"status": "new"}})
        if status != "new":
            events.append({"ticket_id": i, "kind": "status_changed", "at": created + timedelta(hours=3),
                           "origin": "remote:onec", "data": {"from": "new", "to": status}})
        if rng.random() < 0.5:
            events.append({"ticket_id": i, "kind": "message", "at": created + timedelta(hours=1), "origin": "remote:onec",
                           "data": {"author": "staff"}})
        bindings.append({"backend": "onec", "model": "ticket", "local_id": i, "remote_id": str(uuid.UUID(int=i)),
                         "remote_version": "AAAAAA==", "state": "active"})
        queue.append({"ticket_id": i, "token": rng.randrange(2**62), "queued": NOW, "reason": None})
    with app.store.transaction() as s:
        for table, rows in ((TicketRow, tickets), (TicketEventRow, events), (BindingRow, bindings), (SlaQueueRow, queue)):
            for start in range(0, len(rows), 5000):
                bulk_insert(s, core_table(table), rows[start:start + 5000])
    return list(range(first_id, first_id + n))


def plan_one_by_one(app: App, ids: list[int]) -> float:
    """The per-request path: a transaction, ORM rows and a ledger comparison per request."""
    settings = app.config.section("sla")
    started = time.perf_counter()
    for tid in ids:
        with app.store.transaction() as session:
            unit = app.bus.unit(session, NOW, app.config)
            ticket = session.get(TicketRow, tid)
            assert ticket is not None
            evaluation = evaluate(sla_engine.facts_for(unit, ticket), settings.policies, settings.calendar, NOW)
            record(session, tid, evaluation)
            fields = sla_engine._summary(evaluation, ticket)  # noqa: SLF001 - the same summary the planner writes
            for key, value in fields.items():
                setattr(ticket, key, value)
            session.add(SlaClockRow(ticket_id=tid, generation=1, policy=fields["sla_policy"], state=fields["sla_state"],
                                    next_check=evaluation.next_check))
            session.execute(text("DELETE FROM sla_queue WHERE ticket_id = :t"), {"t": tid})
            unit.complete()
    return time.perf_counter() - started


class Phases:
    """CPU seconds spent in some of the planner's functions (``--phases``)."""

    WRAPPED = (("evaluate", sla_engine, "evaluate"), ("facts", sla_engine, "_facts"), ("apply", sla_engine, "_apply"),
               ("ledger insert", sla_engine, "insert_events"), ("reads", sla_engine, "_rows"),
               ("ledger reads", sla_engine, "newest"), ("writes (ledger, clocks, SLA fields)", sla_engine._Writes, "write"),  # noqa: SLF001
               ("outbox and other deferred work", Unit, "complete"), ("handlers of published events", Unit, "publish"))

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.undo: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> Phases:
        for label, owner, name in self.WRAPPED:
            original = getattr(owner, name)
            self.undo.append((owner, name, original))
            setattr(owner, name, self._timed(label, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self.undo):
            setattr(owner, name, original)

    def _timed(self, label: str, function: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[label] = self.seconds.get(label, 0.0) + time.process_time() - started
        return timed


def story(app: App, ids: list[int]) -> list[tuple[Any, ...]]:
    with app.store.transaction() as s:
        return [tuple(r) for r in s.execute(select(SlaEventRow.ticket_id, SlaEventRow.metric, SlaEventRow.cycle,
                                                   SlaEventRow.kind, SlaEventRow.at)
                                            .where(SlaEventRow.ticket_id.in_(ids), SlaEventRow.kind != "recalculate")
                                            .order_by(SlaEventRow.ticket_id, SlaEventRow.metric, SlaEventRow.cycle,
                                                      SlaEventRow.at, SlaEventRow.kind))]


def run(store: str, url: str, n: int, naive: int, profile: str | None, *,
        phases: bool = False) -> tuple[Figures, list[str]]:
    problems: list[str] = []
    app = App.from_text(demo_config("http://127.0.0.1:9/odata/", Path("unused.db")).replace("sqlite:///unused.db", url),
                        clock=FrozenClock(NOW))
    try:
        app.upgrade_db()
        ids = seed(app, n)
        sample = ids[:naive]
        app.store.engine.dispose()
        profiler = cProfile.Profile() if profile else None
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        timers = Phases()
        if phases:
            with timers:
                planned, failed = sla_engine.plan_queued(app, NOW)
        else:
            planned, failed = sla_engine.plan_queued(app, NOW)
        if profiler:
            profiler.disable()
            profiler.dump_stats(f"{profile}.{store}")
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if phases:
            print(f"{store} planner, CPU per request by phase (nested: writes holds the ledger insert):")
            for label, spent in sorted(timers.seconds.items(), key=lambda item: -item[1]):
                print(f"  {label:<38} {spent / n * 1e6:6.1f} us")
            print(f"  {'total':<38} {cpu / n * 1e6:6.1f} us")
        with app.store.transaction() as s:
            left = s.scalar(select(func.count()).select_from(SlaQueueRow))
            clockless = n - (s.scalar(select(func.count()).select_from(SlaClockRow)) or 0)
            ledger = s.scalar(select(func.count()).select_from(SlaEventRow)) or 0
            outbox = s.scalar(select(func.count()).select_from(OutboxRow)) or 0
        if planned != n or failed or left or clockless:
            problems.append(f"{store}: planned {planned}, failed {failed}, {left} still queued, {clockless} without a clock")
        if not sample:  # --naive 0: the planner alone, nothing to compare with
            return Figures(store, n, seconds, ledger, outbox, 0, 0.0, cpu, 0.0), problems
        planner_story = story(app, sample)
        # The per-request path on the same requests, from scratch: their SLA rows gone, queued again.
        with app.store.transaction() as s:
            for table in ("sla_events", "sla_clocks", "outbox"):
                s.execute(text(f"DELETE FROM {table} WHERE {'local_id' if table == 'outbox' else 'ticket_id'} "  # noqa: S608
                               f"<= :last"), {"last": sample[-1]})
            s.execute(text("UPDATE tickets SET resolution_due = NULL, first_response_due = NULL, sla_policy = NULL, "
                           "sla_state = NULL, sla_breached = :no WHERE id <= :last"), {"no": False, "last": sample[-1]})
        naive_cpu = time.process_time()
        naive_seconds = plan_one_by_one(app, sample)
        naive_cpu = time.process_time() - naive_cpu
        if story(app, sample) != planner_story:
            problems.append(f"{store}: the planner's ledger differs from the per-request path's on the sample")
        return Figures(store, n, seconds, ledger, outbox, len(sample), naive_seconds, cpu, naive_cpu), problems
    finally:
        app.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=2_000, help="requests planned by the per-request path")
    parser.add_argument("--store", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--pg", default=PG_ADMIN, help="admin URL of a PostgreSQL server (a database is made and dropped)")
    parser.add_argument("--profile", help="write cProfile stats of the planner to FILE.<store>")
    parser.add_argument("--phases", action="store_true", help="print the planner's CPU per request by phase")
    args = parser.parse_args(argv)
    problems: list[str] = []
    results: list[Figures] = []
    with TemporaryDirectory() as folder:
        if args.store in ("sqlite", "both"):
            figures, found = run("sqlite", f"sqlite:///{folder}/plan.db", args.requests, args.naive, args.profile,
                                 phases=args.phases)
            results.append(figures)
            problems += found
        if args.store in ("postgresql", "both"):
            name = f"sla_plan_bench_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = make_url(args.pg).set(database=name).render_as_string(hide_password=False)
                figures, found = run("postgresql", url, args.requests, args.naive, args.profile, phases=args.phases)
                results.append(figures)
                problems += found
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    for f in results:
        naive = (f"per-request path: {f.naive_requests:,} in {f.naive_seconds:.2f} s = {f.naive_per_s:,.0f}/s "
                 f"(CPU {f.naive_cpu:.2f} s = {f.naive_requests / f.naive_cpu:,.0f}/s); "
                 f"ratio {f.per_s / f.naive_per_s if f.naive_per_s else 0:.1f}x; ") if f.naive_requests else ""
        print(f"{f.store:<10} planner: {f.requests:,} requests in {f.seconds:.2f} s = {f.per_s:,.0f}/s "
              f"(CPU {f.cpu:.2f} s = {f.requests / f.cpu:,.0f}/s); {naive}"
              f"ledger {f.ledger_rows / f.requests:.2f} rows/request; write-back {f.outbox_rows / f.requests:.2f} rows/request")
    for p in problems:
        print("PROBLEM:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
