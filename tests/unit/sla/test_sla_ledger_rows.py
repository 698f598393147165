"""The ledger's compact rows: what ``record`` writes folds several events into one row, and
``expand`` gives back exactly the events the clocks produced, in their order."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st

from sla.clock import Change, Evaluation, SlaEvent, TicketFacts, evaluate
from sla.ledger import LedgerRow, _compact, expand, record
from sla.settings import SlaConfig

MSK = ZoneInfo("Europe/Moscow")
SETTINGS = SlaConfig()  # the shipped policies: first response and resolution on one policy


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=MSK)


def evaluated(*changes: Change, now: datetime) -> Evaluation:
    state = {"type": "technical_problem", "priority": "normal", "status": "new", "channel": "email", "source": "external"}
    return evaluate(TicketFacts(at(23, 9), state, changes), SETTINGS.policies, SETTINGS.calendar, now)


def written(evaluation: Evaluation) -> list[LedgerRow]:
    rows: list[dict[str, Any]] = []
    record(None, 7, evaluation, stored=[], sink=rows)  # type: ignore[arg-type]  # no store: stored and sink given
    return [LedgerRow(**row) for row in rows]


def told(evaluation: Evaluation) -> list[tuple[Any, ...]]:
    return [(e.metric, e.cycle, e.kind, e.at, e.business.total_seconds(), e.calendar.total_seconds(), dict(e.data))
            for e in evaluation.events]


def read(rows: list[LedgerRow]) -> list[tuple[Any, ...]]:
    return [(r.metric, r.cycle, r.kind, r.at, r.business_seconds, r.calendar_seconds, r.data) for r in expand(rows)]


def test_the_two_openings_of_a_request_are_one_row_and_read_back_as_four_events() -> None:
    evaluation = evaluated(now=at(23, 9, 30))
    rows = written(evaluation)
    assert [(r.metric, r.kind) for r in rows] == [("resolution", "apply_policy")]
    assert rows[0].data["opens_also"] == "first_response"
    assert rows[0].data["target_seconds"] == 24 * 3600  # the row's own metric keeps its target in place
    assert rows[0].data["opens_also_target_seconds"] == 2 * 3600
    assert [e[:3] for e in read(rows)] == [("first_response", 1, "activate"), ("first_response", 1, "apply_policy"),
                                           ("resolution", 1, "activate"), ("resolution", 1, "apply_policy")]
    assert read(rows) == told(evaluation)


def test_a_story_with_pauses_breaches_and_a_next_response_reads_back_event_for_event() -> None:
    evaluation = evaluated(Change(at(23, 9), "message", "customer"), Change(at(23, 11), "status", "waiting_customer"),
                           Change(at(25, 11), "status", "in_progress"), Change(at(26, 10), "message", "agent"),
                           now=at(30, 12))
    rows = written(evaluation)
    assert len(rows) < len(evaluation.events)
    assert read(rows) == told(evaluation)


def test_openings_that_differ_in_more_than_their_target_stay_two_rows() -> None:
    head = {"ticket_id": 7, "generation": 1, "cycle": 1, "at": at(23, 9), "business_seconds": 0.0, "calendar_seconds": 0.0}
    data = {"policy": "gold", "reason": "matches every request", "calendar": "office", "target_seconds": 3600.0}
    rows: list[dict[str, Any]] = [
        {**head, "metric": "first_response", "kind": "activate", "data": {}},
        {**head, "metric": "first_response", "kind": "apply_policy", "data": data},
        {**head, "metric": "resolution", "kind": "activate", "data": {}},
        {**head, "metric": "resolution", "kind": "apply_policy", "data": {**data, "calendar": "24x7"}},
    ]
    _compact(rows, 0)  # the folding itself, on rows no evaluation makes
    assert [(r["metric"], r["kind"]) for r in rows] == [("first_response", "apply_policy"), ("resolution", "apply_policy")]
    assert [r[:3] for r in read([LedgerRow(**r) for r in rows])] == [
        ("first_response", 1, "activate"), ("first_response", 1, "apply_policy"),
        ("resolution", 1, "activate"), ("resolution", 1, "apply_policy")]


def folded_after(events: list[SlaEvent]) -> list[dict[str, Any]]:
    """What a new request's rows must be: every event a row, then ``_compact`` over them
    (the reference for a path that builds them some other way)."""
    rows = [{"ticket_id": 7, "generation": 1, "metric": e.metric, "cycle": e.cycle, "kind": e.kind, "at": e.at,
             "business_seconds": e.business.total_seconds(), "calendar_seconds": e.calendar.total_seconds(), "data": e.data}
            for e in events]
    _compact(rows, 0)
    return rows


METRICS = ("first_response", "resolution")
KINDS = ("activate", "apply_policy", "warn", "breach", "pause", "resume", "escalate", "fulfil")
GOLD: dict[str, Any] = {"policy": "gold", "calendar": "office", "target_seconds": 3600.0}
DATA: tuple[dict[str, Any], ...] = ({}, {}, GOLD, {**GOLD, "target_seconds": 7200.0}, {**GOLD, "calendar": "24x7"}, {"level": 1})


@st.composite
def event_lists(draw: st.DrawFn) -> list[SlaEvent]:
    """Events as the clocks might tell them, and orders they never would: openings and
    warnings before breaches (pairs that fold), pairs that almost do (another metric, cycle,
    instant, business time or data), single events of any kind."""
    def one(kind: str, metric: str, cycle: int, minute: int, data: tuple[dict[str, Any], ...] = DATA) -> SlaEvent:
        business = timedelta(seconds=draw(st.sampled_from((0, 0, 0, 60))))
        return SlaEvent(metric, cycle, kind, at(23, 9, minute), business, timedelta(seconds=draw(st.integers(0, 1)) * 90),
                        draw(st.sampled_from(data)))

    events: list[SlaEvent] = []
    for _ in range(draw(st.integers(0, 8))):
        metric, cycle, minute = draw(st.sampled_from(METRICS)), draw(st.sampled_from((1, 1, 2))), draw(st.sampled_from((0, 0, 1)))
        block = draw(st.sampled_from(("opening", "warned breach", "single")))
        if block == "opening":
            events += [one("activate", metric, cycle, minute), one("apply_policy", metric, cycle, minute, DATA[2:5])]
        elif block == "warned breach":
            events += [one("warn", metric, cycle, minute), one("breach", metric, cycle, minute + 1)]
        else:
            events.append(one(draw(st.sampled_from(KINDS)), metric, cycle, minute))
    return events


#: the chunk's rows before a request's: none, another request's opening, another request's
#: warning (rows no row of the request may join)
BEFORE = ((), ({"ticket_id": 6, "generation": 1, "metric": "first_response", "cycle": 1, "kind": "apply_policy",
                "at": at(23, 9), "business_seconds": 0.0, "calendar_seconds": 0.0, "data": {**GOLD, "opens": True}},),
          ({"ticket_id": 6, "generation": 1, "metric": "resolution", "cycle": 1, "kind": "warn", "at": at(23, 9),
            "business_seconds": 0.0, "calendar_seconds": 0.0, "data": {}},))


def opening(metric: str, data: dict[str, Any]) -> list[SlaEvent]:
    return [SlaEvent(metric, 1, "activate", at(23, 9), timedelta(0), timedelta(0), {}),
            SlaEvent(metric, 1, "apply_policy", at(23, 9), timedelta(0), timedelta(0), data)]


@settings(max_examples=400, deadline=None)
@given(events=event_lists(), before=st.sampled_from(BEFORE))
@example(events=[SlaEvent("resolution", 1, "breach", at(23, 9), timedelta(0), timedelta(0), {})], before=BEFORE[2])
@example(events=opening("resolution", {**GOLD, "target_seconds": 7200.0}), before=BEFORE[1])
@example(events=opening("first_response", GOLD) + opening("resolution", {**GOLD, "target_seconds": 7200.0}),
         before=BEFORE[0])
def test_a_new_requests_rows_are_folded_as_compact_folds_them(events: list[SlaEvent],
                                                              before: tuple[dict[str, Any], ...]) -> None:
    rows = [dict(row) for row in before]
    generation, appended = record(None, 7, Evaluation(events, []), stored=[], sink=rows)  # type: ignore[arg-type]
    assert (generation, appended) == (1, events)
    assert rows[:len(before)] == list(before)
    assert rows[len(before):] == folded_after(events)


def test_a_new_requests_evaluated_story_is_folded_as_compact_folds_it() -> None:
    evaluation = evaluated(Change(at(23, 9), "message", "customer"), Change(at(23, 11), "status", "waiting_customer"),
                           Change(at(25, 11), "status", "in_progress"), Change(at(26, 10), "message", "agent"),
                           now=at(30, 12))
    rows: list[dict[str, Any]] = []
    record(None, 7, evaluation, stored=[], sink=rows)  # type: ignore[arg-type]
    assert rows == folded_after(evaluation.events)
    assert any("warned" in r["data"] for r in rows)
    assert any("opens_also" in r["data"] for r in rows)
