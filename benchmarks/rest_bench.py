"""Generic REST adapter: an initial import of 100,000 records from a fixture server, through
the connector, against a naive reader in the same run (issue #27, point 7).

    python benchmarks/rest_bench.py [--tickets 100000] [--clients 500] [--latency 0.02] [--json]

The Helpline fixture server (``adapters/generic_rest/fixtures/helpline.py``: offset paging
of 100 under its own envelope) runs in its own process, every answer delayed by
``--latency`` seconds (20 ms: a CRM across the internet). Two readers import the same
records into SQLite:

1. **connector**: ``sync.pull`` of a ``rest`` backend built from the shipped example
   connector (its rate limit lifted: loopback), into an empty store (``db upgrade``
   untimed). Every record is read, mapped, validated, stored, bound and its history
   recorded; the next page is fetched while the last is stored (the importer's read-ahead).
2. **naive**: what one writes by hand — ``requests``, one GET per page in turn, and one
   ``INSERT`` per record (a commit per page), raw JSON only: no mapping, no bindings.

The connector runs twice, its tickets' paginator asking pages in turn (``concurrency: 1``)
and ``--concurrency`` pages at once (the example's 4), and so does the paginator alone
(the listing through the connector's client, nothing stored), which shows what the
concurrency buys before the store bounds it.

Printed: records/s of each and the ratio to the naive reader, HTTP pages, and the
seconds spent waiting for answers in the naive loop (its floor at this latency). Checked
(exit status 1 otherwise): every run read or stored every record once.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"
SERVER = """
import sys
from adapters.generic_rest.fixtures.helpline import Helpline
server = Helpline(tickets=int(sys.argv[1]), clients=int(sys.argv[2]), key=sys.argv[3], latency=float(sys.argv[4]))
server.__enter__()
print(server.url, flush=True)
sys.stdin.read()
"""


def _connector(work: Path, concurrency: int) -> Path:
    """The shipped example connector, unthrottled (loopback), its tickets read `concurrency` pages at once."""
    from adapters.generic_rest.fixtures.helpline import unthrottled_connector

    path = unthrottled_connector(work, 10_000)
    text = path.read_text(encoding="utf-8")
    assert "concurrency: 4" in text, "the example connector's tickets paginator changed: update the benchmark"
    path.write_text(text.replace("concurrency: 4", f"concurrency: {concurrency}"), encoding="utf-8")
    return path


def listing(url: str, tickets: int, work: Path, concurrency: int) -> dict[str, Any]:
    """The paginator alone: every ticket page read through the connector's client, nothing stored."""
    from adapters.generic_rest.client import RestClient
    from adapters.generic_rest.connector import load_connector

    connector = load_connector(_connector(work, concurrency), {"HELPLINE_URL": url, "HELPLINE_KEY": KEY})
    client = RestClient("helpline", connector)
    started = time.perf_counter()
    read = sum(len(page) for page in client.pages(connector.resources["tickets"]))
    seconds = time.perf_counter() - started
    client.session.close()
    if read != tickets:
        sys.exit(f"listing (concurrency {concurrency}): read {read} of {tickets}")
    return {"seconds": seconds, "records": read}


def connector_import(url: str, tickets: int, clients: int, work: Path, concurrency: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from adapters.generic_rest.fixtures.helpline import example_config
    from crm_bridge.app import App
    from crm_bridge.store.tables import CustomerRow, TicketRow

    os.environ.update({"HELPLINE_URL": url, "HELPLINE_KEY": KEY})
    app = App.from_text(example_config(f"sqlite:///{work / f'bridge-{concurrency}.db'}", connector=_connector(work, concurrency)))
    try:
        app.upgrade_db()
        started = time.perf_counter()
        result = app.run_job("sync.pull")
        seconds = time.perf_counter() - started
        with app.store.transaction() as s:
            stored = (s.scalar(select(func.count()).select_from(TicketRow)) or 0,
                      s.scalar(select(func.count()).select_from(CustomerRow)) or 0)
    finally:
        app.close()
    if stored != (tickets, clients):
        sys.exit(f"connector: stored {stored[0]} tickets and {stored[1]} clients of {tickets} and {clients}: {result}")
    return {"seconds": seconds, "records": tickets + clients}


def naive_import(url: str, tickets: int, clients: int, work: Path) -> dict[str, Any]:
    db = sqlite3.connect(work / "naive.db")
    db.execute("CREATE TABLE records (kind TEXT, id INTEGER, body TEXT, PRIMARY KEY (kind, id))")
    session = requests.Session()
    waited, pages, stored = 0.0, 0, 0
    started = time.perf_counter()
    for kind in ("clients", "tickets"):
        offset = 0
        while True:
            asked = time.perf_counter()
            answer = session.get(f"{url}/{kind}", params={"offset": offset, "limit": 100}, headers={"X-Api-Key": KEY}, timeout=30)
            answer.raise_for_status()
            waited += time.perf_counter() - asked
            pages += 1
            items = answer.json()["payload"]["items"]
            for item in items:
                db.execute("INSERT INTO records VALUES (?, ?, ?)", (kind, item["id"], json.dumps(item, ensure_ascii=False)))
                stored += 1
            db.commit()
            if len(items) < 100:
                break
            offset += 100
    seconds = time.perf_counter() - started
    db.close()
    if stored != tickets + clients:
        sys.exit(f"naive: stored {stored} of {tickets + clients}")
    return {"seconds": seconds, "records": stored, "pages": pages, "waiting": waited}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds the server waits before each answer")
    parser.add_argument("--concurrency", type=int, default=4, help="pages asked at once by the concurrent runs")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.tickets), str(args.clients), KEY, str(args.latency)],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as tmp:
            naive = naive_import(url, args.tickets, args.clients, Path(tmp))
            runs = {"listing, pages in turn": listing(url, args.tickets, Path(tmp), 1),
                    f"listing, {args.concurrency} pages at once": listing(url, args.tickets, Path(tmp), args.concurrency),
                    "sync.pull, pages in turn": connector_import(url, args.tickets, args.clients, Path(tmp), 1),
                    f"sync.pull, {args.concurrency} pages at once": connector_import(url, args.tickets, args.clients, Path(tmp), args.concurrency)}
    finally:
        server.terminate()
        server.wait(10)
    rate = {name: r["records"] / r["seconds"] for name, r in runs.items()} | {"naive": naive["records"] / naive["seconds"]}
    if args.json:
        print(json.dumps({"tickets": args.tickets, "clients": args.clients, "latency": args.latency, "runs": runs,
                          "naive": naive, "records_per_s": rate,
                          "ratio_to_naive": {n: r / rate["naive"] for n, r in rate.items()}}, indent=2))
        return
    print(f"{args.tickets + args.clients:,} records ({args.tickets:,} tickets, {args.clients:,} clients), "
          f"{args.latency * 1000:.0f} ms a page, {naive['pages']:,} pages")
    print(f"  naive (requests, a GET per page, an INSERT per record): {naive['seconds']:7.1f} s  {rate['naive']:8,.0f} records/s"
          f"  ({naive['waiting']:.1f} s waiting for answers)")
    for name, run in runs.items():
        print(f"  connector, {name:<28} {run['seconds']:7.1f} s  {rate[name]:8,.0f} records/s  "
              f"{rate[name] / rate['naive']:5.2f}x naive")


if __name__ == "__main__":
    main()
