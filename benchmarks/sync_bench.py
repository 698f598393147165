"""End-to-end sync throughput: import, decide, write back — embedded and on the queue.

    python benchmarks/sync_bench.py [--requests 5000] [--latency 0.02] [--workers 1,4] [--concurrency 1,8]

The 1C emulator (in this process, its own threads) holds ``--requests`` requests plus
their customers, contacts and users, its clock months before the real one, so every
decision is the same whenever it runs. Each mode starts from an empty store and is timed
from the first import request to the last write-back:

* **embedded**: SQLite, the jobs run in this process as ``crm-bridge run`` runs them
  (``sync.pull``, ``sla.tick``, then ``sync.dispatch`` until the outbox is empty), once
  per ``--concurrency`` (the backend's ``max_concurrency``: records written at once);
  the write-back phase is also timed on its own (``write-back/s``, and ``w-b CPU s``:
  this process's CPU seconds in it, the emulator's threads included), the target being
  at least 150/s at concurrency 8 on a 20 ms 1C;
* **queue, N workers**: a fresh PostgreSQL database, ``crm-bridge db upgrade``, N
  ``crm-bridge worker`` processes; one run of every import stream is queued at the start
  (the outbox shards run every second from the schedule; each finished pull wakes
  ``sla.tick``, which plans the requests the pull queued, and that wakes the outbox), and
  the clock stops when every live request is bound, planned and its due date sent.

``records/s`` counts live requests carried end to end (their customers, contacts and
users are imported on the way). ``--latency`` adds that many seconds to every answer of
the emulator: a real 1C base answers an OData call in tens of milliseconds (a document
write with posting in more), and that waiting is what workers overlap; ``--latency 0``
measures CPU only, where the gain from workers is bounded by the machine's cores (this
process's emulator and PostgreSQL share them). The exit status is 1 if a mode left
anything unsent or if N workers were not faster than one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD  # noqa: E402
from adapters.onec.emulator import Emulator  # noqa: E402
from crm_bridge.app import App  # noqa: E402
from crm_bridge.queue import defer_all, prepare_store  # noqa: E402
from sla.tables import SlaQueueRow  # noqa: E402
from sync.tables import BindingRow, OutboxRow  # noqa: E402

BASE_NOW = datetime(2026, 3, 2, 12, 0)  # naive Moscow time: every open request is long past due
DOC = "Document_Интерес"
PG_ADMIN = os.environ.get("CRM_BRIDGE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@dataclass
class Mode:
    name: str
    seconds: float
    records: int
    sent: int
    remote_calls: int
    writeback_seconds: float | None = None  # embedded: the dispatch passes alone
    writeback_cpu: float | None = None  # embedded: this process's CPU seconds in them (the emulator's threads too)

    @property
    def writeback_per_s(self) -> float | None:
        return self.sent / self.writeback_seconds if self.writeback_seconds else None

    @property
    def per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0


@dataclass
class Result:
    requests: int
    live: int
    latency: float
    modes: list[Mode] = field(default_factory=list)

    def mode(self, name: str) -> Mode:
        return next(m for m in self.modes if m.name == name)

    @property
    def ratio(self) -> float:
        queue = [m for m in self.modes if m.name.startswith("queue")]
        return queue[-1].per_s / queue[0].per_s if len(queue) > 1 and queue[0].per_s else 0.0


def config_text(store_url: str, base_url: str, *, schedule: str = "", concurrency: int = 4) -> str:
    return f"""
store: {{url: "{store_url}"}}
{schedule}
backends:
  demo-1c:
    kind: onec_odata
    max_concurrency: {concurrency}
    url: "{base_url}"
    username: {DEMO_LOGIN}
    password: {DEMO_PASSWORD}
"""


def _calls(emu: Emulator) -> int:
    return int(emu.stats()["total"])


def embedded(emu: Emulator, live: int, folder: Path, concurrency: int = 4) -> Mode:
    app = App.from_text(config_text(f"sqlite:///{folder / f'embedded-{concurrency}.db'}", emu.base_url,
                                    concurrency=concurrency))
    try:
        app.upgrade_db()
        calls, started = _calls(emu), time.perf_counter()
        for job in ("sync.pull", "sla.tick"):
            app.run_job(job)
        writing, cpu = time.perf_counter(), time.process_time()
        app.run_job("sync.dispatch")
        while _pending(app):
            app.run_job("sync.dispatch")
        done, cpu = time.perf_counter(), time.process_time() - cpu
        return Mode(f"embedded, conc. {concurrency}", done - started, live, _sent(app), _calls(emu) - calls,
                    writeback_seconds=done - writing, writeback_cpu=cpu)
    finally:
        app.close()


def _pending(app: App) -> int:
    with app.store.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending")) or 0)


def _queued(app: App) -> int:
    """Requests imported but not planned yet (the pull wakes ``sla.tick``, which plans them)."""
    with app.store.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(SlaQueueRow)) or 0)


def _sent(app: App) -> int:
    with app.store.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "sent")) or 0)


def _bound(app: App) -> int:
    with app.store.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(BindingRow).where(BindingRow.model == "ticket")) or 0)


def queue(emu: Emulator, live: int, folder: Path, workers: int, *, pg_admin: str = PG_ADMIN, timeout: float = 1800) -> Mode:
    name = f"crm_bridge_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(pg_admin).set(database=name).render_as_string(hide_password=False)
    # One import pass is queued below; the outbox shards run from the schedule, every second.
    schedule = "schedule: {pull_every: 86400, dispatch_every: 1, sla_tick_every: 86400, reconcile_every: 86400}"
    cfg = folder / f"queue-{workers}.yaml"
    cfg.write_text(config_text(url, emu.base_url, schedule=schedule), encoding="utf-8")
    app = App.from_text(cfg.read_text(encoding="utf-8"), file=str(cfg))
    procs: list[subprocess.Popen[bytes]] = []
    log = (folder / f"queue-{workers}.log").open("w", encoding="utf-8")
    try:
        prepare_store(app)
        env = {**os.environ, "COLUMNS": "200"}
        procs = [subprocess.Popen([sys.executable, "-m", "crm_bridge", "-c", str(cfg), "worker", "--name", f"bench-{i}"],
                                  cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT) for i in range(workers)]
        _wait(lambda: _workers(app) >= workers, procs, 120, "workers to start")
        calls, started = _calls(emu), time.perf_counter()
        defer_all(app, ["sync.pull"])
        _wait(lambda: _bound(app) >= live and not _queued(app) and not _pending(app), procs, timeout, "the sync to finish")
        seconds = time.perf_counter() - started
        return Mode(f"queue, {workers} worker{'s' if workers > 1 else ''}", seconds, live, _sent(app), _calls(emu) - calls)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
        log.close()
        app.close()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _workers(app: App) -> int:
    with app.store.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM procrastinate_workers")).scalar_one())


def _wait(done: Callable[[], bool], procs: Sequence[subprocess.Popen[bytes]], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a worker exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def run(requests: int = 5000, latency: float = 0.02, workers: Sequence[int] = (1, 4), *,
        pg_admin: str = PG_ADMIN, seed: int = 7, concurrency: Sequence[int] = (1, 8)) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        result: Result | None = None
        for count in (*(-c for c in concurrency), *workers):  # -c: the embedded mode at concurrency c
            # A fresh base per mode: every mode writes the same due dates into an untouched 1C.
            with Emulator(requests=requests, seed=seed, now=BASE_NOW, users={DEMO_LOGIN: DEMO_PASSWORD},
                          latency=latency) as emu:
                live = sum(1 for d in emu.records(DOC) if not d["DeletionMark"])
                result = result or Result(requests, live, latency)
                mode = embedded(emu, live, folder, -count) if count <= 0 else queue(emu, live, folder, count, pg_admin=pg_admin)
                result.modes.append(mode)
        assert result is not None
        return result


def report(result: Result) -> int:
    print(f"sync_bench: {result.requests} requests ({result.live} live), 1C latency {result.latency * 1000:.0f} ms "
          f"per call, {os.cpu_count()} CPUs")
    print(f"{'mode':<20} {'seconds':>8} {'records/s':>10} {'write-back/s':>13} {'w-b CPU s':>10} {'sent':>6} "
          f"{'1C calls':>9}")
    for m in result.modes:
        wb = f"{m.writeback_per_s:.1f}" if m.writeback_per_s is not None else "—"
        cpu = f"{m.writeback_cpu:.2f}" if m.writeback_cpu is not None else "—"
        print(f"{m.name:<20} {m.seconds:>8.1f} {m.per_s:>10.1f} {wb:>13} {cpu:>10} {m.sent:>6} {m.remote_calls:>9}")
    queue = [m for m in result.modes if m.name.startswith("queue")]
    status = 0
    embedded_modes = [m for m in result.modes if m.writeback_per_s is not None]
    if len(embedded_modes) > 1:
        first, last = embedded_modes[0], embedded_modes[-1]
        gain = (last.writeback_per_s or 0.0) / (first.writeback_per_s or 1.0)
        print(f"write-back: {last.name} / {first.name} = {gain:.2f}x")
        status |= gain <= 1.0
    if len(queue) > 1:
        print(f"scaling: {queue[-1].name} / {queue[0].name} = {result.ratio:.2f}x")
        status |= result.ratio <= 1.0
    incomplete = [m.name for m in result.modes if m.sent < result.live]
    if incomplete:
        print(f"INCOMPLETE: {', '.join(incomplete)} sent fewer due dates than there are live requests")
        status = 1
    return int(status)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=5000, help="requests in the emulated 1C base")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds 1C takes per call (0: CPU only)")
    parser.add_argument("--workers", default="1,4", help="queue worker counts to measure, e.g. 1,2,4 ('' for none)")
    parser.add_argument("--concurrency", default="1,8", help="embedded runs at these max_concurrency values")
    parser.add_argument("--pg", default=PG_ADMIN, help="admin URL of the PostgreSQL server (a database is created)")
    args = parser.parse_args(argv)
    counts = [int(n) for n in str(args.workers).split(",") if n.strip()]
    levels = [int(n) for n in str(args.concurrency).split(",") if n.strip()]
    return report(run(args.requests, args.latency, counts, pg_admin=args.pg, concurrency=levels))


if __name__ == "__main__":
    sys.exit(main())
