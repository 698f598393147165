"""The replay of past requests: who would have taken each, the waits it would have had
(full agents, shifts), predicted SLA compliance beside the actual one, proposed rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.decide import AgentState, RequestFacts
from routing.settings import Capacity, RuleSpec
from routing.simulate import PastRequest, simulate
from routing.simulate_view import render_simulation, simulation_report

MSK = ZoneInfo("Europe/Moscow")
DAY = datetime(2026, 11, 2, 0, 0, tzinfo=MSK)  # a Monday
END = DAY + timedelta(days=3)


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def nine_to_six(_key: str, instant: datetime) -> datetime | None:
    """On shift 09:00-18:00 every day; else when the next shift starts."""
    local = instant.astimezone(MSK)
    if 9 <= local.hour < 18:
        return None
    start = local.replace(hour=9, minute=0, second=0, microsecond=0)
    return start if local.hour < 9 else start + timedelta(days=1)


def no_leave(_key: str, _instant: datetime) -> date | None:
    return None


def past(number: int, created: float, took: float, *, due: float | None = None, actual: str | None = "b",
         customer: int | None = None, **facts: Any) -> PastRequest:
    return PastRequest(RequestFacts(f"CRM-{number}", "consultation", {"type": "consultation", "tags": [], **facts}),
                       created_at=at(created), priority="normal", customer=customer, actual_agent=actual,
                       done_at=at(created + took), resolution_due=at(due) if due is not None else None,
                       first_response_at=at(created + 0.1), first_response_due=at(created + 0.5))


AGENTS = [AgentState("a", "Anna", 1, capacity=Capacity(max=1)), AgentState("b", "Boris", 2, capacity=Capacity(max=1))]
TEAMS: dict[str | None, list[str]] = {None: ["a", "b"]}
LEAST = [RuleSpec(name="all", method="least_loaded")]


def test_a_request_nobody_can_take_waits_for_the_first_agent_who_frees_up_or_comes_on_shift() -> None:
    requests = [past(1, 10, 1), past(2, 10 + 1 / 6, 0.5), past(3, 10 + 2 / 6, 0.5, due=11), past(4, 20, 1)]
    result = simulate(requests, LEAST, AGENTS, TEAMS, shift=nine_to_six, leave=no_leave, end=END)
    rows = {r.number: r for r in result.requests}
    assert [(rows[f"CRM-{n}"].agent, rows[f"CRM-{n}"].wait) for n in (1, 2, 3, 4)] == [
        ("a", timedelta(0)), ("b", timedelta(0)),
        ("b", timedelta(minutes=20)),  # both full until Boris's request ended at 10:40
        ("a", timedelta(hours=13))]  # created at 20:00, nobody on shift until 09:00
    assert rows["CRM-3"].resolution is False  # 20 minutes of waiting push it past 11:00
    assert rows["CRM-3"].actual_resolution is True
    assert result.simulated == {"a": 2, "b": 2}
    assert result.actual == {"b": 4}
    assert result.peak == {"a": 1.0, "b": 1.0}
    assert result.waits() == {"assigned": 4, "mean": 200.0, "p90": 780.0, "max": 780.0}


def test_predicted_and_actual_compliance_are_counted_side_by_side() -> None:
    requests = [past(1, 10, 1, due=12), past(2, 10.1, 1, due=12), past(3, 10.2, 1, due=11.5)]
    result = simulate(requests, LEAST, AGENTS, TEAMS, shift=nine_to_six, leave=no_leave, end=END)
    predicted, actual = result.compliance("resolution", actual=False), result.compliance("resolution", actual=True)
    assert (predicted.met, predicted.total) == (2, 3)  # the third waits for 11:00 and ends at 12:00
    assert (actual.met, actual.total) == (3, 3)
    # the first response came 6 minutes after creation: after the 48-minute wait it is late
    assert result.compliance("first_response", actual=False).met == 2
    assert result.compliance("first_response", actual=True).met == 3


def test_proposed_rules_replay_the_same_requests_differently() -> None:
    requests = [past(n, 10 + n / 10, 0.05, customer=7) for n in range(6)]
    sticky = [RuleSpec(name="all", method="round_robin", prefer_last_agent=True)]
    assert simulate(requests, sticky, AGENTS, TEAMS, shift=nine_to_six, leave=no_leave, end=END).simulated == {"a": 6}
    rotation = [RuleSpec(name="all", method="round_robin")]
    assert simulate(requests, rotation, AGENTS, TEAMS, shift=nine_to_six, leave=no_leave, end=END).simulated == {"a": 3, "b": 3}
    manual = simulate(requests, [RuleSpec(name="all", method="manual")], AGENTS, TEAMS, shift=nine_to_six,
                      leave=no_leave, end=END)
    assert manual.simulated == {}
    assert {r.outcome for r in manual.requests} == {"manual"}


def test_an_agent_on_leave_gets_nothing_until_the_day_after_it_ends() -> None:
    def leave(key: str, instant: datetime) -> date | None:
        return date(2026, 11, 2) if key == "a" and instant.astimezone(MSK).date() <= date(2026, 11, 2) else None

    only_anna: dict[str | None, list[str]] = {None: ["a"]}
    result = simulate([past(1, 10, 0.5)], LEAST, AGENTS, only_anna, shift=nine_to_six, leave=leave, end=END)
    [row] = result.requests
    assert (row.agent, row.assigned_at) == ("a", at(24 + 9))  # Tuesday 09:00


def test_the_report_fits_80_columns_and_cuts_long_names() -> None:
    agents = [AgentState("a", "Константинопольская-Длиннофамильная Мария Петровна", 1), AGENTS[1]]
    result = simulate([past(1, 10, 1, due=12), past(2, 11, 1)], LEAST, agents, TEAMS, shift=nine_to_six,
                      leave=no_leave, end=END)
    report = simulation_report(result, 2, date(2026, 11, 1), date(2026, 11, 30), None)
    lines = render_simulation(report)
    assert max(len(line) for line in lines) <= 80
    assert lines[0] == "Replayed 2 requests created 2026-11-01 to 2026-11-30 under the current rules"
    assert lines[2].startswith("Константинопольская-Длиннофамильн… ")
    assert report["sla"]["resolution"] == {"predicted": {"met": 1, "total": 1, "share": 1.0},
                                           "actual": {"met": 1, "total": 1, "share": 1.0}}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 60), st.floats(0.05, 6)), min_size=1, max_size=25),
       st.sampled_from(["round_robin", "least_loaded", "weighted"]), st.integers(1, 3))
def test_the_replay_never_assigns_off_shift_nor_past_capacity(
        arrivals: list[tuple[float, float]], method: str, capacity: int) -> None:
    agents = [AgentState(k, k, i, capacity=Capacity(max=capacity), weight=float(i)) for i, k in enumerate("abc", 1)]
    requests = [past(n, created, took) for n, (created, took) in enumerate(arrivals)]
    pool: dict[str | None, list[str]] = {None: list("abc")}
    result = simulate(requests, [RuleSpec(name="r", method=method)], agents, pool,  # type: ignore[arg-type]
                      shift=nine_to_six, leave=no_leave, end=END)
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    by_number = {r.facts.number: r for r in requests}
    for row in result.requests:
        if row.agent is None:
            continue
        assert row.assigned_at is not None
        assert nine_to_six(row.agent, row.assigned_at) is None
        assert row.assigned_at >= by_number[row.number].created_at
        took = (by_number[row.number].done_at or END) - by_number[row.number].created_at
        spans.setdefault(row.agent, []).append((row.assigned_at, row.assigned_at + took))
    for held in spans.values():
        for start, _ in held:
            assert sum(1 for s, e in held if s <= start < e) <= capacity
