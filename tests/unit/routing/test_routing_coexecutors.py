"""Co-executors by skill: who is added beside the assignee, and why the others are not."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from routing.coexecutors import choose_co_executors
from routing.decide import AgentState
from routing.settings import Capacity, RoutingConfig, RuleSpec

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)


def agent(key: str, agent_id: int, skills: dict[str, int] | None = None, **fields: Any) -> AgentState:
    return AgentState(key=key, name=key.title(), agent_id=agent_id, skills=skills or {}, **fields)


def rule(*wants: dict[str, Any]) -> RuleSpec:
    return RuleSpec.model_validate({"name": "payroll", "co_executors": list(wants)})


def test_the_most_skilled_eligible_agent_who_is_not_the_assignee_is_added() -> None:
    pool = [agent("a", 1, {"1c-payroll": 5}), agent("b", 2, {"1c-payroll": 2}), agent("c", 3, {"1c-payroll": 4})]
    got = choose_co_executors(rule({"skill": "1c-payroll", "min_level": 2}), pool, "technical_problem", NOW, assignee="a")
    assert got.chosen == ("c",)
    why = {c.key: c.excluded or c.why for c in got.considered}
    assert why["a"] == "the assignee"
    assert why["c"] == "co-executor for 1c-payroll: level 4, load 0"
    assert got.reason == "1 × 1c-payroll ≥ 2: C"


def test_the_level_asked_for_and_eligibility_exclude_with_the_reason() -> None:
    pool = [agent("low", 1, {"1c-payroll": 1}), agent("away", 2, {"1c-payroll": 3}, status="away"),
            agent("leave", 3, {"1c-payroll": 3}, on_leave_until=date(2026, 11, 30)),
            agent("full", 4, {"1c-payroll": 3}, capacity=Capacity(max=1), open_by_type={"consultation": 1}),
            agent("none", 5)]
    got = choose_co_executors(rule({"skill": "1c-payroll", "min_level": 2}), pool, "technical_problem", NOW, assignee=None)
    assert got.chosen == ()
    assert {c.key: c.excluded for c in got.considered} == {
        "low": "missing skill 1c-payroll 2 (has 1)", "away": "away", "leave": "on leave until 2026-11-30",
        "full": "at capacity 1/1", "none": "missing skill 1c-payroll"}
    assert got.reason == "1 × 1c-payroll ≥ 2: 0 eligible"


def test_equal_skill_goes_to_the_lighter_load_then_the_configured_order() -> None:
    pool = [agent("a", 1, {"edo": 3}, open_by_type={"consultation": 2}), agent("b", 2, {"edo": 3}),
            agent("c", 3, {"edo": 3})]
    got = choose_co_executors(rule({"skill": "edo", "count": 2}), pool, "consultation", NOW, assignee=None)
    assert got.chosen == ("b", "c")


def test_co_executors_already_on_the_request_count_and_are_never_added_twice() -> None:
    pool = [agent("a", 1, {"edo": 3}), agent("b", 2, {"edo": 3}), agent("c", 3, {"edo": 2})]
    assert choose_co_executors(rule({"skill": "edo"}), pool, "consultation", NOW, assignee=None,
                               already=frozenset({2})).chosen == ()
    got = choose_co_executors(rule({"skill": "edo", "count": 2}), pool, "consultation", NOW, assignee=None,
                              already=frozenset({2}))
    assert got.chosen == ("a",)


def test_one_agent_is_not_chosen_for_two_skills() -> None:
    pool = [agent("a", 1, {"edo": 3, "1c-payroll": 3}), agent("b", 2, {"1c-payroll": 1})]
    got = choose_co_executors(rule({"skill": "edo"}, {"skill": "1c-payroll"}), pool, "consultation", NOW, assignee=None)
    assert got.chosen == ("a", "b")


def test_a_rule_asking_for_a_skill_nobody_has_fails_at_its_place() -> None:
    with pytest.raises(ValueError, match="no agent has skill '1c-payrol'. Did you mean '1c-payroll'"):
        RoutingConfig.model_validate({"agents": {"Иванова": {"skills": {"1c-payroll": 2}}},
                                      "rules": [{"name": "r", "co_executors": [{"skill": "1c-payrol"}]}]})
