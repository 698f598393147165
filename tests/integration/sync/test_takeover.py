"""A dead dispatcher's write still on its way through 1C is not overtaken by the newer
write sent in its place.

The interleaving `test_crash.py` met once under load, made deterministic: the emulator
holds one PATCH for a second (1C received it and applies it when it answers), the worker
that sent it is killed meanwhile, and a newer decision on the same field of the same
request is queued. Taking the dead worker's claim over at once sent the newer value
first; the stale write then landed on top of it, and 1C kept the older decision while
the outbox showed nothing pending. The claim is taken over only ``TAKEOVER_GRACE`` after
it was taken (wall clock): the newer row waits for it, and the re-read after the grace
finds the stale write landed and sends the newer value over it. With no grace
(``TAKEOVER_GRACE = 0``) the test fails at its last line: 1C holds the stale value.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App
from crm_bridge.events import DomainEvent, EventBus
from crm_bridge.registry import Registry
from sync import claim as claims
from sync.exporter import BATCH_PER_CONNECTION
from sync.outbox import enqueue
from sync.tables import BindingRow, OutboxRow

DOC = "Document_Интерес"
HELD_SECONDS = 1.0  # how long 1C takes to apply the dead worker's PATCH
NEWER = datetime(2031, 5, 5, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=5, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


def patches(emulator: Emulator) -> int:
    return int(emulator.stats()["by_set"].get(DOC, {}).get("PATCH", 0))


def due_in_1c(emulator: Emulator, ref: str) -> str:
    return str(next(d for d in emulator.records(DOC) if d["Ref_Key"] == ref)["СрокИсполнения"])


def test_a_dead_workers_write_still_in_flight_is_not_overtaken_by_the_newer_one(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A grace well above the hold, so that a loaded machine's slow first pass still comes
    # within it (the default, 2 s, covers a write that lands within 2 s of its claim).
    monkeypatch.setattr(claims, "TAKEOVER_GRACE", 5 * HELD_SECONDS)
    text = demo_config(emulator.base_url, tmp_path / "s.db").replace(
        "kind: onec_odata\n", "kind: onec_odata\n    max_concurrency: 1\n"
    )
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(text, encoding="utf-8")
    app = App.from_file(path)
    try:
        app.upgrade_db()
        for job in ("sync.pull", "sla.tick", "routing.tick"):
            app.run_job(job)
        emulator.inject("latency", seconds=HELD_SECONDS, method="PATCH", entity_set=DOC, count=1)
        worker = subprocess.Popen(
            [sys.executable, "-m", "crm_bridge", "-c", str(path), "run", "--once"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while patches(emulator) == 0:  # 1C received the first PATCH, and holds it
            assert worker.poll() is None
            assert time.monotonic() < deadline
            time.sleep(0.01)
        worker.kill()
        worker.wait(10)
        with app.store.transaction() as s:
            # The batch claimed with the held write (sync.exporter.BATCH_PER_CONNECTION) waits
            # behind it on the one connection: the first of the batch, the lowest id, is in 1C.
            claimed = s.scalars(select(OutboxRow).where(OutboxRow.claimed_by.is_not(None)).order_by(OutboxRow.id)).all()
            assert 1 <= len(claimed) <= BATCH_PER_CONNECTION, len(claimed)
            held = claimed[0]
            ref = s.scalars(
                select(BindingRow.remote_id).where(
                    BindingRow.model == held.model, BindingRow.local_id == held.local_id
                )
            ).one()
            local_id, stale = held.local_id, held.fields["resolution_due"]
        assert stale is not None
        assert NEWER.isoformat() != stale
        # a newer decision on the same field, queued while the stale write is in flight
        registry = Registry()
        registry.add(enqueue, usage="event.handler", model="record.changed")
        with app.store.transaction() as s:
            EventBus(registry).unit(s, datetime.now(UTC), None).publish(
                DomainEvent(
                    "record.changed",
                    "ticket",
                    local_id,
                    "sla",
                    {"fields": {"resolution_due": NEWER}},
                )
            )

        first = app.run_job("sync.dispatch")["demo-1c"]  # within the grace: the request's rows wait
        assert patches(emulator) == 1 + first["sent"]
        time.sleep(HELD_SECONDS + 0.2)
        # nothing newer was written under the stale write
        assert due_in_1c(emulator, ref) != "2031-05-05T10:00:00"
        # after the grace: taken over, the stale write found landed, the newer value sent over it
        while True:
            time.sleep(0.2)
            second = app.run_job("sync.dispatch")["demo-1c"]
            with app.store.transaction() as s:
                left = s.scalar(
                    select(func.count())
                    .select_from(OutboxRow)
                    .where((OutboxRow.state == "pending") | OutboxRow.claimed_by.is_not(None))
                )
            if not left:
                break
            assert time.monotonic() < deadline, second
        assert due_in_1c(emulator, ref) == "2031-05-05T10:00:00"
    finally:
        app.close()
