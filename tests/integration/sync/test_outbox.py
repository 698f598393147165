"""Outbox rules on a real store: identity, merging, back-off, parking."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm_bridge.addons import discover, resolve_order
from crm_bridge.errors import RemoteRejected, RemoteUnavailable
from crm_bridge.events import DomainEvent, EventBus
from crm_bridge.registry import Registry
from crm_bridge.store.engine import Store, open_store
from crm_bridge.store.migrate import upgrade
from crm_bridge.store.records import create_record
from mapping.compile import compile_mapping
from mapping.spec import MappingSpec
from sync.exporter import MAX_ATTEMPTS, backoff, dispatch
from sync.outbox import enqueue
from sync.tables import BindingRow, OutboxRow

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SPEC = MappingSpec.model_validate({
    "model": "ticket", "entity": "Doc", "version": "v",
    "fields": {"number": "N", "resolution_due": {"from": "Due", "owner": "local"}, "subject": {"from": "Subj", "owner": "local"}},
})


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = open_store(store_url)
    upgrade(s, [a.path for a in resolve_order(discover())])
    yield s
    s.close()


def bound_ticket(store: Store) -> int:
    with store.transaction() as s:
        tid = create_record(s, "ticket", {"number": "T-1", "created_at": NOW})
        s.add(BindingRow(backend="crm", model="ticket", local_id=tid, remote_id="r-1", remote_version="v1"))
    return tid


def decide(store: Store, tid: int, due: datetime) -> None:
    registry = Registry()
    registry.add(enqueue, usage="event.handler", model="record.changed")
    bus = EventBus(registry)
    with store.transaction() as s:
        bus.unit(s, NOW, None).publish(DomainEvent("record.changed", "ticket", tid, "sla", {"fields": {"resolution_due": due}}))


class FakeBackend:
    name = "crm"
    mappings_dir = Path()

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail, self.sent = fail, []  # type: ignore[var-annotated]

    def update(self, spec: MappingSpec, remote_id: str, values: dict[str, Any], *,
               expected_version: str | None = None) -> str | None:
        if self.fail:
            raise self.fail
        self.sent.append((remote_id, values))
        return "v2"


def rows(store: Store) -> list[OutboxRow]:
    with store.transaction() as s:
        return list(s.scalars(select(OutboxRow)))


def test_decisions_before_dispatch_merge_into_one_write(store: Store) -> None:
    tid = bound_ticket(store)
    decide(store, tid, NOW + timedelta(hours=4))
    decide(store, tid, NOW + timedelta(hours=8))
    [row] = rows(store)
    assert row.fields == {"resolution_due": "2026-06-01T17:00:00Z"}
    backend = FakeBackend()
    stats = dispatch(store, backend, {"ticket": compile_mapping(SPEC)}, NOW)  # type: ignore[arg-type]
    assert stats.sent == 1
    assert backend.sent == [("r-1", {"Due": NOW + timedelta(hours=8)})]
    with store.transaction() as s:
        binding = s.scalars(select(BindingRow)).one()
        assert (binding.remote_version, binding.written_version) == ("v2", "v2")


def test_the_same_decision_against_the_same_remote_version_is_stored_once(store: Store) -> None:
    tid = bound_ticket(store)
    due = NOW + timedelta(hours=4)
    decide(store, tid, due)
    dispatch(store, FakeBackend(), {"ticket": compile_mapping(SPEC)}, NOW)  # type: ignore[arg-type]
    with store.transaction() as s:  # the binding goes back to the version the first decision saw
        s.scalars(select(BindingRow)).one().remote_version = "v1"
    decide(store, tid, due)  # a retried job repeats the decision
    assert [r.state for r in rows(store)] == ["sent"]


def test_retryable_fault_backs_off_and_keeps_the_row(store: Store) -> None:
    tid = bound_ticket(store)
    decide(store, tid, NOW + timedelta(hours=4))
    stats = dispatch(store, FakeBackend(RemoteUnavailable("1C: 503", retry_after=120)), {"ticket": compile_mapping(SPEC)}, NOW)  # type: ignore[arg-type]
    assert stats.retried == 1
    [row] = rows(store)
    assert (row.state, row.attempts) == ("pending", 1)
    assert row.next_attempt_at >= NOW + timedelta(seconds=120)
    assert row.last_error == "1C: 503"


def test_refusal_parks_the_row_with_the_reason(store: Store) -> None:
    tid = bound_ticket(store)
    decide(store, tid, NOW + timedelta(hours=4))
    stats = dispatch(store, FakeBackend(RemoteRejected("1C refused: field is read-only")), {"ticket": compile_mapping(SPEC)}, NOW)  # type: ignore[arg-type]
    assert stats.parked == 1
    [row] = rows(store)
    assert (row.state, row.last_error) == ("parked", "1C refused: field is read-only")


def test_a_row_out_of_attempts_is_parked_saying_it_gave_up(store: Store) -> None:
    tid = bound_ticket(store)
    decide(store, tid, NOW + timedelta(hours=4))
    fault = RemoteUnavailable("1C: PATCH Document_Интерес: HTTP 503 Сервер перегружен; will retry")
    at = NOW
    for _ in range(MAX_ATTEMPTS):
        stats = dispatch(store, FakeBackend(fault), {"ticket": compile_mapping(SPEC)}, at)  # type: ignore[arg-type]
        at += timedelta(days=1)  # past any back-off
    assert stats.parked == 1
    [row] = rows(store)
    assert (row.state, row.attempts) == ("parked", MAX_ATTEMPTS)
    assert row.last_error == f"gave up after {MAX_ATTEMPTS} attempts: 1C: PATCH Document_Интерес: HTTP 503 Сервер перегружен"


def send(store: Store, backend: FakeBackend, at: datetime) -> None:
    dispatch(store, backend, {"ticket": compile_mapping(SPEC)}, at)  # type: ignore[arg-type]


def test_an_older_row_retried_after_a_newer_one_went_out_does_not_overwrite_it(store: Store) -> None:
    """A row backs off after a 503; meanwhile a newer decision is sent. When the old row's
    turn comes it must not overwrite the newer value in the CRM (the import would skip
    that version as our own write, for good): it is withdrawn."""
    tid = bound_ticket(store)
    decide(store, tid, NOW + timedelta(hours=4))
    send(store, FakeBackend(RemoteUnavailable("1C: 503", retry_after=3600)), NOW)
    decide(store, tid, NOW + timedelta(hours=8))
    backend = FakeBackend()
    send(store, backend, NOW + timedelta(minutes=1))  # only the newer row is due
    send(store, backend, NOW + timedelta(hours=2))  # the older one's turn
    assert backend.sent == [("r-1", {"Due": NOW + timedelta(hours=8)})]
    older, newer = sorted(rows(store), key=lambda r: r.id)
    assert (older.state, older.last_error) == ("withdrawn", "replaced by a newer decision (resolution_due)")
    assert newer.state == "sent"


def test_a_parked_row_retried_by_a_person_sends_only_what_no_newer_row_sets(store: Store) -> None:
    tid = bound_ticket(store)
    registry = Registry()
    registry.add(enqueue, usage="event.handler", model="record.changed")
    with store.transaction() as s:
        EventBus(registry).unit(s, NOW, None).publish(DomainEvent("record.changed", "ticket", tid, "sla", {"fields": {
            "resolution_due": NOW + timedelta(hours=4), "subject": "Не печатает"}}))
    send(store, FakeBackend(RemoteRejected("1C refused")), NOW)
    decide(store, tid, NOW + timedelta(hours=8))
    backend = FakeBackend()
    send(store, backend, NOW)
    with store.transaction() as s:  # `crm-bridge jobs retry` of the parked row
        s.scalars(select(OutboxRow).where(OutboxRow.state == "parked")).one().state = "pending"
    send(store, backend, NOW)
    assert backend.sent == [("r-1", {"Due": NOW + timedelta(hours=8)}), ("r-1", {"Subj": "Не печатает"})]


def test_the_same_decision_again_while_its_row_waits_to_retry_is_not_lost(store: Store) -> None:
    tid = bound_ticket(store)
    decide(store, tid, NOW + timedelta(hours=4))
    send(store, FakeBackend(RemoteUnavailable("1C: 503")), NOW)
    decide(store, tid, NOW + timedelta(hours=4))  # a retried job repeats it
    assert len(rows(store)) == 1
    backend = FakeBackend()
    send(store, backend, NOW + timedelta(hours=1))
    assert backend.sent == [("r-1", {"Due": NOW + timedelta(hours=4)})]


def test_a_change_back_after_a_decision_in_between_is_sent(store: Store) -> None:
    """A, then B (neither sent yet: 1C is down), then A again: A is what 1C must hold."""
    tid = bound_ticket(store)
    down = FakeBackend(RemoteUnavailable("1C: 503"))
    for hours in (4, 8, 4):
        decide(store, tid, NOW + timedelta(hours=hours))
        send(store, down, NOW)
    assert len(rows(store)) == 3
    backend = FakeBackend()
    send(store, backend, NOW + timedelta(days=1))
    assert backend.sent == [("r-1", {"Due": NOW + timedelta(hours=4)})]
    assert [r.state for r in sorted(rows(store), key=lambda r: r.id)] == ["withdrawn", "withdrawn", "sent"]


def test_backoff_grows_and_honours_retry_after() -> None:
    assert backoff(0, None, base=5) <= timedelta(seconds=5)
    assert backoff(20, None, base=5, cap=60) <= timedelta(seconds=60)
    assert backoff(1, 300.0) >= timedelta(seconds=300)


def test_once_a_write_finds_the_record_changed_by_someone_else_no_later_version_of_the_batch_is_ours(store: Store) -> None:
    """The first write's answer showed a 1C user's edit (no version returned); a second row
    of the same record in the batch gets a version that holds that edit too."""
    tid = bound_ticket(store)
    registry = Registry()
    registry.add(enqueue, usage="event.handler", model="record.changed")
    decide(store, tid, NOW + timedelta(hours=4))
    send(store, FakeBackend(RemoteUnavailable("1C: 503")), NOW)  # tried once: the next decision gets its own row
    with store.transaction() as s:
        EventBus(registry).unit(s, NOW, None).publish(DomainEvent("record.changed", "ticket", tid, "ui", {"fields": {
            "subject": "Не печатает"}}))

    class Concurrent(FakeBackend):
        def update(self, spec: MappingSpec, remote_id: str, values: dict[str, Any], *,
                   expected_version: str | None = None) -> str | None:
            super().update(spec, remote_id, values, expected_version=expected_version)
            return None if len(self.sent) == 1 else "v3"

    backend = Concurrent()
    send(store, backend, NOW + timedelta(hours=1))
    assert len(backend.sent) == 2
    with store.transaction() as s:
        assert s.scalars(select(BindingRow.remote_version)).one() is None  # the next import reads it again


def test_the_outbox_finds_a_records_bindings_and_rows_by_index_not_by_reading_every_one(tmp_path: Path) -> None:
    """Each decision looks up every backend's binding of its record: with the bindings of
    a whole 1C base in the table, a scan per look-up made a pass of a thousand changed
    requests cost seconds. No statement of a decision or a dispatch reads a table whole."""
    from sqlalchemy import event

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(store, [a.path for a in resolve_order(discover())])
    try:
        tid = bound_ticket(store)
        with store.transaction() as s:  # the same request bound to a second backend too
            s.add(BindingRow(backend="other", model="ticket", local_id=tid, remote_id="o-1", remote_version="w1"))
        statements: list[tuple[str, Any]] = []

        def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> None:
            if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "DELETE")):
                statements.append((statement, parameters[0] if executemany else parameters))

        event.listen(store.engine, "before_cursor_execute", grab)
        decide(store, tid, NOW + timedelta(hours=4))
        dispatch(store, FakeBackend(), {"ticket": compile_mapping(SPEC)}, NOW + timedelta(minutes=1))
        event.remove(store.engine, "before_cursor_execute", grab)
        assert {r.backend for r in rows(store)} == {"crm", "other"}  # a row per backend the record is bound to
        assert any("FROM bindings" in s for s, _ in statements)
        with store.engine.connect() as conn:
            scans = {s: plan for s, params in statements
                     for plan in [[str(step[3]) for step in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + s, tuple(params or ()))
                                   if str(step[3]).startswith("SCAN") and ("bindings" in str(step[3]) or "outbox" in str(step[3]))]]
                     if plan}
        assert scans == {}
    finally:
        store.close()


def test_a_backlog_of_updates_is_claimed_and_recorded_in_batches_not_two_rows_a_transaction(store: Store) -> None:
    """40 records' due dates at max_concurrency 4: their claims are taken and their
    outcomes recorded a batch (``BATCH_PER_CONNECTION`` × 4 = 32 rows) at a time, so the
    write-back costs a handful of transactions, not one for every two rows a round of the
    lanes finished (about 20 before); each record is still written once, with its value."""
    from sqlalchemy import event

    from sync.exporter import BATCH_PER_CONNECTION

    tickets = []
    with store.transaction() as s:
        for n in range(40):
            tid = create_record(s, "ticket", {"number": f"T-{n}", "created_at": NOW})
            s.add(BindingRow(backend="crm", model="ticket", local_id=tid, remote_id=f"r-{n}", remote_version="v1"))
            tickets.append(tid)
    for n, tid in enumerate(tickets):
        decide(store, tid, NOW + timedelta(hours=n + 1))
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda _conn: commits.append(1))
    backend = FakeBackend()
    stats = dispatch(store, backend, {"ticket": compile_mapping(SPEC)}, NOW, concurrency=4)  # type: ignore[arg-type]
    assert stats.sent == 40
    assert sorted(remote_id for remote_id, _ in backend.sent) == sorted(f"r-{n}" for n in range(40))  # once each
    assert all(len(values) == 1 for _, values in backend.sent)
    assert {row.state for row in rows(store)} == {"sent"}
    assert not [row for row in rows(store) if row.claimed_by is not None]
    batches = -(-40 // (BATCH_PER_CONNECTION * 4))
    # Four before the lanes (the due rows, the creates' look-ups), then the first claim, a record
    # and the next claim together per batch after it, the last record: 7 (it was 16).
    assert len(commits) <= 4 + batches + 1, len(commits)
