"""End-to-end sync throughput: import, decide, write back — embedded and on the queue, wall and CPU.

    python benchmarks/sync_bench.py [--requests 5000] [--latency 0.02] [--workers 1,4] [--concurrency 1,8] [--ticks chain]

The 1C emulator (in this process, its own threads) holds ``--requests`` requests plus
their customers, contacts and users, its clock months before the real one, so every
decision is the same whenever it runs. Each mode starts from an empty store and an
untouched 1C, runs in its own process(es), and is timed from the first import request
to the last write-back:

* **embedded, SQLite**: one process runs the cycle as ``crm-bridge run --once`` does
  (``crm_bridge.runner.run_cycle``: pull, SLA tick, …, write-back until the outbox is
  empty), once per ``--concurrency`` (the backend's ``max_concurrency``: records written
  at once); the write-back is also timed on its own (``write-back/s``), the target being
  at least 150/s at concurrency 8 on a 20 ms 1C;
* **embedded, PostgreSQL**: the same on a fresh PostgreSQL database, at the workers'
  ``max_concurrency`` (4): the queue's reference, the same work on the same store;
* **queue, N workers**: a fresh PostgreSQL database, ``crm-bridge db upgrade``, N
  ``crm-bridge worker`` processes, their first periodic jobs run; one run of every import
  stream is queued at the start (the last pull to end wakes ``sla.tick``, which plans
  what the pulls queued and wakes the outbox shards; the schedule's own ticks are a day
  apart, so the work is the chain's, as in ``run --once``), and the clock stops when every
  live request is bound, planned and its due date sent.

``CPU s`` is the user + system time of the processes doing the work (the embedded
runner, or every worker), read from ``/proc/<pid>/stat`` between the moment they are
ready and the moment the work is done, so interpreter start-up is not counted; ``PG
CPU s`` is the same for the PostgreSQL server processes serving the mode's database
(SQLite's work is inside the runner's figure). The emulator's CPU (this process) is in
neither. The machine is shared: wall time moves with other people's load, CPU seconds
much less, so the ratios are given on both. The report ends with the ratios against the
targets of issue #25: write-back at concurrency N / 1; one worker's wall time / the
embedded runner's on PostgreSQL (≤ 1.2× at latency 0); N workers' CPU / one worker's
(≤ 1.1×).

``records/s`` counts live requests carried end to end (their customers, contacts and
users are imported on the way). ``--latency`` adds that many seconds to every answer of
the emulator: a real 1C base answers an OData call in tens of milliseconds (a document
write with posting in more), and that waiting is what workers overlap; ``--latency 0``
measures CPU only, where the gain from workers is bounded by the machine's cores (this
process's emulator and PostgreSQL share them). The exit status is 1 if a mode left
anything unsent, or, at a non-zero latency, if concurrency N wrote back no faster than 1
or N workers were not faster than one.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select, text
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
PG_CONCURRENCY = 4  # max_concurrency of the PostgreSQL modes (the default)
TARGET_WORKER_WALL = 1.2  # issue #25: one worker within 1.2x of the embedded runner's time (latency 0)
TARGET_WORKERS_CPU = 1.1  # issue #25: N workers use at most 1.1x the CPU of one
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Mode:
    name: str
    seconds: float
    records: int
    sent: int
    remote_calls: int
    cpu: float  # CPU seconds of the runner or the workers, ready to done
    pg_cpu: float | None = None  # CPU seconds of the PostgreSQL server processes of the mode's database
    writeback_seconds: float | None = None  # embedded: the write-back job alone
    workers: int = 0  # 0: embedded

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

    @property
    def queue(self) -> list[Mode]:
        return [m for m in self.modes if m.workers]

    @property
    def ratio(self) -> float:
        """Throughput of the most workers / of the fewest."""
        queue = self.queue
        return queue[-1].per_s / queue[0].per_s if len(queue) > 1 and queue[0].per_s else 0.0


def config_text(store_url: str, base_url: str, *, schedule: str = "", concurrency: int = PG_CONCURRENCY) -> str:
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


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of process `pid` (all its threads) so far; 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) ": state is fields[0]
    return (int(fields[11]) + int(fields[12])) / _TICK


class ServerCpu:
    """CPU of the PostgreSQL server processes serving database `name`, sampled every half
    second in a thread between ``begin`` and ``seconds`` (a process that ends between two
    samples keeps its last sample; one that lives less than half a second is missed)."""

    def __init__(self, admin: Engine, name: str) -> None:
        self.admin, self.name = admin, name
        self.start: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        with self.admin.connect() as conn:
            pids = conn.execute(text("SELECT pid FROM pg_stat_activity WHERE datname = :db"), {"db": self.name}).scalars()
            for pid in pids:
                self.last.setdefault(int(pid), 0.0)
        for pid in self.last:
            self.last[pid] = max(self.last[pid], process_cpu(pid))

    def begin(self) -> None:
        self.sample()
        self.start = dict(self.last)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pg-cpu", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def seconds(self) -> float:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()
        return sum(cpu - self.start.get(pid, 0.0) for pid, cpu in self.last.items())


@contextmanager
def pg_database(pg_admin: str) -> Iterator[tuple[str, ServerCpu]]:
    """A fresh PostgreSQL database (its URL) and the meter of its server processes; dropped after."""
    name = f"crm_bridge_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(pg_admin).set(database=name).render_as_string(hide_password=False), ServerCpu(admin, name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def embedded_child(config: Path) -> int:
    """The embedded runner's process (``--embedded-child``): build the app, say ``ready``,
    wait for a line on stdin, run one cycle draining the write-back, print its figures."""
    app = App.from_file(config)
    try:
        print("ready", flush=True)
        sys.stdin.readline()
        before = resource.getrusage(resource.RUSAGE_SELF)
        from crm_bridge.runner import run_cycle

        results = run_cycle(app, budget=3600.0)
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        print(json.dumps({"cpu": cpu, "writeback": results["sync.dispatch"]["seconds"], "pending": _pending(app)}), flush=True)
    finally:
        app.close()
    return 0


def embedded(emu: Emulator, live: int, folder: Path, concurrency: int, *, pg_admin: str | None = None) -> Mode:
    """The cycle in one ``run --once``-like process, on SQLite, or on PostgreSQL when `pg_admin` is given."""
    with pg_database(pg_admin) if pg_admin else _sqlite(folder, concurrency) as (url, meter):
        cfg = folder / f"embedded-{concurrency}.yaml"
        cfg.write_text(config_text(url, emu.base_url, concurrency=concurrency), encoding="utf-8")
        app = App.from_file(cfg)
        try:
            prepare_store(app)
            with subprocess.Popen([sys.executable, __file__, "--embedded-child", str(cfg)], cwd=ROOT,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as child:
                assert child.stdin is not None
                assert child.stdout is not None
                if child.stdout.readline().strip() != "ready":
                    raise RuntimeError("the embedded runner did not start")
                if meter is not None:
                    meter.begin()
                calls, started = _calls(emu), time.perf_counter()
                child.stdin.write("go\n")
                child.stdin.flush()
                line = child.stdout.readline()
                seconds = time.perf_counter() - started
                pg_cpu = meter.seconds() if meter is not None else None
                child.wait(60)
            if not line:
                raise RuntimeError("the embedded runner failed (see its traceback above)")
            figures = json.loads(line)
            store = "PostgreSQL" if pg_admin else "SQLite"
            return Mode(f"embedded {store}, conc. {concurrency}", seconds, live, _sent(app), _calls(emu) - calls,
                        figures["cpu"], pg_cpu, writeback_seconds=figures["writeback"])
        finally:
            app.close()


@contextmanager
def _sqlite(folder: Path, concurrency: int) -> Iterator[tuple[str, None]]:
    yield f"sqlite:///{folder / f'embedded-{concurrency}.db'}", None


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


# The queue modes' schedule. "chain": every tick a day apart, so the work is the chain's
# (pull -> sla.tick -> dispatch), as in `run --once`. "production": the write-back and
# routing ticks at their defaults (15 s, 60 s), as a deployment runs them: their dispatches
# fall between an import and its plan, where a request waiting for its plan must not be
# written (sync/hold.py; before it, four workers wrote every request twice).
TICKS = {
    "chain": ("schedule: {pull_every: 86400, dispatch_every: 86400, sla_tick_every: 86400, routing_tick_every: 86400, "
              "notify_every: 86400, reconcile_every: 86400}"),
    "production": "schedule: {pull_every: 86400, sla_tick_every: 86400, notify_every: 86400, reconcile_every: 86400}",
}


def queue(emu: Emulator, live: int, folder: Path, workers: int, *, pg_admin: str = PG_ADMIN, timeout: float = 1800,
          ticks: str = "chain") -> Mode:
    with pg_database(pg_admin) as (url, meter):
        # One import pass is queued below and the chain does the rest (see TICKS).
        schedule = TICKS[ticks]
        cfg = folder / f"queue-{workers}.yaml"
        cfg.write_text(config_text(url, emu.base_url, schedule=schedule), encoding="utf-8")
        app = App.from_file(cfg)
        procs: list[subprocess.Popen[bytes]] = []
        log = (folder / f"queue-{workers}.log").open("w", encoding="utf-8")
        try:
            prepare_store(app)
            env = {**os.environ, "COLUMNS": "200"}
            procs = [subprocess.Popen([sys.executable, "-m", "crm_bridge", "-c", str(cfg), "worker", "--name", f"bench-{i}"],
                                      cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT) for i in range(workers)]
            _wait(lambda: _workers(app) >= workers, procs, 120, "workers to start")
            _wait(lambda: not _jobs_left(app), procs, 120, "the jobs due at start to run")  # each stream's first tick
            meter.begin()
            cpu = sum(process_cpu(p.pid) for p in procs)
            calls, started = _calls(emu), time.perf_counter()
            defer_all(app, ["sync.pull"])

            _wait(lambda: _bound(app) >= live and not _queued(app) and not _pending(app), procs, timeout,
                  "the sync to finish")
            seconds = time.perf_counter() - started
            cpu = sum(process_cpu(p.pid) for p in procs) - cpu
            return Mode(f"queue, {workers} worker{'s' if workers > 1 else ''}", seconds, live, _sent(app),
                        _calls(emu) - calls, cpu, meter.seconds(), workers=workers)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(60)
            log.close()
            app.close()


def _jobs_left(app: App) -> int:
    with app.store.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")).scalar_one())


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
        time.sleep(0.2)


def _embedded_at(emu: Emulator, live: int, folder: Path, *, concurrency: int, pg_admin: str | None = None) -> Mode:
    return embedded(emu, live, folder, concurrency, pg_admin=pg_admin)


def _queue_of(emu: Emulator, live: int, folder: Path, *, workers: int, pg_admin: str, ticks: str = "chain") -> Mode:
    return queue(emu, live, folder, workers, pg_admin=pg_admin, ticks=ticks)


def run(requests: int = 5000, latency: float = 0.02, workers: Sequence[int] = (1, 4), *,
        pg_admin: str = PG_ADMIN, seed: int = 7, concurrency: Sequence[int] = (1, 8), ticks: str = "chain") -> Result:
    """Every mode, in order: embedded SQLite per `concurrency`, then (with `workers`) embedded
    PostgreSQL and the queue per worker count."""
    plan: list[Callable[[Emulator, int, Path], Mode]] = [
        functools.partial(_embedded_at, concurrency=c) for c in concurrency]
    if workers:
        plan.append(functools.partial(_embedded_at, concurrency=PG_CONCURRENCY, pg_admin=pg_admin))
        plan += [functools.partial(_queue_of, workers=n, pg_admin=pg_admin, ticks=ticks) for n in workers]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        result: Result | None = None
        for measure in plan:
            # A fresh base per mode: every mode writes the same due dates into an untouched 1C.
            with Emulator(requests=requests, seed=seed, now=BASE_NOW, users={DEMO_LOGIN: DEMO_PASSWORD},
                          latency=latency) as emu:
                live = sum(1 for d in emu.records(DOC) if not d["DeletionMark"])
                result = result or Result(requests, live, latency)
                result.modes.append(measure(emu, live, folder))
        assert result is not None
        return result


def _ratio(top: float | None, bottom: float | None) -> float:
    return (top or 0.0) / bottom if bottom else 0.0


def report(result: Result) -> int:
    print(f"sync_bench: {result.requests} requests ({result.live} live), 1C latency {result.latency * 1000:.0f} ms "
          f"per call, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'mode':<28} {'seconds':>8} {'CPU s':>7} {'PG CPU s':>9} {'records/s':>10} {'write-back/s':>13} "
          f"{'sent':>6} {'1C calls':>9}")
    for m in result.modes:
        wb = f"{m.writeback_per_s:.1f}" if m.writeback_per_s is not None else "—"
        pg = f"{m.pg_cpu:.1f}" if m.pg_cpu is not None else "—"
        print(f"{m.name:<28} {m.seconds:>8.1f} {m.cpu:>7.1f} {pg:>9} {m.per_s:>10.1f} {wb:>13} {m.sent:>6} "
              f"{m.remote_calls:>9}")
    status = 0
    sqlite = [m for m in result.modes if m.name.startswith("embedded SQLite")]
    if len(sqlite) > 1:
        first, last = sqlite[0], sqlite[-1]
        gain = _ratio(last.writeback_per_s, first.writeback_per_s)
        print(f"write-back: {last.name} / {first.name} = {gain:.2f}x records/s")
        status |= result.latency > 0 and gain <= 1.0  # at latency 0 there is no waiting to overlap
    reference = next((m for m in result.modes if m.name.startswith("embedded PostgreSQL")), None)
    queue = result.queue
    if reference is not None and queue:
        one = queue[0]
        wall, cpu = _ratio(one.seconds, reference.seconds), _ratio(one.cpu, reference.cpu)
        verdict = "met" if wall <= TARGET_WORKER_WALL else "MISSED"
        print(f"{one.name} / {reference.name}: wall {wall:.2f}x (target <= {TARGET_WORKER_WALL}x at latency 0: {verdict}), "
              f"CPU {cpu:.2f}x, with PostgreSQL's CPU {_ratio(one.cpu + (one.pg_cpu or 0), reference.cpu + (reference.pg_cpu or 0)):.2f}x")
    if len(queue) > 1:
        one, most = queue[0], queue[-1]
        cpu = _ratio(most.cpu, one.cpu)
        verdict = "met" if cpu <= TARGET_WORKERS_CPU else "MISSED"
        print(f"{most.name} / {one.name}: records/s {result.ratio:.2f}x, CPU {cpu:.2f}x (target <= {TARGET_WORKERS_CPU}x: "
              f"{verdict}), with PostgreSQL's CPU {_ratio(most.cpu + (most.pg_cpu or 0), one.cpu + (one.pg_cpu or 0)):.2f}x")
        status |= result.latency > 0 and result.ratio <= 1.0  # at latency 0 two cores bound them
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
    parser.add_argument("--concurrency", default="1,8", help="embedded SQLite runs at these max_concurrency values")
    parser.add_argument("--ticks", choices=sorted(TICKS), default="chain",
                        help="the queue modes' schedule: chain (ticks a day apart) or production (write-back every 15 s)")
    parser.add_argument("--pg", default=PG_ADMIN, help="admin URL of the PostgreSQL server (a database is created)")
    parser.add_argument("--embedded-child", type=Path, help=argparse.SUPPRESS)  # the embedded runner's process
    args = parser.parse_args(argv)
    if args.embedded_child:
        return embedded_child(args.embedded_child)
    counts = [int(n) for n in str(args.workers).split(",") if n.strip()]
    levels = [int(n) for n in str(args.concurrency).split(",") if n.strip()]
    return report(run(args.requests, args.latency, counts, pg_admin=args.pg, concurrency=levels, ticks=args.ticks))


if __name__ == "__main__":
    sys.exit(main())
