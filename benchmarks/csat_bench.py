"""Benchmark of the survey planner: resolved requests decided per second (survey, suppressed
as internal, capped per contact) by ``csat.planner.plan_surveys`` — one ``INSERT … SELECT``
over the store — against a per-request Python loop over the same rows, in the same run.

    python benchmarks/csat_bench.py [--requests 100000] [--store sqlite|URL]

The store holds `requests` requests resolved 3 h before now (one in twenty internal, one in
fifty without contact or customer) of `requests / 5` contacts, so the one-per-30-days cap
leaves one survey per contact. The naive side reads the candidates and, for each request,
asks whether its resolution has a survey and how many surveys its contact had, decides with
``csat.planner.decide`` and inserts the row — what a first implementation does. Each side
runs on its own copy of the data; the run fails when they decide differently.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import ContactRow, CustomerRow, TicketRow, core_table
from csat.planner import Candidate, decide, plan_surveys
from csat.settings import CsatConfig
from csat.tables import SurveyRow

NOW = datetime(2027, 1, 11, 15, 0, tzinfo=ZoneInfo("Europe/Moscow"))
CONFIG = """store: {{url: "{url}"}}
links: {{secret: "{secret}"}}
csat: {{enabled: false, delay: 2h, window: 7d, max_per_contact: 1 per 30d}}
"""


def seed(app: App, n: int) -> None:
    contacts = max(1, n // 5)
    with app.store.transaction() as s:
        s.execute(insert(core_table(CustomerRow)), [{"name": f"Customer {i}", "deleted": False} for i in range(contacts // 10 + 1)])
        first_customer = s.scalar(select(func.min(CustomerRow.id))) or 1
        s.execute(insert(core_table(ContactRow)), [{"name": f"Contact {i}", "customer_id": first_customer + i // 10,
                                                     "email": f"c{i}@example.ru", "deleted": False} for i in range(contacts)])
        first_contact = s.scalar(select(func.min(ContactRow.id))) or 1
        rows = []
        for i in range(n):
            nobody = i % 50 == 49
            rows.append({"number": f"CRM-{i:07d}", "subject": "", "description": "", "type": "other", "priority": "normal",
                         "channel": "email", "source": "internal" if i % 20 == 0 else "external", "status": "resolved",
                         "customer_id": None if nobody else first_customer + (i % contacts) // 10,
                         "contact_id": None if nobody else first_contact + i % contacts, "co_executors": [], "tags": [],
                         "created_at": NOW - timedelta(days=1), "resolved_at": NOW - timedelta(hours=3, seconds=i),
                         "sla_breached": False, "deleted": False, "created": NOW, "updated": NOW})
        for start in range(0, n, 10_000):
            s.execute(insert(core_table(TicketRow)), rows[start:start + 10_000])


def in_sql(app: App, config: CsatConfig) -> tuple[float, dict[int, str]]:
    started = time.perf_counter()
    with app.store.transaction() as s:
        written = plan_surveys(s, config, NOW)
    return time.perf_counter() - started, {ticket: state for _, ticket, state in written}


def one_at_a_time(app: App, config: CsatConfig) -> tuple[float, dict[int, str]]:
    started = time.perf_counter()
    out: dict[int, str] = {}
    with app.store.transaction() as s:
        tickets = s.execute(select(TicketRow.id, TicketRow.status, TicketRow.source, TicketRow.resolved_at,
                                   TicketRow.contact_id, TicketRow.customer_id)
                            .where(TicketRow.status.in_(("resolved", "closed")), TicketRow.deleted.is_(False))
                            .order_by(TicketRow.resolved_at, TicketRow.id)).all()
        for t in tickets:
            if s.scalar(select(SurveyRow.id).where(SurveyRow.ticket_id == t.id, SurveyRow.resolved_at == t.resolved_at)):
                continue
            key = f"contact:{t.contact_id}" if t.contact_id else (f"customer:{t.customer_id}" if t.customer_id else None)
            before = s.scalar(select(func.count()).select_from(SurveyRow).where(
                SurveyRow.contact_key == key, SurveyRow.state == "sent",
                SurveyRow.planned_at > NOW - config.max_per_contact.period)) or 0
            decided = decide(Candidate(t.id, t.status, t.source, t.resolved_at, key), config, NOW, before)
            if decided is None:
                continue
            state, reason = decided
            s.add(SurveyRow(ticket_id=t.id, resolved_at=t.resolved_at, contact_key=key, state=state, reason=reason,
                            planned_at=NOW, expires_at=NOW + config.window if state == "sent" else None, changes=0))
            s.flush()
            out[t.id] = state
    return time.perf_counter() - started, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "s.db"
        text = CONFIG.format(url=f"sqlite:///{db}", secret="s" * 40)
        app = App.from_text(text, clock=FrozenClock(NOW))
        app.upgrade_db()
        seed(app, args.requests)
        app.close()
        shutil.copy(db, Path(folder) / "naive.db")
        app = App.from_text(text, clock=FrozenClock(NOW))
        naive_app = App.from_text(CONFIG.format(url=f"sqlite:///{Path(folder) / 'naive.db'}", secret="s" * 40),
                                  clock=FrozenClock(NOW))
        try:
            config: CsatConfig = app.config.section("csat")
            ours, mine = in_sql(app, config)
            naive, theirs = one_at_a_time(naive_app, config)
        finally:
            app.close()
            naive_app.close()
    if mine != theirs:
        differ = [t for t in set(mine) | set(theirs) if mine.get(t) != theirs.get(t)]
        print(f"the two sides decided {len(differ)} requests differently, e.g. {differ[:5]}", file=sys.stderr)
        return 1
    counts = Counter(mine.values())
    print(f"{args.requests:,} resolved requests: {counts['sent']:,} surveys, {counts['suppressed']:,} suppressed, "
          f"{counts['capped']:,} capped (SQLite)")
    print(f"crm-bridge (one INSERT … SELECT): {args.requests / ours:,.0f} requests/s ({ours:.2f} s); per-request loop: "
          f"{args.requests / naive:,.0f} requests/s ({naive:.2f} s); ratio {naive / ours:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
