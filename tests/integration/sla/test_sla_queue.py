"""The planning queue on both stores: an import queues, ``sla.tick`` plans; a plan of
older facts never takes off a request queued again after it read; on PostgreSQL a second
planner skips the chunk the first holds (SKIP LOCKED); a request whose plan fails stays
queued without holding up the others."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from adapters.onec.cli import demo_config
from crm_bridge.app import App, FrozenClock
from crm_bridge.events import Unit
from crm_bridge.store.tables import TicketRow
from sla import CalendarLayer
from sla import engine as sla_engine
from sla import queue as sla_queue
from sla.clock import evaluate
from sla.ledger import record
from sla.tables import SlaClockRow, SlaEventRow, SlaQueueRow

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))


@pytest.fixture
def app(store_url: str) -> Iterator[App]:
    text = demo_config("http://127.0.0.1:9/crm/odata/standard.odata/", Path("unused.db"))
    bridge = App.from_text(text.replace("sqlite:///unused.db", store_url), clock=FrozenClock(NOW))
    bridge.upgrade_db()
    with bridge.store.transaction() as s:
        for i in (1, 2, 3):
            s.add(TicketRow(id=i, number=f"T-{i}", type="incident", priority="normal", channel="email",
                            source="external", status="new", created_at=NOW))
    yield bridge
    bridge.close()


def queued(app: App) -> dict[int, int]:
    with app.store.transaction() as s:
        return {int(t): int(k) for t, k in s.execute(select(SlaQueueRow.ticket_id, SlaQueueRow.token))}


def clocks(app: App) -> set[int]:
    with app.store.transaction() as s:
        return set(s.scalars(select(SlaClockRow.ticket_id)))


def test_queueing_again_draws_a_new_token_and_the_tick_plans_each_request_once(app: App) -> None:
    with app.store.transaction() as s:
        sla_queue.queue(s, [3, 1, 1], NOW)  # a page may name a request twice
    first = queued(app)
    assert set(first) == {1, 3}
    with app.store.transaction() as s:
        sla_queue.queue(s, [1, 2], NOW)
    second = queued(app)
    assert set(second) == {1, 2, 3}
    assert second[3] == first[3]
    assert second[1] != first[1]
    summary = app.run_job("sla.tick")
    assert (summary["planned"], "error" in summary) == (3, False)
    assert queued(app) == {}
    assert clocks(app) == {1, 2, 3}


def test_a_plan_of_older_facts_leaves_a_request_queued_again_meanwhile(app: App) -> None:
    with app.store.transaction() as s:
        sla_queue.queue(s, [1, 2], NOW)
    with app.store.transaction() as s:
        read = s.execute(select(SlaQueueRow.ticket_id, SlaQueueRow.token, SlaQueueRow.reason).order_by(SlaQueueRow.ticket_id)).all()
    with app.store.transaction() as s:  # an import changes request 1 after the planner read the queue
        s.get(TicketRow, 1).priority = "urgent"  # type: ignore[union-attr]
        sla_queue.queue(s, [1], NOW)
    again = queued(app)[1]
    assert sla_engine._plan_queued(app, NOW, read) == 2
    assert queued(app) == {1: again}  # planned once more at the next tick, with its new facts
    # a row planned, deleted and queued again never meets a stale token equal to its own
    sla_engine.plan_queued(app, NOW)
    with app.store.transaction() as s:
        sla_queue.queue(s, [2], NOW)
    assert sla_engine._plan_queued(app, NOW, read[1:]) == 1
    assert 2 in queued(app)


def test_a_request_whose_plan_fails_stays_queued_and_the_others_are_planned(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = sla_engine.plan_many

    def fails_on_2(unit: Unit, ids: list[int], **options: Any) -> int:
        if 2 in ids:
            raise RuntimeError("a policy that cannot read request 2")
        return real(unit, ids, **options)

    monkeypatch.setattr(sla_engine, "plan_many", fails_on_2)
    with app.store.transaction() as s:
        sla_queue.queue(s, [1, 2, 3], NOW)
    summary = app.run_job("sla.tick")
    assert summary["planned"] == 2
    assert "1 imported request(s) could not be planned" in summary["error"]
    assert set(queued(app)) == {2}
    assert clocks(app) == {1, 3}
    with app.store.transaction() as s:  # the failed chunk wrote nothing twice
        assert len(set(s.execute(select(SlaEventRow.ticket_id, SlaEventRow.metric, SlaEventRow.kind)))) == \
            len(s.scalars(select(SlaEventRow.id)).all())


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_on_postgresql_a_second_planner_leaves_the_queue_to_the_first(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    real = sla_engine.plan_many
    inside, go = threading.Event(), threading.Event()

    def slow(unit: Unit, ids: list[int], **options: Any) -> int:
        planned = real(unit, ids, **options)
        if threading.current_thread().name == "first":
            inside.set()
            assert go.wait(10)
        return planned

    monkeypatch.setattr(sla_engine, "plan_many", slow)
    with app.store.transaction() as s:
        sla_queue.queue(s, [1, 2, 3], NOW)
    results: list[tuple[int, int]] = []
    first = threading.Thread(target=lambda: results.append(sla_engine.plan_queued(app, NOW)), name="first")
    first.start()
    assert inside.wait(10)
    assert sla_engine.plan_queued(app, NOW) == (0, 0)  # the queue is the first planner's
    go.set()
    first.join(10)
    assert results == [(3, 0)]
    assert queued(app) == {}


def test_a_calendar_change_queues_with_its_reason_and_an_import_queueing_again_keeps_it(app: App) -> None:
    app.run_job("sla.tick")  # plans 1-3 (nothing queued: they have no clocks yet) and records the calendars
    with app.store.transaction() as s:
        sla_queue.queue(s, [1, 2, 3], NOW)
    app.run_job("sla.tick")
    assert clocks(app) == {1, 2, 3}
    settings = app.config.section("sla")
    office = settings.calendar("office")
    edited = office.layered(CalendarLayer(name="closure", closed=frozenset({date(2026, 11, 24)})))
    settings.built_calendars["office"] = edited  # as if the file changed: the same name, other days
    try:
        assert sla_queue.queue_calendar_changes(app, NOW) == 3
        with app.store.transaction() as s:
            sla_queue.queue(s, [2], NOW)  # an import queues request 2 again meanwhile
            reasons = dict(s.execute(select(SlaQueueRow.ticket_id, SlaQueueRow.reason)).all())
        assert reasons == dict.fromkeys((1, 2, 3), "calendar office changed for 2026-11-24")
        assert sla_queue.queue_calendar_changes(app, NOW) == 0  # recorded: once is enough
        assert app.run_job("sla.tick")["planned"] == 3
        with app.store.transaction() as s:
            ticket = s.get(TicketRow, 1)
            assert ticket is not None
            assert ticket.resolution_due is not None
            rows = s.scalars(select(SlaEventRow).where(SlaEventRow.kind.in_(["recalculate", "replan"]))).all()
        assert {r.data["reason"] for r in rows} == {"calendar office changed for 2026-11-24"}
    finally:
        settings.built_calendars["office"] = office


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_on_postgresql_two_planners_share_the_queue_and_plan_each_request_once(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    real = sla_engine.plan_many
    inside, go = threading.Event(), threading.Event()
    planned_by: dict[str, list[int]] = {"first": [], "second": []}

    def slow(unit: Unit, ids: list[int], **options: Any) -> int:
        name = threading.current_thread().name
        planned_by["first" if name == "first" else "second"] += ids
        changed = real(unit, ids, **options)
        if name == "first":
            inside.set()
            assert go.wait(10)
        return changed

    monkeypatch.setattr(sla_engine, "plan_many", slow)
    with app.store.transaction() as s:
        sla_queue.queue(s, [1, 2, 3], NOW)
    results: list[tuple[int, int]] = []
    first = threading.Thread(target=lambda: results.append(sla_engine.plan_queued(app, NOW, chunk=1)), name="first")
    first.start()
    assert inside.wait(10)  # the first holds request 1 (its queue row and its request, uncommitted)
    assert sla_engine.plan_queued(app, NOW, chunk=1) == (2, 0)  # the second skips it and plans the others
    go.set()
    first.join(10)
    assert results == [(1, 0)]
    assert planned_by == {"first": [1], "second": [2, 3]}
    assert queued(app) == {}
    with app.store.transaction() as s:
        assert sorted(s.scalars(select(SlaClockRow.ticket_id))) == [1, 2, 3]


def planned_state(app: App) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ledger (in the order written, without the instant of writing), the requests' SLA
    fields and the clocks, as a plan leaves them."""
    with app.store.transaction() as s:
        ledger = [tuple(r) for r in s.execute(select(
            SlaEventRow.ticket_id, SlaEventRow.generation, SlaEventRow.metric, SlaEventRow.cycle, SlaEventRow.kind,
            SlaEventRow.at, SlaEventRow.business_seconds, SlaEventRow.calendar_seconds, SlaEventRow.data)
            .order_by(SlaEventRow.ticket_id, SlaEventRow.id))]
        fields = [tuple(r) for r in s.execute(select(
            TicketRow.id, TicketRow.first_response_due, TicketRow.resolution_due, TicketRow.sla_policy, TicketRow.sla_state,
            TicketRow.sla_breached).order_by(TicketRow.id))]
        clock_rows = [tuple(r) for r in s.execute(select(
            SlaClockRow.ticket_id, SlaClockRow.generation, SlaClockRow.policy, SlaClockRow.state, SlaClockRow.next_check,
            SlaClockRow.notes).order_by(SlaClockRow.ticket_id))]
    return ledger, fields, clock_rows


def plan_alone(app: App, ticket_id: int, now: datetime) -> None:
    """A request planned the way one was before the planner (``sla_plan_bench``'s reference):
    its ORM row, its history, ``record`` reading its ledger, the summary set on the row."""
    settings = app.config.section("sla")
    with app.store.transaction() as s:
        unit = app.bus.unit(s, now, app.config)
        ticket = s.get(TicketRow, ticket_id)
        assert ticket is not None
        evaluation = evaluate(sla_engine.facts_for(unit, ticket), settings.policies, settings.calendar, now)
        record(s, ticket_id, evaluation)
        for key, value in sla_engine._summary(evaluation, ticket).items():
            setattr(ticket, key, value)


def test_a_chunk_of_new_and_planned_requests_is_planned_as_one_by_one(app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """Request 1 planned before, 2 and 3 new, planned in one chunk: the same ledger and SLA
    fields as the per-request path gives each alone, and the same events published (the
    handlers' and the outbox's input), in the same order, as chunks of one request."""
    later = NOW.replace(day=27)  # past the first response and resolution targets: warnings, breaches, escalations
    with app.store.transaction() as s:
        s.get(TicketRow, 3).priority = "urgent"  # type: ignore[union-attr]  # another policy: another story
        sla_queue.queue(s, [1], NOW)
    sla_engine.plan_queued(app, NOW)
    before = planned_state(app)
    real = Unit.publish
    told: list[list[tuple[str, int, str]]] = []
    for chunk in (3, 1):
        reset(app, before)
        with app.store.transaction() as s:
            sla_queue.queue(s, [1, 2, 3], later)
        published: list[tuple[str, int, str]] = []
        monkeypatch.setattr(Unit, "publish", lambda unit, event, sink=published: (
            sink.append((event.kind, event.local_id, repr(sorted(event.data.items())))), real(unit, event)))
        assert sla_engine.plan_queued(app, later, chunk=chunk) == (3, 0)
        monkeypatch.undo()
        told.append(published)
        if chunk == 3:
            ledger, fields, _ = planned_state(app)
    assert told[0] == told[1]
    assert {row[0] for row in ledger} == {1, 2, 3}
    assert {row[1] for row in ledger} == {1}
    assert any(row[0] == 1 and row[4] == "breach" for row in ledger)  # request 1's ledger grew in the chunk
    reset(app, before)
    for ticket_id in (1, 2, 3):
        plan_alone(app, ticket_id, later)
    alone, alone_fields, _ = planned_state(app)
    assert (ledger, fields) == (alone, alone_fields)


def reset(app: App, state: tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]) -> None:
    """Back to `state` (``planned_state``): the ledger rows after it gone, the SLA fields as they were."""
    ledger, fields, _ = state
    with app.store.transaction() as s:
        kept = {row[0] for row in ledger}
        s.query(SlaEventRow).filter(SlaEventRow.ticket_id.not_in(kept)).delete()
        s.query(SlaClockRow).filter(SlaClockRow.ticket_id.not_in(kept)).delete()
        s.query(SlaQueueRow).delete()
        for ticket_id, *values in fields:
            s.query(TicketRow).filter(TicketRow.id == ticket_id).update(dict(zip(
                ("first_response_due", "resolution_due", "sla_policy", "sla_state", "sla_breached"), values, strict=True)))
        count = s.query(SlaEventRow).filter(SlaEventRow.ticket_id == 1).count()
        extra = count - sum(1 for row in ledger if row[0] == 1)
        if extra:  # request 1's rows appended after `state`: the newest ones
            newest = [i for (i,) in s.execute(select(SlaEventRow.id).where(SlaEventRow.ticket_id == 1)
                                              .order_by(SlaEventRow.id.desc()).limit(extra))]
            s.query(SlaEventRow).filter(SlaEventRow.id.in_(newest)).delete()
