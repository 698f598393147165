"""Crash safety, proven: real worker processes killed with SIGKILL at random points of the
import and of the write-back, restarted, and the two sides compared record by record.

The 1C emulator runs in the test process (a thread), so it outlives every kill. The
workers are real ``crm-bridge`` processes: the embedded runner on SQLite
(``crm-bridge run --every 1``) and four procrastinate workers on PostgreSQL
(``crm-bridge worker``). The kill points come from the workers' own progress: an import
kill when k pages of requests are stored (bindings committed), a write-back kill at the
k-th PATCH 1C receives while rows are still pending, k random; each kill's phase is read
back and the test asserts two landed in each. The seed is in every failure message
(``CRASH_SEED=<seed>`` replays a run).

The base's clock stands months before the real one, so every open request is already
past due whenever a worker decides: the SLA outcome does not depend on when it runs.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD
from adapters.onec.emulator import Emulator
from crm_bridge.app import App
from crm_bridge.queue import prepare_store
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow
from sync.tables import BindingRow, CheckpointRow, OutboxRow

MOSCOW = ZoneInfo("Europe/Moscow")
BASE_NOW = datetime(2026, 3, 2, 12, 0)  # naive Moscow time, long before any run of this test
DOC = "Document_Интерес"
EMPTY_DATE = "0001-01-01T00:00:00"  # 1C's empty date
REQUESTS = 2000
PAGE = 100  # page_size, scan_page_size: the import stores requests a page at a time
CLI = [sys.executable, "-m", "crm_bridge"]
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def seed() -> int:
    return int(os.environ.get("CRASH_SEED") or time.time_ns() % 1_000_000)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=REQUESTS, seed=11, now=BASE_NOW, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def config_text(store_url: str, emu: Emulator) -> str:
    # Small scan pages: a kill during import loses at most one page, the cursor resumes
    # mid-model, and there are pages enough to kill between. Every job runs every second or two.
    return f"""
store: {{url: "{store_url}"}}
schedule: {{pull_every: 2, dispatch_every: 1, sla_tick_every: 5, reconcile_every: 3600}}
backends:
  demo-1c:
    kind: onec_odata
    url: "{emu.base_url}"
    username: {DEMO_LOGIN}
    password: {DEMO_PASSWORD}
    page_size: {PAGE}
    scan_page_size: {PAGE}
"""


class Fleet:
    """Worker processes of one command line, killed and restarted by index."""

    def __init__(self, args: list[str], count: int, log: Path) -> None:
        self.args, self.log = args, log.open("a", encoding="utf-8")
        self.env = {**os.environ, "COLUMNS": "200"}
        self.procs: list[subprocess.Popen[bytes]] = [self._spawn(i) for i in range(count)]
        self.kills = 0

    def _spawn(self, index: int) -> subprocess.Popen[bytes]:
        args = [a.replace("{i}", str(index)) for a in self.args]
        self.log.write(f"--- start {index}: {' '.join(args)}\n")
        self.log.flush()
        return subprocess.Popen([*CLI, *args], cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self, index: int) -> None:
        self.procs[index].send_signal(signal.SIGKILL)
        self.procs[index].wait(10)
        self.log.write(f"--- killed {index}\n")
        self.kills += 1

    def restart(self, index: int) -> None:
        self.procs[index] = self._spawn(index)

    def check_alive(self) -> None:
        dead = [i for i, p in enumerate(self.procs) if p.poll() is not None]
        assert not dead, f"workers {dead} exited on their own; see {self.log.name}"

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.log.close()


def requests_to(emu: Emulator, method: str) -> int:
    return int(emu.stats()["by_set"].get(DOC, {}).get(method, 0))


def wait_until(condition: Callable[[], bool], fleet: Fleet, *, timeout: float, what: str, seed: int) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        fleet.check_alive()
        assert time.monotonic() < deadline, f"seed {seed}: timed out waiting for {what}; see {fleet.log.name}"
        time.sleep(0.01)


def live_keys(emu: Emulator) -> set[str]:
    return {str(d["Ref_Key"]) for d in emu.records(DOC) if not d["DeletionMark"]}


def counts(engine: Engine) -> tuple[int, int, int]:
    """The workers' own progress, as committed: requests bound, outbox rows pending and sent."""
    with engine.connect() as conn:
        bound = conn.scalar(select(func.count()).select_from(BindingRow).where(BindingRow.model == "ticket")) or 0
        pending = conn.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending")) or 0
        sent = conn.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "sent")) or 0
    return bound, pending, sent


def settled(engine: Engine, live: set[str]) -> bool:
    """Every live request bound, nothing left to send, every cursor at rest."""
    bound, pending, _ = counts(engine)
    with engine.connect() as conn:
        cursors = [v for (v,) in conn.execute(select(CheckpointRow.value))]
    return bound == len(live) and not pending and bool(cursors) and all(c.get("after") is None for c in cursors)


def progress(engine: Engine) -> str:
    bound, pending, sent = counts(engine)
    return f"{bound} bound, {pending} pending, {sent} sent"


def landed_in(phase: str, engine: Engine, live: int, patches_before: int, patches_now: int) -> bool:
    """Whether a kill aimed at `phase` hit it, read from what the workers had committed
    once it landed: an import kill while requests were still unbound; a write-back kill
    after a PATCH of its round reached 1C and while rows were still waiting to be sent.
    (With a queue of workers both may run at once: a kill can hit both.)"""
    bound, pending, _ = counts(engine)
    if phase == "import":
        return bound < live
    return patches_now > patches_before and pending > 0


def kill_rounds(fleet: Fleet, emu: Emulator, engine: Engine, rng: random.Random, *, live: int, victims: int,
                seed: int) -> tuple[list[str], Counter[str]]:
    """Two kills while importing and two while writing back, each at a point chosen from
    the workers' own progress: import kills when a random number of scan pages of
    requests is stored (committed bindings; eight pages or more left, so the kill lands
    inside the import), write-back kills at a random PATCH 1C received within the first
    half of the rows still pending. Returns the story and where each kill landed."""
    done: list[str] = []
    landed: Counter[str] = Counter()
    # 1C answers a page of requests in a quarter of a second (a real base under load does):
    # the import lasts long enough for both kills to land inside it, however fast the
    # workers store pages and however late a loaded machine lets this test poll.
    slow_pages = emu.inject("latency", seconds=0.25, method="GET", entity_set=DOC)
    for phase, rounds in (("import", 2), ("write-back", 2)):
        if phase == "write-back":
            emu.faults.remove(slow_pages.id)
        for _ in range(rounds):
            patches = requests_to(emu, "PATCH")
            if phase == "import":
                bound = counts(engine)[0]
                pages_left = (live - bound) // PAGE
                # Polling sees a few pages at once on a busy machine: keep eight in hand.
                target = bound + PAGE * rng.randint(1, max(1, min(4, pages_left - 8)))
                wait_until(lambda t=target: counts(engine)[0] >= t, fleet, timeout=120,  # type: ignore[misc]
                           what=f"{target} requests bound", seed=seed)
            else:
                wait_until(lambda: counts(engine)[1] > 0, fleet, timeout=120, what="rows to write back", seed=seed)
                patches, pending = requests_to(emu, "PATCH"), counts(engine)[1]
                target = patches + rng.randint(1, max(1, pending // 2))
                wait_until(lambda t=target: requests_to(emu, "PATCH") >= t, fleet, timeout=120,  # type: ignore[misc]
                           what=f"PATCH #{target}", seed=seed)
            chosen = rng.sample(range(len(fleet.procs)), victims)
            for index in chosen:
                fleet.kill(index)
            hit = landed_in(phase, engine, live, patches, requests_to(emu, "PATCH"))
            landed[phase if hit else f"after {phase}"] += 1
            done.append(f"{phase} kill at {target} {'hit' if hit else 'MISSED'} its phase: killed {chosen} at PATCH "
                        f"#{requests_to(emu, 'PATCH')} ({progress(engine)})")
            time.sleep(rng.uniform(0, 1.5))
            for index in chosen:
                fleet.restart(index)
    return done, landed


def wire(moment: datetime) -> str:
    return moment.astimezone(MOSCOW).replace(tzinfo=None).isoformat()


def assert_remote_and_local_agree(app: App, emu: Emulator, live: set[str], seed: int, story: list[str]) -> None:
    why = f"seed {seed}; {'; '.join(story)}"
    docs = {str(d["Ref_Key"]): d for d in emu.records(DOC)}
    with app.store.transaction() as s:
        bindings = s.execute(select(BindingRow.remote_id, BindingRow.local_id).where(BindingRow.model == "ticket")).all()
        remote_ids = [r for r, _ in bindings]
        assert len(remote_ids) == len(set(remote_ids)) == len(live), why  # each request bound exactly once
        assert set(remote_ids) == live, why
        tickets = {t.id: t for t in s.scalars(select(TicketRow))}
        assert len(tickets) == len(live), why  # no duplicate ticket, none lost
        assert len({t.number for t in tickets.values()}) == len(live), why
        planned = 0
        for remote_id, local_id in bindings:
            due = tickets[local_id].resolution_due
            planned += due is not None
            expected = wire(due) if due is not None else EMPTY_DATE
            assert docs[remote_id]["СрокИсполнения"] == expected, f"{why}; request {docs[remote_id]['Number']}"
        assert planned > len(live) / 2, why  # the SLA did decide (most requests have a due date)
        # every decision went out: sent, or withdrawn because a newer decision of the same
        # fields replaced it before it was sent (the due dates above say the newer one landed)
        left = s.execute(select(OutboxRow.state, OutboxRow.last_error).where(OutboxRow.state != "sent")).all()
        assert all(state == "withdrawn" and (error or "").startswith("replaced by a newer decision")
                   for state, error in left), f"{why}; {left}"
        cursors = s.execute(select(CheckpointRow.stream, CheckpointRow.value)).all()
        assert cursors, why
        assert all(value.get("after") is None for _, value in cursors), f"{why}; {cursors}"
    # A further quiet pass in this process finds nothing to send and writes nothing.
    versions = {k: d["DataVersion"] for k, d in docs.items()}
    quiet = run_cycle(app)
    assert quiet["sync.dispatch"]["demo-1c"]["sent"] == 0, f"{why}; {quiet}"
    assert {str(d["Ref_Key"]): d["DataVersion"] for d in emu.records(DOC)} == versions, why
    with app.store.transaction() as s:
        seen = dict(s.execute(select(BindingRow.remote_id, BindingRow.remote_version).where(BindingRow.model == "ticket")).all())
    assert all(seen[k] == versions[k] for k in live), why  # every binding knows 1C's current version


def run_crash_rounds(tmp_path: Path, emu: Emulator, store_url: str, args: list[str], count: int,
                     victims: int, seed: int) -> tuple[App, list[str]]:
    cfg = tmp_path / "crm-bridge.yaml"
    cfg.write_text(config_text(store_url, emu), encoding="utf-8")
    app = App.from_text(cfg.read_text(encoding="utf-8"), file=str(cfg))
    prepare_store(app)  # crm-bridge db upgrade
    live = live_keys(emu)
    rng = random.Random(seed)
    fleet = Fleet(["-c", str(cfg), *args], count, tmp_path / "workers.log")
    engine = create_engine(store_url)
    try:
        started = time.monotonic()
        story, landed = kill_rounds(fleet, emu, engine, rng, live=len(live), victims=victims, seed=seed)
        # Each kill hit the phase it is named after (none, say, after the import had finished).
        assert landed == {"import": 2, "write-back": 2}, f"seed {seed}: {'; '.join(story)}"
        story.append(f"kills done at {time.monotonic() - started:.0f}s")
        wait_until(lambda: settled(engine, live), fleet, timeout=240, what="the sync to settle", seed=seed)  # ~10-60 s
        story.append(f"settled at {time.monotonic() - started:.0f}s")
    finally:
        fleet.stop()
        engine.dispose()
    story.append(f"{fleet.kills} kills")
    print(f"crash rounds (seed {seed}): {'; '.join(story)}")  # shown by pytest -s / -rP
    return app, story


def test_embedded_runner_on_sqlite_killed_during_import_and_write_back_loses_and_duplicates_nothing(
    tmp_path: Path, emulator: Emulator, seed: int,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    app, story = run_crash_rounds(tmp_path, emulator, url, ["run", "--every", "1"], 1, 1, seed)
    try:
        assert_remote_and_local_agree(app, emulator, live_keys(emulator), seed, story)
    finally:
        app.close()


def test_four_queue_workers_on_postgresql_killed_during_import_and_write_back_lose_and_duplicate_nothing(
    tmp_path: Path, emulator: Emulator, pg_url: str, seed: int,
) -> None:
    args = ["worker", "--heartbeat", "0.5", "--name", "w{i}"]
    app, story = run_crash_rounds(tmp_path, emulator, pg_url, args, 4, 2, seed)
    try:
        assert_remote_and_local_agree(app, emulator, live_keys(emulator), seed, story)
        with app.store.transaction() as s:
            streams = {stream for (stream,) in s.execute(select(CheckpointRow.stream))}
        assert {f"ticket:{DOC}#{i}/8" for i in range(8)} <= streams  # every partition's cursor, at rest
    finally:
        app.close()
