"""Crash safety against a REST CRM: a ``crm-bridge run`` process killed with SIGKILL while it
imports and while it writes back to the Helpline fixture server (a CRM connected by files
alone: offset paging, version scans, PUT that replaces the record), restarted, and both
sides compared record by record — no request bound twice, none lost, every due date the
bridge decided in the CRM, every edit made in the CRM meanwhile imported.

The process helpers (``Fleet``, ``wait_until``, ``counts``, ``settled``) are the 1C crash
test's; the Helpline server runs in this process (a thread), so it outlives the kills.
The kill points come from what the server saw: an import kill after a random number of
listing pages was served (bindings not all committed), a write-back kill at a random PUT
while rows are still pending. The seed is in every failure message (``CRASH_SEED=<seed>``).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, select

from adapters.generic_rest.fixtures.helpline import Helpline, example_config, unthrottled_connector
from crm_bridge.app import App
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow
from sync.tables import BindingRow, OutboxRow
from tests.integration.sync.test_crash import Fleet, counts, progress, settled, wait_until

TICKETS = 2000  # 20 listing pages of 100
KEY = "crash-key"


@pytest.fixture
def seed() -> int:
    return int(os.environ.get("CRASH_SEED") or time.time_ns() % 1_000_000)


@pytest.fixture
def helpline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Helpline]:
    with Helpline(tickets=TICKETS, clients=20, key=KEY, seed=5) as server:
        monkeypatch.setenv("HELPLINE_URL", server.url)  # the workers inherit the environment
        monkeypatch.setenv("HELPLINE_KEY", KEY)
        yield server


def configure(tmp_path: Path, store_url: str) -> Path:
    # The example connector as shipped, but for its rate limit (the write-back is 3 calls a row).
    cfg = tmp_path / "crm-bridge.yaml"
    head = "schedule: {pull_every: 2, dispatch_every: 1, sla_tick_every: 5, reconcile_every: 3600}"
    cfg.write_text(example_config(store_url, connector=unthrottled_connector(tmp_path), head=head), encoding="utf-8")
    return cfg


def edit_in_crm(helpline: Helpline, rng: random.Random, count: int) -> dict[int, str]:
    """Someone edits `count` tickets in the CRM while the bridge runs; returns the subjects."""
    edited = {}
    with helpline.lock:
        for ticket_id in rng.sample(sorted(helpline.tickets), count):
            record = helpline.tickets[ticket_id]
            edited[ticket_id] = f"Изменено в CRM {ticket_id}"
            record |= {"subject": edited[ticket_id], "rev": record["rev"] + 1}
    return edited


def test_run_killed_during_import_and_write_back_to_a_rest_crm_loses_and_duplicates_nothing(
    tmp_path: Path, helpline: Helpline, seed: int,
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    cfg = configure(tmp_path, url)
    app = App.from_text(cfg.read_text(encoding="utf-8"), file=str(cfg))
    app.upgrade_db()
    rng = random.Random(seed)
    story: list[str] = []
    fleet = Fleet(["-c", str(cfg), "run", "--every", "1"], 1, tmp_path / "run.log")
    engine = create_engine(url)
    live = {str(k) for k in helpline.tickets}
    edited: dict[int, str] = {}
    try:
        for _ in range(2):  # import kills: after k listing pages were served, the listing not done
            served = helpline.calls["GET /tickets"]
            target = served + rng.randint(2, 8)
            wait_until(lambda t=target: helpline.calls["GET /tickets"] >= t, fleet, timeout=120,  # type: ignore[misc]
                       what=f"listing page #{target}", seed=seed)
            fleet.kill(0)
            bound = counts(engine)[0]
            assert bound < len(live), f"seed {seed}: the import kill came after the import ({progress(engine)})"
            story.append(f"import kill at page {helpline.calls['GET /tickets']} ({progress(engine)})")
            fleet.restart(0)
        for _ in range(2):  # write-back kills: at a random PUT while rows are pending
            wait_until(lambda: counts(engine)[1] > 0, fleet, timeout=180, what="rows to write back", seed=seed)
            puts, pending = helpline.calls["PUT /tickets/{id}"], counts(engine)[1]
            target = puts + rng.randint(1, max(1, pending // 3))
            wait_until(lambda t=target: helpline.calls["PUT /tickets/{id}"] >= t, fleet, timeout=180,  # type: ignore[misc]
                       what=f"PUT #{target}", seed=seed)
            fleet.kill(0)
            assert counts(engine)[1] > 0, f"seed {seed}: the write-back kill came after the write-back ({progress(engine)})"
            story.append(f"write-back kill at PUT #{helpline.calls['PUT /tickets/{id}']} ({progress(engine)})")
            edited |= edit_in_crm(helpline, rng, 10)  # the CRM moves on while the bridge is down
            fleet.restart(0)
        wait_until(lambda: settled(engine, live) and all(
            _subjects(engine, list(edited)).get(str(k)) == v for k, v in edited.items()),
            fleet, timeout=300, what="the sync to settle", seed=seed)
    finally:
        fleet.stop()
        engine.dispose()
    why = f"seed {seed}; {'; '.join(story)}"
    print(f"REST crash rounds: {why}")
    try:
        with app.store.transaction() as s:
            bindings = s.execute(select(BindingRow.remote_id, BindingRow.local_id).where(BindingRow.model == "ticket")).all()
            assert sorted(r for r, _ in bindings) == sorted(live), why  # each ticket bound exactly once
            tickets = {t.id: t for t in s.scalars(select(TicketRow))}
            assert len(tickets) == len(live), why  # no duplicate ticket, none lost
            planned = 0
            for remote_id, local_id in bindings:
                due = tickets[local_id].resolution_due
                remote = helpline.tickets[int(remote_id)]
                planned += due is not None
                assert (datetime.fromisoformat(remote["due_by"]) if remote["due_by"] else None) == due, f"{why}; {remote_id}"
                assert remote["note"] == f"internal note {remote_id}", why  # PUT replaced the record whole, every time
                assert tickets[local_id].subject == remote["subject"], f"{why}; {remote_id}"  # no CRM edit lost
            assert planned > len(live) / 3, why
            assert s.scalar(select(OutboxRow.id).where(OutboxRow.state != "sent").limit(1)) is None, why
        revs = {k: r["rev"] for k, r in helpline.tickets.items()}
        quiet = run_cycle(app)  # one more pass in this process: nothing to send, nothing written
        assert quiet["sync.dispatch"]["helpline"]["sent"] == 0, f"{why}; {quiet}"
        assert {k: r["rev"] for k, r in helpline.tickets.items()} == revs, why
    finally:
        app.close()


def _subjects(engine: Engine, ids: list[int]) -> dict[str, str]:
    """The local subjects of the tickets bound to these remote ids."""
    with engine.connect() as conn:
        rows = conn.execute(select(BindingRow.remote_id, TicketRow.subject)
                            .join(TicketRow, TicketRow.id == BindingRow.local_id)
                            .where(BindingRow.model == "ticket", BindingRow.remote_id.in_([str(i) for i in ids]))).all()
    return {str(r): str(s) for r, s in rows}
