"""A request the import queued for its SLA plan is written to 1C once, after the plan.

The import merged the fields the bridge owns (``sla_state``, the due dates) into an outbox
row as soon as it stored a new request (an empty state against 1C's "", the same empty
since); any decision on a request queued for its plan waits for the next ``sla.tick``.
Under workers a dispatch tick can fall between the two: the request was then PATCHed
twice — the owned fields as imported, then the plan. The outbox now holds a record's
rows while an addon's decision on it is still to come (``usage="sync.awaits"``), for at
most ``sync.hold.HOLD_AT_MOST``; the plan merges into the waiting row: one PATCH.
The PATCHes are counted per record at the emulator's HTTP gateway (a real server).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.events import DomainEvent
from sla.tables import SlaQueueRow
from sync.hold import HOLD_AT_MOST
from sync.tables import OutboxRow

MOSCOW = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=MOSCOW)
DOC = "Document_Интерес"


class PatchLog:
    """The emulator's gateway, counting PATCHes per request path (one path per record)."""

    def __init__(self, emulator: Emulator) -> None:
        self.by_path: collections.Counter[str] = collections.Counter()
        self._gateway = emulator._server.gateway  # type: ignore[union-attr]
        emulator._server.gateway = self  # type: ignore[union-attr]

    def __call__(self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, origin: str) -> Any:
        if method == "PATCH" and DOC in path:
            self.by_path[path] += 1
        return self._gateway(method, path, query, headers, body, origin)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=7, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOW)


@pytest.fixture
def bridge(emulator: Emulator, store_url: str, clock: FrozenClock) -> Iterator[App]:
    """The demo's configuration on each store (on PostgreSQL the dispatch's hold is the
    query the workers run)."""
    app = App.from_text(demo_config(emulator.base_url, Path("unused.db")).replace("sqlite:///unused.db", store_url),
                        clock=clock)
    app.upgrade_db()
    yield app
    app.close()


def live(emulator: Emulator) -> int:
    return sum(1 for d in emulator.records(DOC) if not d["DeletionMark"])


def test_a_dispatch_between_import_and_plan_writes_each_request_once(emulator: Emulator, bridge: App) -> None:
    patches = PatchLog(emulator)
    bridge.run_job("sync.pull")
    early = bridge.run_job("sync.dispatch")["demo-1c"]
    assert (early["sent"], sum(patches.by_path.values())) == (0, 0)  # every new request waits for its plan
    assert early["pending"] == 0  # held rows are not due: a `run --once` budget is not spent on them
    bridge.run_job("sla.tick")
    done = bridge.run_job("sync.dispatch")["demo-1c"]
    assert done["sent"] == live(emulator)
    assert len(patches.by_path) == live(emulator)
    assert set(patches.by_path.values()) == {1}, patches.by_path.most_common(3)
    with bridge.store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending")) == 0
    waiting = next(str(s["Ref_Key"]) for s in emulator.records("Catalog_СостоянияИнтересов")
                   if s["Description"] == "Ожидает ответа клиента")
    for doc in emulator.records(DOC):  # the plan went out in that one write, not the merge row alone
        if not doc["DeletionMark"] and doc["Состояние_Key"] != waiting:
            assert doc["СрокИсполнения"] != "0001-01-01T00:00:00", doc["Number"]


def test_a_plan_that_never_comes_holds_the_rows_no_longer_than_the_bound(emulator: Emulator, bridge: App,
                                                                          clock: FrozenClock) -> None:
    patches = PatchLog(emulator)
    bridge.run_job("sync.pull")
    with bridge.store.transaction() as s:  # a decision of crm-bridge's on each queued request, before any plan
        ids = list(s.scalars(select(SlaQueueRow.ticket_id).order_by(SlaQueueRow.ticket_id)))
        unit = bridge.bus.unit(s, clock(), bridge.config)
        for tid in ids:
            unit.publish(DomainEvent("record.changed", "ticket", tid, "test", {"fields": {"sla_state": "at_risk"}}))
    with bridge.store.transaction() as s:
        waiting = s.scalar(select(func.count()).select_from(OutboxRow).where(OutboxRow.state == "pending"))
        assert s.scalar(select(func.count()).select_from(SlaQueueRow)) == live(emulator)
    assert waiting == len(ids) == live(emulator)
    clock.at += HOLD_AT_MOST - timedelta(seconds=1)
    assert bridge.run_job("sync.dispatch")["demo-1c"]["sent"] == 0
    clock.at += timedelta(seconds=2)  # the planner is stuck (sla.tick never ran): nothing is lost, only late
    got = bridge.run_job("sync.dispatch")["demo-1c"]
    assert got["sent"] == waiting, got
    assert sum(patches.by_path.values()) == waiting
