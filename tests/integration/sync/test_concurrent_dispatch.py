"""Concurrent write-back on a real store (SQLite and PostgreSQL): up to `concurrency`
records are written at once, one record's writes never overlap and keep their order,
and a remote that says it is overloaded (429, 503) stops the pass: the rows not tried
wait as long as it asked, spending no attempt."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm_bridge.addons import discover, resolve_order
from crm_bridge.errors import RemoteBusy
from crm_bridge.events import DomainEvent, EventBus
from crm_bridge.registry import Registry
from crm_bridge.store.engine import Store, open_store
from crm_bridge.store.migrate import upgrade
from crm_bridge.store.records import create_record
from mapping.compile import compile_mapping
from mapping.spec import MappingSpec
from sync.exporter import dispatch
from sync.outbox import enqueue
from sync.tables import BindingRow, OutboxRow

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SPEC = MappingSpec.model_validate({
    "model": "ticket", "entity": "Doc", "version": "v",
    "fields": {"number": "N", "resolution_due": {"from": "Due", "owner": "local"},
               "subject": {"from": "Subj", "owner": "local"}},
})
WRITE_SECONDS = 0.05
MEET_SECONDS = 5.0


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    upgrade(s, [a.path for a in resolve_order(discover())])
    yield s
    s.close()


def tickets(store: Store, count: int) -> list[int]:
    with store.transaction() as s:
        ids = [create_record(s, "ticket", {"number": f"T-{i}", "created_at": NOW}) for i in range(count)]
        s.add_all(BindingRow(backend="crm", model="ticket", local_id=tid, remote_id=f"r-{tid}", remote_version="v1")
                  for tid in ids)
    return ids


def decide(store: Store, tid: int, fields: dict[str, Any]) -> None:
    registry = Registry()
    registry.add(enqueue, usage="event.handler", model="record.changed")
    with store.transaction() as s:
        EventBus(registry).unit(s, NOW, None).publish(DomainEvent("record.changed", "ticket", tid, "sla", {"fields": fields}))


class SlowBackend:
    """A remote answering each write after WRITE_SECONDS; counts writes in flight."""

    name = "crm"
    mappings_dir = Path()

    def __init__(self, busy_after: int | None = None, meet: int = 0) -> None:
        self.lock = threading.Condition()
        self.meet = meet  # hold each write until this many are in flight once (at most MEET_SECONDS)
        self.in_flight: set[str] = set()
        self.most = 0
        self.overlapped: list[str] = []  # records written twice at once
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.busy_after = busy_after

    def update(self, spec: MappingSpec, remote_id: str, values: dict[str, Any], *,
               expected_version: str | None = None) -> str | None:
        with self.lock:
            if self.busy_after is not None and len(self.sent) >= self.busy_after:
                raise RemoteBusy("crm: PATCH: HTTP 429 Too Many Requests; will retry", retry_after=90)
            if remote_id in self.in_flight:
                self.overlapped.append(remote_id)
            self.in_flight.add(remote_id)
            self.most = max(self.most, len(self.in_flight))
            self.lock.notify_all()
            # On a busy machine the dispatcher's threads may not all be running within one
            # write's time: wait (bounded) for the others, so the bound is what is measured.
            self.lock.wait_for(lambda: self.most >= self.meet, timeout=MEET_SECONDS)
        time.sleep(WRITE_SECONDS)
        with self.lock:
            self.in_flight.discard(remote_id)
            self.sent.append((remote_id, values))
        return f"v-{len(self.sent)}"


def rows(store: Store) -> list[OutboxRow]:
    with store.transaction() as s:
        return list(s.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def test_records_are_written_concurrently_and_each_record_in_order(store: Store) -> None:
    ids = tickets(store, 12)
    for tid in ids:
        decide(store, tid, {"resolution_due": NOW + timedelta(hours=tid)})
    with store.transaction() as s:  # a second row on four records (as when the first was in flight when decided)
        s.add_all(OutboxRow(backend="crm", model="ticket", local_id=tid, identity_key=f"second/{tid}",
                            fields={"subject": f"second {tid}"}, origin="test", next_attempt_at=NOW) for tid in ids[:4])
    backend = SlowBackend(meet=4)
    stats = dispatch(store, backend, {"ticket": compile_mapping(SPEC)}, NOW, concurrency=4)  # type: ignore[arg-type]
    assert stats.sent == 16
    assert backend.most == 4  # four records at once, never more
    assert backend.overlapped == []  # never two writes of one record at once
    for tid in ids[:4]:  # a record's rows went in the order they were decided
        order = [values for remote_id, values in backend.sent if remote_id == f"r-{tid}"]
        assert list(order[0]) == ["Due"], order
        assert order[1] == {"Subj": f"second {tid}"}, order
    assert {r.state for r in rows(store)} == {"sent"}


def test_one_at_a_time_when_the_bound_is_one(store: Store) -> None:
    for tid in tickets(store, 5):
        decide(store, tid, {"resolution_due": NOW + timedelta(hours=tid)})
    backend = SlowBackend()
    stats = dispatch(store, backend, {"ticket": compile_mapping(SPEC)}, NOW, concurrency=1)  # type: ignore[arg-type]
    assert (stats.sent, backend.most) == (5, 1)


def test_an_overloaded_remote_stops_the_pass_and_the_rest_wait_without_spending_attempts(store: Store) -> None:
    for tid in tickets(store, 10):
        decide(store, tid, {"resolution_due": NOW + timedelta(hours=tid)})
    backend = SlowBackend(busy_after=2)
    stats = dispatch(store, backend, {"ticket": compile_mapping(SPEC)}, NOW, concurrency=1)  # type: ignore[arg-type]
    assert stats.sent == 2
    after = rows(store)
    met, waiting = after[2], after[3:]
    assert (met.state, met.attempts) == ("pending", 1)  # the row that met the 429 spent its attempt
    assert met.next_attempt_at >= NOW + timedelta(seconds=90)
    assert len(backend.sent) == 2  # nothing more was sent to a remote that said it is overloaded
    for row in waiting:
        assert (row.state, row.attempts) == ("pending", 0)
        assert row.next_attempt_at >= NOW + timedelta(seconds=90)
        assert (row.last_error or "").startswith("waits: crm: PATCH: HTTP 429")
    assert stats.retried == 8
