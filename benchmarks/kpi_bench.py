"""Benchmark of ``crm-bridge kpi report`` (SQL on the store) against what a user's script
would do: read the requests and their SLA ledger into Python and loop over them.

    python benchmarks/kpi_bench.py [--n 100000] [--months 24] [--seed 7] [--pg postgresql+psycopg://postgres@127.0.0.1/postgres]
                                   [--keep NAME]   # keep the stores, reuse them next time (1,000,000 take minutes to build)

A store of ``n`` requests opened over the ``months`` before 7 December 2026 (a store keeps
its history: the report reads one month of it; ``--months 4`` crowds a third of the
requests into November) (5 teams, 40 agents, 2,000
customers, each request with its ledger rows: first response, resolution cycles, breaches,
reopens, a stale generation on some; and its history: ``created``, ``status_changed`` on
resolution, up to three customer ``message`` events, one in ten of them a repeat contact
intake attached — ``repeat: true``) is built on SQLite (and on PostgreSQL with ``--pg``:
a scratch database is created and dropped). Measured in the same run, for November by team:

* ``kpi.queries.kpi_report`` — every KPI, the total and agent load included;
* a pure-Python pass: one SELECT of the requests and one of the ledger (no N+1), then a
  loop computing the same figures (volume, first response and resolution percentiles,
  SLA compliance, backlog, reopens, repeat contacts — intake's repeat messages too — cost)
  with dicts and ``sorted``.

Both answers are compared (counts and percentiles per team); a difference makes the exit
status 1. Prints both times (wall, and on SQLite the CPU seconds of this process, which
runs the database too: the figure to read on a loaded machine) and the ratio, then the
supervisor dashboard's time for the default 30 days (its data and its page) and the load
average. The store is written in bulk (``COPY`` on PostgreSQL, ``executemany`` on SQLite).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import (
    AgentRow,
    CustomerRow,
    TeamRow,
    TicketEventRow,
    TicketRow,
    core_table,
)
from kpi.figures import TOTAL
from kpi.period import parse_period
from kpi.queries import PG_SETTINGS, KpiRow, kpi_report
from kpi.settings import KpiConfig
from sla.tables import SlaClockRow, SlaEventRow

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 12, 7, 12, 0, tzinfo=MSK)
LAST = datetime(2026, 12, 7, tzinfo=MSK)
TYPES = ("technical_problem", "consultation", "feedback", "urgent")
CHANNELS = ("email", "phone", "chat", "web", "social")
SUBJECTS = ("Не печатается счёт", "Ошибка обмена", "Как выгрузить отчёт", "Доступ", "Спасибо")
CONFIG = KpiConfig.model_validate({"cost": {"hourly": 1000, "teams": {"L2": 1800}, "agents": {"Agent 7": 2500}}})
H = 3600.0
SECRET = "b" * 40
REPEAT = 3  # runs of the SQL report; the median is shown  # the dashboard's config needs a links and a session secret


def build(bridge: App, n: int, seed: int, months: int) -> int:
    """Fill the store with `n` requests and their ledger; returns the number of ledger rows.

    Generated as tuples of UTC epoch seconds (no ORM objects, no per-row dicts) and written
    in bulk: ``COPY … FROM STDIN`` on PostgreSQL, the driver's ``executemany`` on SQLite —
    1,000,000 requests in about a minute instead of the quarter hour per-row dicts took."""
    rnd = random.Random(seed)
    random_, uniform, randint, choice = rnd.random, rnd.uniform, rnd.randint, rnd.choice
    first = (LAST - timedelta(days=30.4 * months)).timestamp()
    span = LAST.timestamp() - first
    now = NOW.timestamp()
    assignees = (None, *range(1, 41))
    tickets: list[tuple[Any, ...]] = []
    ledger: list[tuple[Any, ...]] = []
    clocks: list[tuple[int, int]] = []
    history: list[tuple[Any, ...]] = []  # ticket_id, kind, at, origin, data (JSON text)
    add = event = ledger.append
    for tid in range(1, n + 1):
        opened = first + uniform(0, span)
        # a desk's history: nearly every request is resolved within days, 4% are cancelled,
        # one in 500 is forgotten open; the open ones are the recent ones (their resolution
        # is still ahead) — the backlog a real store keeps, not a sixth of its history
        fate = random_()
        resolved = opened + uniform(1, 200) * H if fate < 0.958 else None
        if resolved is not None and resolved > now:
            resolved = None
        status = ("resolved" if resolved else "cancelled" if 0.958 <= fate < 0.998
                  else choice(("new", "in_progress", "waiting_customer")))
        tickets.append((tid, f"CRM-{tid:07d}", randint(1, 5), choice(assignees), randint(1, 2000), choice(TYPES),
                        choice(CHANNELS), choice(SUBJECTS), status, opened, resolved))
        history.append((tid, "created", opened, "remote:bench", "{}"))
        if resolved is not None:
            history.append((tid, "status_changed", resolved, "remote:bench", '{"from": "in_progress", "to": "resolved"}'))
        for _ in range(choice((0, 0, 1, 1, 2, 3))):  # the customer's messages while it was open
            said = opened + uniform(0, (resolved or now) - opened)
            repeat = "true" if random_() < 0.1 else "false"
            history.append((tid, "message", said, "intake", f'{{"author": "customer", "repeat": {repeat}}}'))
        generation = 2 if random_() < 0.05 else 1
        if generation == 2:  # a stale story the readers must skip
            add((tid, 1, "first_response", 1, "fulfil", opened, 99999.0, 99999.0))
        clocks.append((tid, generation))
        if random_() < 0.9:
            wait = uniform(60, 8 * H)
            if random_() < 0.15:
                event((tid, generation, "first_response", 1, "breach", opened + wait / 2, wait / 2, wait / 2))
            event((tid, generation, "first_response", 1, "fulfil", opened + wait, wait * 0.6, wait))
        if resolved is not None:
            cycles = 1 + (random_() < 0.06) + (random_() < 0.02)
            start = opened
            step = (resolved - opened) / cycles
            for cycle in range(1, cycles + 1):
                end = start + step * 0.8
                if cycle > 1:
                    event((tid, generation, "resolution", cycle, "reopen", start, 0.0, 0.0))
                spent = end - start
                if random_() < 0.2:
                    event((tid, generation, "resolution", cycle, "breach", start + spent / 2, spent / 4, spent / 2))
                event((tid, generation, "resolution", cycle, "fulfil", end if cycle < cycles else resolved, spent * 0.3, spent))
                start = start + step
    with bridge.store.transaction() as s:
        s.execute(insert(core_table(TeamRow)), [{"id": i, "name": f"L{i}"} for i in range(1, 6)])
        s.execute(insert(core_table(AgentRow)), [{"id": i, "name": f"Agent {i}", "team_id": 1 + i % 5, "active": True}
                                                 for i in range(1, 41)])
        s.execute(insert(core_table(CustomerRow)), [{"id": i, "name": f"Customer {i}", "deleted": False} for i in range(1, 2001)])
    _bulk(bridge, tickets, ledger, clocks, history)
    return len(ledger)


_TICKET_COLUMNS = ("id", "number", "team_id", "assignee_id", "customer_id", "type", "channel", "subject", "status",
                   "created_at", "resolved_at", "source", "priority", "description", "co_executors", "tags",
                   "sla_breached", "deleted", "created", "updated")
_EVENT_COLUMNS = ("ticket_id", "generation", "metric", "cycle", "kind", "at", "business_seconds", "calendar_seconds",
                  "data", "recorded")


def _bulk(bridge: App, tickets: list[tuple[Any, ...]], ledger: list[tuple[Any, ...]], clocks: list[tuple[int, int]],
          history: list[tuple[Any, ...]]) -> None:
    """Write the generated rows through the driver: COPY on PostgreSQL, executemany on SQLite."""
    postgres = bridge.store.engine.dialect.name == "postgresql"
    if postgres:
        def instant(x: float | None) -> Any:
            return None if x is None else datetime.fromtimestamp(x, UTC)
    else:
        def instant(x: float | None) -> Any:  # the text UTCDateTime writes on SQLite
            return None if x is None else datetime.fromtimestamp(x, UTC).isoformat(" ", "microseconds")[:-6]
    stamp = instant(NOW.timestamp())
    false = False if postgres else 0
    rows = {
        "tickets": (_TICKET_COLUMNS, ((*t[:9], instant(t[9]), instant(t[10]), "external", "normal", "", "[]", "[]", false,
                                       false, stamp, stamp) for t in tickets)),
        "sla_clocks": (("ticket_id", "generation", "updated"), ((*c, stamp) for c in clocks)),
        "sla_events": (_EVENT_COLUMNS, ((*e[:5], instant(e[5]), e[6], e[7], "{}", stamp) for e in ledger)),
        "ticket_events": (("ticket_id", "kind", "at", "origin", "data", "recorded"),
                          ((h[0], h[1], instant(h[2]), h[3], h[4], stamp) for h in history)),
    }
    raw = bridge.store.engine.raw_connection()
    try:
        cursor = raw.cursor()
        if not postgres:  # the store's connections run in autocommit: one transaction, not one per row
            cursor.execute("BEGIN IMMEDIATE")
        for table, (columns, values) in rows.items():
            if postgres:
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                    for row in values:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(columns))
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values)
        raw.commit()
    finally:
        raw.close()


def _rank(values: list[float], percent: int) -> float | None:
    ordered = sorted(values)
    return ordered[(len(ordered) * percent + 99) // 100 - 1] if ordered else None


def naive(bridge: App) -> dict[str, dict[str, Any]]:
    """What a script would do: every request and ledger row into Python, then loops — for
    every figure the SQL report gives (per team and in total, the agent load, the volume by
    channel and source), so both answers can be compared one by one."""
    period = parse_period("2026-11", MSK, NOW)
    start, end, cut = period.start, period.end, period.cut(NOW)
    with bridge.store.transaction() as s:
        teams = dict(s.execute(select(TeamRow.id, TeamRow.name)).all())
        agents = dict(s.execute(select(AgentRow.id, AgentRow.name)).all())
        tickets = s.execute(select(TicketRow.id, TicketRow.team_id, TicketRow.assignee_id, TicketRow.customer_id, TicketRow.type,
                                   TicketRow.subject, TicketRow.status, TicketRow.created_at, TicketRow.resolved_at,
                                   TicketRow.closed_at, TicketRow.channel, TicketRow.source, TicketRow.sla_breached)
                            .where(TicketRow.deleted.is_(False))).all()
        generation = dict(s.execute(select(SlaClockRow.ticket_id, SlaClockRow.generation)).all())
        events = s.execute(select(SlaEventRow.ticket_id, SlaEventRow.generation, SlaEventRow.metric, SlaEventRow.cycle,
                                  SlaEventRow.kind, SlaEventRow.at, SlaEventRow.business_seconds,
                                  SlaEventRow.calendar_seconds)).all()
        messages = s.execute(select(TicketEventRow.ticket_id, TicketEventRow.at, TicketEventRow.data)
                             .where(TicketEventRow.kind == "message")).all()
    marked: dict[int, int] = defaultdict(int)  # intake's repeat contacts in the period, per request
    for m in messages:
        if (m.data or {}).get("repeat") is True and start <= m.at < end:
            marked[m.ticket_id] += 1
    by_ticket: dict[int, list[Any]] = defaultdict(list)
    for e in events:
        if generation.get(e.ticket_id) == e.generation:
            by_ticket[e.ticket_id].append(e)
    out: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(list))
    volume: dict[str, int] = defaultdict(int)
    last_seen: dict[tuple[Any, ...], datetime] = {}
    window = timedelta(days=CONFIG.repeat_within_days)
    for t in sorted(tickets, key=lambda t: (t.created_at, t.id)):
        topic_key = (t.customer_id, t.type, t.subject.lower().replace("re:", "").replace("fwd:", "").replace("fw:", "").strip())
        previous = last_seen.get(topic_key)
        last_seen[topic_key] = t.created_at
        team = teams.get(t.team_id, "—")
        agent = agents.get(t.assignee_id, "—")
        g, total, load = out[team], out[TOTAL], out[f"agent {agent}"]
        if start <= t.created_at < end:
            for x in (g, total, load):
                x["created"].append(t.id)
            volume[f"channel {t.channel}"] += 1
            volume[f"source {t.source}"] += 1
            if t.customer_id is not None:
                for x in (g, total):
                    x["repeat_base"].append(t.id)
                if previous is not None and t.created_at - previous <= window:
                    for x in (g, total):
                        x["repeats"].append(t.id)
        if marked.get(t.id):
            for x in (g, total):
                x["repeat_base"].extend([t.id] * marked[t.id])
                x["repeats"].extend([t.id] * marked[t.id])
        rows = by_ticket.get(t.id, [])
        for e in rows:
            if e.metric == "first_response" and e.kind == "fulfil" and e.cycle == 1 and start <= e.at < end:
                for x in (g, total):
                    x["fr"].append(e.business_seconds)
                    x["fr_c"].append(e.calendar_seconds)
        cycles: dict[tuple[str, int], list[Any]] = defaultdict(list)
        for e in rows:
            cycles[(e.metric, e.cycle)].append(e)
        for (metric, _), evs in cycles.items():
            ended = [e.at for e in evs if e.kind == "fulfil"]
            if ended and start <= max(ended) < end:
                for x in (g, total):
                    x[f"ended_{metric}"].append(1)
                    if not any(e.kind == "breach" for e in evs):
                        x[f"met_{metric}"].append(1)
        if t.resolved_at is not None and start <= t.resolved_at < end:
            for x in (g, total, load):
                x["resolved"].append(t.id)
            res = [e for e in rows if e.metric == "resolution"]
            spent = [e.business_seconds for e in res if e.kind == "fulfil"]
            reopens = sum(e.kind == "reopen" for e in res)
            if spent:
                rate = CONFIG.cost.agents.get(agents.get(t.assignee_id) or "", CONFIG.cost.teams.get(team, CONFIG.cost.hourly or 0))
                for x in (g, total, load):
                    x["hours"].append(sum(spent) / H)
                for x in (g, total):
                    x["res"].append(sum(spent))
                    x["res_c"].append(sum(e.calendar_seconds for e in res if e.kind == "fulfil"))
                    x["cost"].append(sum(spent) / H * rate)
            if spent or reopens:
                for x in (g, total):
                    x["reopens"].append(reopens)
                    if reopens:
                        x["reopened"].append(t.id)
        finished = t.resolved_at or t.closed_at
        if t.created_at < cut and t.status != "cancelled" and (
                t.status in ("new", "in_progress", "waiting_customer") or finished is None or finished >= cut):
            for x in (g, total, load):
                x["backlog"].append((cut - t.created_at).total_seconds())
            if t.sla_breached:
                for x in (g, total):
                    x["breached_open"].append(t.id)
    report = {key: {"created": len(g["created"]), "resolved": len(g["resolved"]), "backlog": len(g["backlog"]),
                    "worked_hours": sum(g["hours"])} if key.startswith("agent ") else
              {"created": len(g["created"]), "resolved": len(g["resolved"]),
               "fr_median": _rank(g["fr"], 50), "fr_p90": _rank(g["fr"], 90),
               "fr_c_median": _rank(g["fr_c"], 50), "fr_c_p90": _rank(g["fr_c"], 90),
               "res_median": _rank(g["res"], 50), "res_p90": _rank(g["res"], 90),
               "res_c_median": _rank(g["res_c"], 50), "res_c_p90": _rank(g["res_c"], 90),
               "fr_met": (len(g["ended_first_response"]), len(g["met_first_response"])),
               "res_met": (len(g["ended_resolution"]), len(g["met_resolution"])),
               "backlog": len(g["backlog"]), "age_median": _rank(g["backlog"], 50), "age_p90": _rank(g["backlog"], 90),
               "breached_open": len(g["breached_open"]), "reopened": len(g["reopened"]), "reopens": sum(g["reopens"]),
               "repeats": len(g["repeats"]), "repeat_base": len(g["repeat_base"]), "cost": sum(g["cost"]),
               "worked_hours": sum(g["hours"])}
              for key, g in out.items()}
    report["volume"] = dict(volume)
    return report


def sql(bridge: App) -> dict[str, dict[str, Any]]:
    with bridge.store.transaction() as s:
        report = kpi_report(s, parse_period("2026-11", MSK, NOW), NOW, CONFIG, by=("team",))

    def figures(r: KpiRow) -> dict[str, Any]:
        fr, res = r.sla.get("first_response"), r.sla.get("resolution")
        return {"created": r.created, "resolved": r.resolved, "fr_median": r.first_response.business_median,
                "fr_p90": r.first_response.business_p90, "fr_c_median": r.first_response.calendar_median,
                "fr_c_p90": r.first_response.calendar_p90, "res_median": r.resolution.business_median,
                "res_p90": r.resolution.business_p90, "res_c_median": r.resolution.calendar_median,
                "res_c_p90": r.resolution.calendar_p90, "fr_met": (fr.ended, fr.met) if fr else (0, 0),
                "res_met": (res.ended, res.met) if res else (0, 0), "backlog": r.backlog,
                "age_median": r.backlog_age_median, "age_p90": r.backlog_age_p90, "breached_open": r.breached_open,
                "reopened": r.reopened, "reopens": r.reopens, "repeats": r.repeats, "repeat_base": r.repeat_base,
                "cost": r.cost_total or 0.0, "worked_hours": r.worked_hours}
    got = {r.key[0]: figures(r) for r in [*report.rows, report.total]}
    got.update({f"agent {r.key[0]}": {"created": r.created, "resolved": r.resolved, "backlog": r.backlog,
                                      "worked_hours": r.worked_hours} for r in report.load})
    got["volume"] = {f"{name} {value}": n for name, counts in report.volume.items() for value, n in counts.items()}
    return got


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(a - b) <= max(1.0, abs(b) * 1e-6)
    return bool(a == b)


def dashboard_times(bridge: App) -> tuple[float, float, int]:
    """The supervisor dashboard for the default 30 days at ``NOW``: seconds for its data
    (``web.dashboard.dashboard``: charts' SQL, lists, queues) and for the page rendered from
    it, and the page's size in bytes."""
    from web.charts import draw  # the web addon sits above kpi: imported only to time its page
    from web.dashboard import OPEN, dashboard
    from web.i18n import MESSAGES
    from web.pages import Pages
    from web.view import DEFAULT, choices

    began = time.perf_counter()
    board = dashboard(bridge, NOW)
    t_data = time.perf_counter() - began
    began = time.perf_counter()
    html = Pages(bridge.config.section("web")).render(
        "dashboard.html", "ru", here="/dashboard", csrf="x", user="lead", can_logout=True, zone="Europe/Moscow",
        board=board, chart="", statuses=OPEN, charts=draw(board["charts"], MESSAGES["ru"], "ru"),
        crm_link=lambda number: None, done=None, view=DEFAULT, typed={}, problem=None, known=choices(bridge),
        presets=[], share="/dashboard")
    return t_data, time.perf_counter() - began, len(html)


_TICK = os.sysconf("SC_CLK_TCK")


def server_cpu(bridge: App) -> float | None:
    """CPU seconds so far of the PostgreSQL backends serving the store's database, read from
    ``/proc`` (the server runs on this machine; None when it does not). A backend's parallel
    workers are processes of their own: measure with ``max_parallel_workers_per_gather = 0``."""
    with bridge.store.engine.connect() as conn:
        pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND backend_type = 'client backend'")).scalars().all()
    total = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        except OSError:
            return None
        fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": utime and stime are fields 11 and 12
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def _both_cpu(bridge: App, call: Callable[[], Any]) -> float | None:
    """`call()`'s CPU seconds in this process and in the PostgreSQL server together."""
    before, cpu = server_cpu(bridge), time.process_time()
    call()
    after = server_cpu(bridge)
    return None if before is None or after is None else time.process_time() - cpu + after - before


def _timed(call: Callable[[], Any]) -> tuple[Any, float, float]:
    """`call()`, its wall seconds and this process's CPU seconds (on SQLite the database
    works inside this process, so CPU is the whole cost; on PostgreSQL only the client's)."""
    wall, cpu = time.perf_counter(), time.process_time()
    got = call()
    return got, time.perf_counter() - wall, time.process_time() - cpu


def run(label: str, url: str, n: int, seed: int, months: int) -> bool:
    bridge = App.from_text(f'timezone: Europe/Moscow\nstore: {{url: "{url}"}}\nlinks: {{secret: "{SECRET}"}}\n'
                           f'web: {{session_secret: "{SECRET}"}}\n', clock=FrozenClock(NOW))
    sqlite = url.startswith("sqlite")
    try:
        bridge.upgrade_db()
        with bridge.store.transaction() as s:
            held = s.execute(select(func.count()).select_from(TicketRow)).scalar_one()
        if held == n:  # a store kept by --keep: built by an earlier run with these options
            print(f"{label}: reused the kept store of {n:,} requests")
        else:
            rows, t_build, _ = _timed(lambda: build(bridge, n, seed, months))
            print(f"{label}: built {n:,} requests over {months} months, {rows:,} ledger rows in {t_build:.1f} s")
        if not sqlite:  # what autovacuum does to a live store: statistics, and the visibility map index-only scans need
            with bridge.store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        runs = [_timed(lambda: sql(bridge)) for _ in range(REPEAT)]  # the median run: the first pays for cold pages
        by_sql, t_sql, c_sql = sorted(runs, key=lambda r: r[2] if sqlite else r[1])[REPEAT // 2]  # PostgreSQL: wall
        both_sql = both_python = None
        if not sqlite:  # CPU in both processes, parallel workers off (theirs is not counted): the load-proof figure
            PG_SETTINGS["max_parallel_workers_per_gather"] = "0"
            try:
                both_sql = sorted(_both_cpu(bridge, lambda: sql(bridge)) or 0.0 for _ in range(REPEAT))[REPEAT // 2]
            finally:
                del PG_SETTINGS["max_parallel_workers_per_gather"]
        before = None if sqlite else server_cpu(bridge)
        by_python, t_python, c_python = _timed(lambda: naive(bridge))
        after = None if sqlite else server_cpu(bridge)
        if before is not None and after is not None:  # its plain SELECTs: a parallel worker's share is not counted
            both_python = c_python + after - before
        t_data, t_page, size = dashboard_times(bridge)
    finally:
        bridge.close()
    load = os.getloadavg()[0]
    print(f"{label}: kpi report (SQL)  {t_sql:6.2f} s" + (f"   CPU {c_sql:6.2f} s" if sqlite else "")
          + f"   (the median of {REPEAT} runs: " + ", ".join(f"{w:.2f}" + (f"/{c:.2f}" if sqlite else "") for _, w, c in runs)
          + (" s wall/CPU)" if sqlite else " s)"))
    print(f"{label}: Python loop       {t_python:6.2f} s" + (f"   CPU {c_python:6.2f} s" if sqlite else "")
          + f"   ratio {t_python / t_sql:.1f}x" + (f" (CPU {c_python / c_sql:.1f}x)" if sqlite else ""))
    if both_sql and both_python:
        print(f"{label}: CPU of this process and the server together (parallel workers off, median of {REPEAT}): "
              f"report {both_sql:.2f} s, Python pass {both_python:.2f} s, ratio {both_python / both_sql:.1f}x")
    print(f"{label}: dashboard, 30 days: data {t_data:.2f} s, page {t_page:.3f} s ({size // 1024} KiB)")
    print(f"{label}: load average {load:.1f} on {os.cpu_count()} CPUs at the end")
    found = [key for key, figs in by_python.items() if any(figs.values())]  # an agent with nothing is not listed
    wrong = [(key, k, v, by_python.get(key, {}).get(k)) for key in sorted({*by_sql, *found})
             for k, v in {**by_python.get(key, {}), **by_sql.get(key, {})}.items()
             if not _same(by_sql.get(key, {}).get(k), by_python.get(key, {}).get(k))]
    for team, key, got, want in wrong[:10]:
        print(f"{label}: MISMATCH {team} {key}: SQL {got!r}, Python {want!r}")
    if not wrong:
        print(f"{label}: both passes agree on all {sum(map(len, by_sql.values()))} figures of {len(by_sql) - 1} rows "
              "(teams, total, agents) and the volume by channel and source")
    return not wrong


def on_both_stores(description: str, run: Callable[[str, str, int, int, int], bool], prefix: str,
                   argv: Sequence[str] | None = None, *, reusable: bool = False) -> int:
    """Parse the benchmarks' common options and `run(label, url, n, seed, months)` on a
    SQLite file and, with ``--pg``, on a scratch PostgreSQL database; 1 when a run failed.
    `reusable`: offer ``--keep NAME`` (a `run` that skips building a store already full)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=24, help="the months of history the requests are spread over")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg", help="a PostgreSQL admin URL: also run on a scratch database there")
    if reusable:
        parser.add_argument("--keep", metavar="NAME",
                            help="keep the stores (NAME.db in the temp dir, database NAME on --pg) and, when they "
                                 "already hold --n requests, time them without building again (1,000,000 take minutes)")
    args = parser.parse_args(argv)
    args.keep = getattr(args, "keep", None)
    ok = True
    if args.keep:
        ok &= run("SQLite", f"sqlite:///{Path(tempfile.gettempdir()) / f'{args.keep}.db'}", args.n, args.seed, args.months)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            ok &= run("SQLite", f"sqlite:///{Path(tmp) / f'{prefix}.db'}", args.n, args.seed, args.months)
    if args.pg:
        name = args.keep or f"{prefix}_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}).first():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            ok &= run("PostgreSQL", make_url(args.pg).set(database=name).render_as_string(hide_password=False),
                      args.n, args.seed, args.months)
        finally:
            if not args.keep:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return 0 if ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    return on_both_stores(__doc__.split("\n\n")[0], run, "kpi", argv, reusable=True)

if __name__ == "__main__":
    sys.exit(main())
