"""Benchmark of the web addon: the supervisor dashboard on a large store: its data (``web.dashboard.dashboard``:
the lists, the KPI charts' SQL, the queues) and the page rendered from it, the same data
narrowed to November and one team (``web.view``: the period picker and team filter), the breached
list of a period alone (``web.breaches``: the SLA ledger's breaches in November and in 2026), and the volume
chart's SQL (``kpi.series.volume_per_day``) against the naive alternative in the same run —
read every request's opening time and channel into Python and count them per local day.

    python benchmarks/web_bench.py [--n 100000] [--months 24] [--seed 7] [--pg postgresql+psycopg://postgres@127.0.0.1/postgres]

The store is ``kpi_bench.build``'s (requests with their SLA ledger over ``months`` before
7 December 2026). Both volume answers are compared; a difference makes the exit status 1.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select, text

sys.path.insert(0, str(Path(__file__).parent))
from kpi_bench import MSK, NOW, build, on_both_stores  # noqa: E402 - the same store and options as the KPI benchmark

from crm_bridge.app import App, FrozenClock  # noqa: E402
from crm_bridge.store.tables import TicketRow  # noqa: E402
from kpi.period import parse_period  # noqa: E402
from kpi.series import volume_per_day  # noqa: E402
from web.breaches import breaches_in  # noqa: E402
from web.charts import DAYS, draw, recent_days  # noqa: E402
from web.dashboard import OPEN, dashboard  # noqa: E402
from web.i18n import MESSAGES  # noqa: E402
from web.pages import Pages  # noqa: E402
from web.view import DEFAULT, View, choices  # noqa: E402

SECRET = "b" * 40


def naive_volume(bridge: App) -> list[dict[str, int]]:
    """Every request's opening and channel read into Python, counted per local day."""
    period = recent_days(NOW, MSK, DAYS, "bench")
    first = period.start.date()
    counts: list[Counter[str]] = [Counter() for _ in range(DAYS)]
    with bridge.store.transaction() as s:
        for created, channel in s.execute(select(TicketRow.created_at, TicketRow.channel)
                                          .where(TicketRow.deleted.is_(False))):
            if period.start <= created < period.end:
                counts[(created.astimezone(MSK).date() - first).days][channel or "—"] += 1
    return [dict(c) for c in counts]


def run(label: str, url: str, n: int, seed: int, months: int) -> bool:
    bridge = App.from_text(f'timezone: Europe/Moscow\nstore: {{url: "{url}"}}\nlinks: {{secret: "{SECRET}"}}\n'
                           f'web: {{session_secret: "{SECRET}"}}\n', clock=FrozenClock(NOW))
    try:
        bridge.upgrade_db()
        began = time.perf_counter()
        build(bridge, n, seed, months)
        print(f"{label}: built {n:,} requests over {months} months in {time.perf_counter() - began:.1f} s")
        if bridge.store.engine.dialect.name == "postgresql":
            with bridge.store.engine.connect() as conn:
                conn.execute(text("ANALYZE"))
        config = bridge.config.section("kpi")
        began = time.perf_counter()
        with bridge.store.transaction() as s:
            by_sql = [counts for _, counts in volume_per_day(s, recent_days(NOW, MSK, DAYS, "bench"), MSK, config)]
        t_sql = time.perf_counter() - began
        began = time.perf_counter()
        by_python = naive_volume(bridge)
        t_python = time.perf_counter() - began
        began, cpu = time.perf_counter(), time.process_time()
        board = dashboard(bridge, NOW)
        t_data, c_data = time.perf_counter() - began, time.process_time() - cpu
        began = time.perf_counter()
        html = Pages(bridge.config.section("web")).render(
            "dashboard.html", "ru", here="/dashboard", csrf="x", user="lead", can_logout=True, zone="Europe/Moscow",
            board=board, chart="", statuses=OPEN, charts=draw(board["charts"], MESSAGES["ru"], "ru"),
            crm_link=lambda number: None, done=None, view=DEFAULT, typed={}, problem=None, known=choices(bridge),
            presets=[], share="/dashboard")
        t_page = time.perf_counter() - began
        november = View(parse_period("2026-11", MSK, NOW), team="L2")
        began, cpu = time.perf_counter(), time.process_time()
        dashboard(bridge, NOW, november)
        t_filtered, c_filtered = time.perf_counter() - began, time.process_time() - cpu
        ledger: list[tuple[str, int, float, float]] = []
        for label_ in ("2026-11", "2026"):
            began, cpu = time.perf_counter(), time.process_time()
            with bridge.store.transaction() as s:
                found = breaches_in(s, parse_period(label_, MSK, NOW), limit=20)
            ledger.append((label_, found.total, time.perf_counter() - began, time.process_time() - cpu))
    finally:
        bridge.close()
    print(f"{label}: volume per day, {DAYS} days (SQL)  {t_sql:6.3f} s")
    print(f"{label}: the same by a Python pass        {t_python:6.3f} s   ratio {t_python / t_sql:.1f}x")
    print(f"{label}: the dashboard's data             {t_data:6.3f} s   (charts, lists, queues; {c_data:.3f} CPU s here)")
    print(f"{label}: the page rendered from it        {t_page:6.3f} s   ({len(html) // 1024} KiB)")
    print(f"{label}: its data for 2026-11, team L2    {t_filtered:6.3f} s   (period and team filter; {c_filtered:.3f} CPU s here)")
    for period, total, wall, cpu in ledger:
        print(f"{label}: breached during {period:7s}          {wall:6.3f} s   ({total:,} breaches, the list's 20 and "
              f"the counts by team and agent; {cpu:.3f} CPU s here)")
    if by_sql != by_python:
        print(f"{label}: MISMATCH: SQL {by_sql}, Python {by_python}")
        return False
    print(f"{label}: both passes agree on {sum(sum(c.values()) for c in by_sql):,} requests of the last {DAYS} days")
    return True


def main(argv: list[str] | None = None) -> int:
    return on_both_stores(__doc__.split("\n\n")[0], run, "web", argv)

if __name__ == "__main__":
    sys.exit(main())
