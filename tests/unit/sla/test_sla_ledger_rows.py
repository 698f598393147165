"""The ledger's compact rows: what ``record`` writes folds several events into one row, and
``expand`` gives back exactly the events the clocks produced, in their order."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sla.clock import Change, Evaluation, TicketFacts, evaluate
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
