"""Properties of the decision over random teams and request streams: nobody is pushed past
capacity, nobody ineligible is chosen, and round robin shares evenly."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.decide import AgentState, RequestFacts, decide, load_of
from routing.settings import Capacity, RuleSpec

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))
TYPES = ["technical_problem", "consultation", "urgent"]

agents = st.lists(st.builds(
    lambda i, cap, weight, status, away, skill: AgentState(
        key=f"a{i}", name=f"A{i}", agent_id=i + 1, status=status,
        off_shift_until=NOW.replace(hour=14) if away else None,
        capacity=Capacity(max=cap, weights={"urgent": weight}),  # type: ignore[dict-item]
        skills={"1c": skill} if skill else {}),
    st.integers(0, 0), st.integers(0, 6), st.sampled_from([1.0, 2.0, 3.0]),
    st.sampled_from(["available", "available", "away", "offline"]), st.booleans(), st.integers(0, 5)),
    min_size=1, max_size=8)
methods = st.sampled_from(["round_robin", "least_loaded", "skills", "weighted"])


def distinct(team: list[AgentState]) -> list[AgentState]:
    return [replace(a, key=f"a{i}", agent_id=i + 1) for i, a in enumerate(team)]


@settings(max_examples=150, deadline=None)
@given(agents, methods, st.lists(st.sampled_from(TYPES), min_size=1, max_size=40), st.integers(0, 3))
def test_a_stream_of_requests_never_pushes_anyone_past_capacity_nor_to_the_ineligible(
        team: list[AgentState], method: str, kinds: list[str], level: int) -> None:
    team = distinct(team)
    rule = RuleSpec(name="r", method=method, skills={"1c": level} if level else {})  # type: ignore[arg-type]
    pointer, memo = 0, {}  # type: ignore[var-annotated]
    for kind in kinds:
        decision = decide(RequestFacts("CRM-1", kind, {"type": kind}), [rule], {None: team}, {"r": pointer}, NOW)
        # the tick's memo (eligibility apart from load, kept while loads move) decides the same
        assert decide(RequestFacts("CRM-1", kind, {"type": kind}), [rule], {None: team}, {"r": pointer}, NOW,
                      memo=memo) == decision
        if decision.agent is None:
            assert decision.outcome == "queued"
            continue
        chosen = next(a for a in team if a.key == decision.agent)
        assert chosen.status == "available"
        assert chosen.off_shift_until is None
        assert chosen.skills.get("1c", 0) >= level
        after = chosen.with_one_more(kind)
        assert load_of(after) <= chosen.capacity.max
        team = [after if a.key == chosen.key else a for a in team]
        pointer = decision.pointer if decision.pointer is not None else pointer


@settings(max_examples=50, deadline=None)
@given(st.integers(2, 30), st.integers(1, 400))
def test_round_robin_gives_equally_eligible_agents_shares_that_differ_by_at_most_one(size: int, count: int) -> None:
    team = [AgentState(key=f"a{i}", name=f"A{i}", agent_id=i + 1, capacity=Capacity(max=10_000)) for i in range(size)]
    rule = RuleSpec(name="r", method="round_robin")
    pointer, shares = 0, dict.fromkeys(range(size), 0)
    for _ in range(count):
        decision = decide(RequestFacts("CRM-1", "other", {"type": "other"}), [rule], {None: team}, {"r": pointer}, NOW)
        assert decision.agent is not None
        assert decision.pointer is not None
        shares[int(decision.agent[1:])] += 1
        pointer = decision.pointer
    assert max(shares.values()) - min(shares.values()) <= 1
