"""Benchmark of the preferences step of notify's outbox: customer notifications decided per
second (effective preferences + ``plan``) for a page of events, against looking each
contact's preferences up on its own, in the same run.

    python benchmarks/notify_prefs_bench.py [--contacts 5000] [--page 1000]

A SQLite store holds `contacts` contacts (a third with preferences of their own, daily at
09:00 with quiet hours; one in ten opted out of e-mail); one event per contact.

* crm-bridge: ``notify.prefs_store.effective_many`` for each page of `page` events (as the
  outbox does for an import's page: three queries a page), then ``notify.prefs.plan``;
* naive: the same functions asked for one contact at a time (three queries an event).

Both sides must decide the same rows; the run fails otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import ContactRow, CustomerRow
from notify.prefs import Delivery, plan
from notify.prefs_store import Target, effective_many, opt_out, save

NOW = datetime(2027, 1, 11, 15, 0, tzinfo=ZoneInfo("Europe/Moscow"))
CONFIG = """store: {{url: "sqlite:///{db}"}}
notify:
  email: {{host: 127.0.0.1, tls: none, from: "support@example.ru"}}
  customer: {{segments: {{international: {{language: en, timezone: Europe/London, frequency: hourly}}}}}}
"""


def seed(app: App, n: int) -> None:
    with app.store.transaction() as s:
        customers = [CustomerRow(name=f"Customer {i}", segment="international" if i % 2 else None) for i in range(n // 10 + 1)]
        s.add_all(customers)
        s.flush()
        contacts = [ContactRow(name=f"Contact {i}", customer_id=customers[i // 10].id, email=f"c{i}@example.ru",
                               phone=f"+7916{i:07d}") for i in range(n)]
        s.add_all(contacts)
        s.flush()
        for i, c in enumerate(contacts):
            if i % 3 == 0:
                save(s, c.id, {"frequency": "daily", "digest_at": "09:00", "quiet": "22:00-08:00"}, source="cli", now=NOW)
            if i % 10 == 0:
                opt_out(s, "email", c.email, c.id, via="link", now=NOW)


def decide(app: App, page: int) -> tuple[float, list[list[Delivery]]]:
    config = app.config.section("notify")
    started = time.perf_counter()
    out: list[list[Delivery]] = []
    with app.store.transaction() as s:
        contacts = list(s.query(ContactRow).order_by(ContactRow.id))
        customers = {c.id: c for c in s.query(CustomerRow)}
        for start in range(0, len(contacts), page):
            chunk = contacts[start:start + page]
            targets = {c.id: Target(c, customers.get(c.customer_id or 0), c.email) for c in chunk}
            prefs = effective_many(s, config, "Europe/Moscow", targets)
            out += [plan(prefs[c.id], "resolved", NOW) for c in chunk]
    return time.perf_counter() - started, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--page", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        app = App.from_text(CONFIG.format(db=Path(folder) / "s.db"), clock=FrozenClock(NOW))
        try:
            app.upgrade_db()
            seed(app, args.contacts)
            ours, mine = decide(app, args.page)
            naive, theirs = decide(app, 1)
        finally:
            app.close()
    if mine != theirs:
        print("the two sides decided different rows", file=sys.stderr)
        return 1
    rows = sum(len(d) for d in mine)
    print(f"{args.contacts} events, {rows} rows decided ({sum(1 for d in mine for r in d if r.opted_out)} opted out, "
          f"{sum(1 for d in mine for r in d if r.fold)} in digests)")
    print(f"crm-bridge (pages of {args.page}): {args.contacts / ours:,.0f} events/s; one contact at a time: "
          f"{args.contacts / naive:,.0f} events/s; ratio {naive / ours:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
