"""The pure routing decision: each method, each eligibility rule and the tie-breaks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from routing.decide import AgentState, Decision, RequestFacts, decide
from routing.settings import Capacity, RuleSpec

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)


def agent(key: str, agent_id: int | None = 1, **fields: Any) -> AgentState:
    return AgentState(key=key, name=key.title(), agent_id=agent_id, **fields)


def request(kind: str = "technical_problem", **facts: object) -> RequestFacts:
    return RequestFacts("CRM-0000042", kind, {"type": kind, "priority": "normal", "tags": [], **facts})


def rule(**fields: Any) -> RuleSpec:
    return RuleSpec.model_validate({"name": "r", **fields})


def route(agents: Sequence[AgentState], the_rule: RuleSpec, req: RequestFacts | None = None,
          pointers: dict[str, int] | None = None, **kw: Any) -> Decision:
    return decide(req or request(), [the_rule], {None: list(agents), "L1": list(agents)}, pointers or {}, NOW, **kw)


def excluded(decision: Decision) -> dict[str, str | None]:
    return {c.key: c.excluded for c in decision.considered}


# -- methods ------------------------------------------------------------------------------
def test_least_loaded_takes_the_agent_with_the_fewest_open_requests() -> None:
    team = [agent("a", 1, open_by_type={"other": 3}), agent("b", 2, open_by_type={"other": 1}), agent("c", 3, open_by_type={"other": 2})]
    decision = route(team, rule(method="least_loaded"))
    assert (decision.outcome, decision.agent) == ("assigned", "b")
    assert decision.reason == "least loaded: 1 open of 8 (next: C, 2)"


def test_least_loaded_counts_weights_by_type() -> None:
    heavy = Capacity(max=8, weights={"urgent": 3})  # type: ignore[dict-item]
    team = [agent("a", 1, capacity=heavy, open_by_type={"urgent": 1}), agent("b", 2, open_by_type={"other": 2})]
    assert route(team, rule(method="least_loaded")).agent == "b"  # 3 against 2


def test_a_tie_in_load_goes_to_the_agent_listed_first() -> None:
    team = [agent("b", 2, open_by_type={"other": 1}), agent("a", 1, open_by_type={"other": 1})]
    decision = route(team, rule(method="least_loaded"))
    assert decision.agent == "b"
    assert "a tie, broken by the configured order" in decision.reason


def test_round_robin_starts_at_the_pointer_and_moves_it_past_the_winner() -> None:
    team = [agent("a", 1), agent("b", 2), agent("c", 3)]
    decision = route(team, rule(method="round_robin"), pointers={"r": 1})
    assert (decision.agent, decision.pointer) == ("b", 2)
    assert route(team, rule(method="round_robin"), pointers={"r": 5}).agent == "c"  # 5 mod 3


def test_round_robin_skips_an_ineligible_agent_and_says_so() -> None:
    team = [agent("a", 1), agent("b", 2, status="away"), agent("c", 3)]
    decision = route(team, rule(method="round_robin"), pointers={"r": 1})
    assert (decision.agent, decision.pointer) == ("c", 3)
    assert decision.reason == "round robin: next in the rotation (1 skipped: not eligible)"


def test_round_robin_wraps_around_to_the_first_eligible() -> None:
    team = [agent("a", 1), agent("b", 2), agent("c", 3, status="offline")]
    assert route(team, rule(method="round_robin"), pointers={"r": 2}).agent == "a"


def test_skills_prefers_the_best_match_then_the_lighter_load() -> None:
    team = [agent("a", 1, skills={"1c": 2}, open_by_type={}), agent("b", 2, skills={"1c": 5}, open_by_type={"other": 4}),
            agent("c", 3, skills={"1c": 5}, open_by_type={"other": 2})]
    decision = route(team, rule(method="skills", skills={"1c": 2}))
    assert decision.agent == "c"
    assert decision.reason == "best skill match (1c 5), then least loaded: 2 open (next: B, 4)"


def test_manual_leaves_the_request_to_a_supervisor() -> None:
    decision = route([agent("a")], rule(method="manual"))
    assert (decision.outcome, decision.agent) == ("manual", None)


# -- rules ----------------------------------------------------------------------------------
def test_the_first_matching_rule_wins_and_the_skipped_ones_say_why() -> None:
    rules = [rule(name="vip", match={"segment": ["key"]}, method="manual"), rule(name="all", method="least_loaded")]
    decision = decide(request(segment="small"), rules, {None: [agent("a")]}, {}, NOW)
    assert decision.rule == "all"
    assert decision.rules_checked == (("vip", "segment is 'small', not one of key"),)


def test_no_matching_rule_queues_the_request() -> None:
    decision = decide(request(), [rule(match={"type": ["urgent"]})], {None: [agent("a")]}, {}, NOW)
    assert (decision.outcome, decision.reason) == ("queued", "no rule matches this request")


def test_a_rule_draws_only_from_its_team() -> None:
    decision = decide(request(), [rule(team="L1", method="least_loaded")], {None: [agent("a")], "L1": [agent("b", 2)]}, {}, NOW)
    assert decision.agent == "b"


# -- eligibility ----------------------------------------------------------------------------
@pytest.mark.parametrize(("state", "reason"), [
    (agent("x", None), "not among the CRM's users (check the name or e-mail under routing.agents)"),
    (agent("x", active=False), "deactivated in the CRM"),
    (agent("x", capacity=Capacity(max=0)), "capacity 0: never assigned automatically"),
    (agent("x", status="away"), "away"),
    (agent("x", status="offline"), "offline"),
    (agent("x", on_leave_until=date(2026, 11, 30)), "on leave until 2026-11-30"),
    (agent("x", off_shift_until=datetime(2026, 11, 23, 14, 0, tzinfo=MSK)), "off shift until 14:00"),
    (agent("x", off_shift_until=datetime(2026, 11, 24, 9, 0, tzinfo=MSK)), "off shift until 2026-11-24 09:00"),
    (agent("x", capacity=Capacity(max=8), open_by_type={"other": 8}), "at capacity 8/8"),
    (agent("x", capacity=Capacity(max=8, per_type={"technical_problem": 2}),  # type: ignore[dict-item]
           open_by_type={"technical_problem": 2}), "at capacity for technical_problem 2/2"),
])
def test_an_ineligible_agent_is_excluded_with_the_reason(state: AgentState, reason: str) -> None:
    decision = route([state], rule(method="least_loaded"))
    assert decision.outcome == "queued"
    assert excluded(decision) == {"x": reason}


def test_a_heavier_request_does_not_fit_the_last_free_unit() -> None:
    cap = Capacity(max=8, weights={"urgent": 2})  # type: ignore[dict-item]
    decision = route([agent("x", capacity=cap, open_by_type={"other": 7})], rule(method="least_loaded"), request("urgent"))
    assert excluded(decision) == {"x": "at capacity 7/8"}


def test_missing_skill_and_too_low_a_level_are_told_apart() -> None:
    team = [agent("a", 1, skills={}), agent("b", 2, skills={"1c": 1})]
    decision = route(team, rule(method="skills", skills={"1c": 3}))
    assert excluded(decision) == {"a": "missing skill 1c", "b": "missing skill 1c 3 (has 1)"}


def test_an_agent_speaking_none_of_the_rules_languages_is_excluded() -> None:
    team = [agent("a", 1, languages=frozenset({"ru"})), agent("b", 2, languages=frozenset({"ru", "en"}))]
    decision = route(team, rule(method="least_loaded", languages=["en"]))
    assert decision.agent == "b"
    assert excluded(decision)["a"] == "speaks none of en"


def test_nobody_eligible_queues_with_a_tally_of_the_reasons() -> None:
    team = [agent("a", 1, status="away"), agent("b", 2, off_shift_until=datetime(2026, 11, 23, 14, tzinfo=MSK)),
            agent("c", 3, off_shift_until=datetime(2026, 11, 23, 15, tzinfo=MSK))]
    decision = route(team, rule(team="L1", method="round_robin"))
    assert (decision.outcome, decision.agent, decision.pointer) == ("queued", None, None)
    assert decision.reason == "nobody in team L1 is eligible now: 1 away, 2 off shift"


def test_the_current_assignee_is_never_chosen_again_on_reassignment() -> None:
    team = [agent("a", 1), agent("b", 2, open_by_type={"other": 5})]
    decision = route(team, rule(method="least_loaded"), exclude=frozenset({"a"}))
    assert decision.agent == "b"
    assert excluded(decision)["a"] == "the current assignee"


def test_the_winner_is_marked_with_why_it_won() -> None:
    decision = route([agent("a", 1), agent("b", 2, open_by_type={"other": 1})], rule(method="least_loaded"))
    assert [(c.key, bool(c.why)) for c in decision.considered] == [("a", True), ("b", False)]
