"""Update claims taken in batches (``sync.exporter.BATCH_PER_CONNECTION`` a connection) last
one ``claims.LEASE`` and are renewed while their batch runs (``sync.lanes.RENEW_EVERY``):
an owner alive keeps them however long its queue, an owner gone on another host blocks
its rows one lease — not one per call queued on its connection (80 minutes at the default
concurrency before renewals). The creates' side is in ``test_creates.py``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import sync.exporter
import sync.lanes
from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from sync import claim as claims
from sync.tables import OutboxRow

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
ELSEWHERE = "worker-7.elsewhere"


class _Vanished(BaseException):
    """The worker's host goes away mid-batch: nothing after this runs, nothing is released."""


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=12, seed=3, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def bridge(emulator: Emulator, tmp_path: Path) -> Iterator[tuple[App, FrozenClock]]:
    """One connection (a batch of ``BATCH_PER_CONNECTION`` updates in turn on it), the
    requests imported and their SLA decisions queued as update rows."""
    clock = FrozenClock(NOW)
    text = demo_config(emulator.base_url, tmp_path / "s.db").replace(
        "kind: onec_odata\n", "kind: onec_odata\n    max_concurrency: 1\n")
    app = App.from_text(text, clock=clock)
    app.upgrade_db()
    app.run_job("sync.pull")
    app.run_job("sla.tick")
    yield app, clock
    app.close()


def _updates(app: App) -> list[OutboxRow]:
    with app.store.transaction() as s:
        return list(s.scalars(select(OutboxRow).where(OutboxRow.operation == "update").order_by(OutboxRow.id)))


def _expiry(value: datetime | None) -> datetime | None:
    return None if value is None else value if value.tzinfo else value.replace(tzinfo=UTC)


def test_the_updates_of_an_owner_gone_on_another_host_are_taken_over_after_one_lease(
    bridge: tuple[App, FrozenClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker on another host claims a batch of updates and dies before any is written:
    its claims lapse one ``LEASE`` after they were taken. Before that nobody takes them;
    just after, the next pass writes them."""
    app, clock = bridge
    assert len([row for row in _updates(app) if row.state == "pending"]) > 3
    backend = app.backend("demo-1c")

    def vanished(*args: Any, **kwargs: Any) -> Any:
        raise _Vanished

    monkeypatch.setattr(sync.exporter, "BATCH_PER_CONNECTION", 3)  # several calls queued on the one connection
    monkeypatch.setattr(claims, "_HOST", ELSEWHERE)  # its tokens name another host
    monkeypatch.setattr(backend, "update", vanished)
    with pytest.raises(_Vanished):
        app.run_job("sync.dispatch")
    monkeypatch.undo()
    held = [row for row in _updates(app) if (row.claimed_by or "").startswith(f"{ELSEWHERE}:")]
    assert 2 <= len(held) <= 3, len(held)  # a batch (3 a connection above), several calls queued
    assert {_expiry(row.claim_expires) for row in held} == {clock.at + claims.LEASE}
    ids = {row.id for row in held}
    for row in held:  # what the dead worker knew it was sending died with it
        claims.done(row.claimed_by or "")

    app.run_job("sync.dispatch", clock.at + claims.LEASE - timedelta(seconds=1))
    before = {row.id: row for row in _updates(app) if row.id in ids}
    assert {row.state for row in before.values()} == {"pending"}
    assert all((row.claimed_by or "").startswith(f"{ELSEWHERE}:") for row in before.values())

    app.run_job("sync.dispatch", clock.at + claims.LEASE + timedelta(seconds=1))
    after = [row for row in _updates(app) if row.id in ids]
    assert [(row.id, row.state, row.claimed_by) for row in after] == [(row.id, "sent", None) for row in after]


def test_a_batch_of_updates_slower_than_the_lease_keeps_its_claims_live_while_it_runs(
    bridge: tuple[App, FrozenClock], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease shortened to a second, a batch of three updates on one connection, each
    taking a second and a half: another dispatcher judging the claims at any moment of the
    batch (the frozen clock moved on by the wall time since the pass began) finds every one
    still live, and no write is lost to a takeover. Claimed for the old ``LEASE`` × 3 and
    not renewed, they had lapsed at three seconds, their owner still writing."""
    app, clock = bridge
    monkeypatch.setattr(claims, "LEASE", timedelta(seconds=1))
    monkeypatch.setattr(sync.lanes, "RENEW_EVERY", 0.1, raising=False)  # raising: absent before renewals
    monkeypatch.setattr(sync.exporter, "BATCH_PER_CONNECTION", 3)
    backend = app.backend("demo-1c")
    update = backend.update
    lapsed: list[tuple[float, int]] = []
    checks: list[float] = []
    began = time.monotonic()

    def slow_first_batch(*args: Any, **kwargs: Any) -> Any:
        if len(checks) < 3:
            time.sleep(1.5)
            seen_at = time.monotonic() - began
            with app.store.transaction() as s:
                rows = list(s.scalars(select(OutboxRow).where(OutboxRow.claimed_by.is_not(None))))
            checks.append(seen_at)
            later = clock.at + timedelta(seconds=seen_at)  # what another dispatcher's clock reads now
            lapsed.extend((seen_at, row.id) for row in rows if not claims.is_live(row, later))
        return update(*args, **kwargs)

    monkeypatch.setattr(backend, "update", slow_first_batch)
    app.run_job("sync.dispatch")
    assert len(checks) == 3, checks
    assert max(checks) > 4.4, checks  # the third call ends past LEASE x 3 (the old claims)
    assert lapsed == [], f"claims that lapsed while their owner ran the batch (seconds in, row): {lapsed}"
    rows = _updates(app)
    assert [(row.id, row.state, row.claimed_by) for row in rows] == [(row.id, "sent", None) for row in rows]
