"""The rule options beyond the first methods: weighted shares with stored credits, the
customer's last agent first, and the request's derived language."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing.decide import AgentState, Decision, RequestFacts, decide
from routing.language import CustomerLanguage, RoutingMatch, language_of
from routing.settings import RuleSpec

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Europe/Moscow"))


def agent(key: str, agent_id: int = 1, **fields: Any) -> AgentState:
    return AgentState(key=key, name=key.title(), agent_id=agent_id, **fields)


def request(last_agent: str | None = None, **facts: object) -> RequestFacts:
    return RequestFacts("CRM-0000042", "consultation", {"type": "consultation", "tags": [], **facts}, last_agent)


def rule(**fields: Any) -> RuleSpec:
    return RuleSpec.model_validate({"name": "r", **fields})


def route(team: Sequence[AgentState], the_rule: RuleSpec, req: RequestFacts | None = None, **kw: Any) -> Decision:
    return decide(req or request(), [the_rule], {None: list(team)}, kw.pop("pointers", {}), NOW, **kw)


def stream(team: Sequence[AgentState], n: int, credits: dict[str, float] | None = None) -> tuple[Counter[str], dict[str, float]]:
    """Route `n` requests by the weighted rule, carrying the credits as the engine stores them."""
    held = dict(credits or {})
    got: Counter[str] = Counter()
    for _ in range(n):
        decision = route(team, rule(method="weighted"), credits={"r": held})
        assert decision.agent is not None
        assert decision.credits is not None
        got[decision.agent] += 1
        held.update(decision.credits)
    return got, held


# -- weighted ---------------------------------------------------------------------------
def test_weighted_shares_follow_the_weights_evenly_spread() -> None:
    team = [agent("a", 1, weight=3), agent("b", 2, weight=1)]
    got, _ = stream(team, 8)
    assert got == {"a": 6, "b": 2}
    held: dict[str, float] = {}
    order = []
    for _ in range(8):
        decision = route(team, rule(method="weighted"), credits={"r": held})
        order.append(decision.agent)
        held.update(decision.credits or {})
    assert "".join(map(str, order)) == "aabaaaba"  # b's turn comes within every four, not after six a's


def test_weighted_credits_carry_over_a_restart_so_the_shares_stay_fair() -> None:
    team = [agent("a", 1, weight=2), agent("b", 2, weight=1), agent("c", 3, weight=1)]
    first, credits = stream(team, 5)
    second, _ = stream(team, 7, credits)  # a new process, the stored credits read back
    assert first + second == {"a": 6, "b": 3, "c": 3}


def test_weighted_skips_the_ineligible_and_explains_the_winner() -> None:
    team = [agent("a", 1, weight=5, status="away"), agent("b", 2, weight=1), agent("c", 3, weight=2)]
    decision = route(team, rule(method="weighted"), credits={"r": {"a": 9.0}})
    assert decision.agent == "c"
    assert decision.reason == "weighted: weight 2 of 3 eligible, credit 2.00 (next: B, 1.00)"
    assert decision.credits == {"b": 1.0, "c": -1.0}  # the away agent earns nothing, keeps what it had
    assert decision.pointer is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=6), st.integers(50, 300),
       st.lists(st.booleans(), min_size=6, max_size=6))
def test_weighted_shares_stay_within_one_request_of_the_weights_and_never_go_to_the_ineligible(
        weights: list[int], n: int, away: list[bool]) -> None:
    team = [agent(f"a{i}", i + 1, weight=float(w), status="away" if away[i] else "available") for i, w in enumerate(weights)]
    eligible = [a for a in team if a.status == "available"]
    if not eligible:
        assert route(team, rule(method="weighted")).outcome == "queued"
        return
    got, _ = stream(team, n)
    total = sum(a.weight for a in eligible)
    assert set(got) <= {a.key for a in eligible}
    for a in eligible:
        assert abs(got[a.key] - n * a.weight / total) <= 1.0 + 1e-9


# -- the customer's last agent ----------------------------------------------------------
def test_the_last_agent_of_the_customer_wins_when_eligible_and_the_rotation_does_not_move() -> None:
    team = [agent("a", 1), agent("b", 2, open_by_type={"consultation": 3})]
    decision = route(team, rule(method="round_robin", prefer_last_agent=True), request(last_agent="b"), pointers={"r": 0})
    assert decision.agent == "b"
    assert decision.reason == "served this customer last (B is eligible)"
    assert decision.pointer is None


def test_an_ineligible_last_agent_is_passed_over_with_the_reason() -> None:
    team = [agent("a", 1), agent("b", 2, on_leave_until=date(2026, 11, 27))]
    decision = route(team, rule(method="least_loaded", prefer_last_agent=True), request(last_agent="b"))
    assert decision.agent == "a"
    assert decision.reason.startswith("the customer's last agent B is not eligible (on leave until 2026-11-27); least loaded")


def test_without_the_option_the_last_agent_gets_no_preference() -> None:
    team = [agent("a", 1), agent("b", 2, open_by_type={"consultation": 3})]
    assert route(team, rule(method="least_loaded"), request(last_agent="b")).agent == "a"


def test_a_weighted_rule_charges_the_last_agent_for_the_request() -> None:
    team = [agent("a", 1), agent("b", 2)]
    decision = route(team, rule(method="weighted", prefer_last_agent=True), request(last_agent="b"))
    assert decision.agent == "b"
    assert decision.credits == {"a": 1.0, "b": -1.0}
    assert decision.reason.startswith("served this customer last (B is eligible); weighted")


# -- language ---------------------------------------------------------------------------
RULES = CustomerLanguage(default="ru", segments={"international": "EN"})


@pytest.mark.parametrize(("tags", "segment", "expected"), [
    (["vip", "lang:de"], "international", ("de", "tag lang:de")),
    ([], "international", ("en", "segment international")),
    ([], "key", ("ru", "default")),
    ([], None, ("ru", "default")),
])
def test_the_language_comes_from_a_tag_then_the_segment_then_the_default(
        tags: list[str], segment: str | None, expected: tuple[str, str]) -> None:
    assert language_of(tags, segment, RULES) == expected


def test_without_customer_language_the_language_is_unknown() -> None:
    assert language_of([], "international", None) == (None, "unknown")


def test_a_language_condition_matches_the_derived_language() -> None:
    match = RoutingMatch.model_validate({"language": ["EN"], "type": ["consultation"]})
    assert match.why_not({"type": "consultation", "language": "en"}) is None
    assert match.why_not({"type": "consultation", "language": "ru"}) == "language is 'ru', not one of en"
    assert match.why_not({"type": "consultation", "language": None}) == "language is None, not one of en"


def test_the_first_rule_for_english_requests_wins_only_for_them() -> None:
    english = rule(name="english", match={"language": ["en"]}, method="least_loaded")
    other = rule(name="other", method="least_loaded")
    team = [agent("a", 1)]
    assert decide(request(language="en"), [english, other], {None: team}, {}, NOW).rule == "english"
    decision = decide(request(language="ru"), [english, other], {None: team}, {}, NOW)
    assert decision.rule == "other"
    assert decision.rules_checked == (("english", "language is 'ru', not one of en"),)


def test_agents_who_list_languages_must_speak_the_requests_and_others_are_not_restricted() -> None:
    team = [agent("a", 1, languages=frozenset({"ru"})), agent("b", 2, languages=frozenset({"en", "ru"})), agent("c", 3)]
    decision = route(team, rule(method="least_loaded"), request(language="en"))
    assert {c.key: c.excluded for c in decision.considered} == {"a": "does not speak en (speaks ru)", "b": None, "c": None}
    assert route(team, rule(method="least_loaded"), request(language=None)).agent == "a"  # unknown: nobody restricted


# -- configuration ----------------------------------------------------------------------
CONFIG = """store: {url: "sqlite://"}
routing:
  customer_language: {default: ru, segments: {international: en}}
  agents:
    Иванова Мария: {weight: 3, languages: [ru, en]}
    Петров Пётр: {weight: 0.5}
  rules:
    - {name: english, match: {language: [en]}, method: weighted, prefer_last_agent: true}
    - {name: everything else, method: weighted}
"""


def test_the_options_are_read_from_the_configuration() -> None:
    from crm_bridge.app import load_registry
    from crm_bridge.config import config_from_text

    registry, _ = load_registry()
    config = config_from_text(CONFIG, registry).section("routing")
    assert [a.weight for a in config.agents.values()] == [3.0, 0.5]
    assert config.rules[0].prefer_last_agent
    assert config.rules[0].match.language == ["en"]
    assert language_of([], "international", config.customer_language) == ("en", "segment international")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("weight: 0.5", "weight: 0", "crm-bridge.yaml:6:19: routing.agents.Петров Пётр.weight: must be more than 0"),
    ("method: weighted, prefer", "method: weigthed, prefer", "crm-bridge.yaml:8:48: routing.rules.0.method: must be one of round_robin, least_loaded, skills, manual, weighted. Did you mean 'weighted'? (got 'weigthed')"),
    ("prefer_last_agent: true", "prefer_last: true", "crm-bridge.yaml:8:66: routing.rules.0.prefer_last: unknown key. Did you mean 'prefer_last_agent'?"),
    ("{language: [en]}", "{lang: [en]}", "crm-bridge.yaml:8:31: routing.rules.0.match.lang:"),
])
def test_a_mistake_in_the_options_is_reported_at_its_line(old: str, new: str, expected: str) -> None:
    from crm_bridge.app import load_registry
    from crm_bridge.config import ConfigErrors, config_from_text

    registry, _ = load_registry()
    with pytest.raises(ConfigErrors) as caught:
        config_from_text(CONFIG.replace(old, new), registry, file="crm-bridge.yaml")
    assert caught.value.problems[0].startswith(expected)


def test_a_when_expression_may_use_the_language_in_rules_but_not_in_sla_policies() -> None:
    from pydantic import ValidationError

    from sla.policy import Match

    match = RoutingMatch.model_validate({"when": "language == 'en' and priority in ('high', 'urgent')"})
    assert match.why_not({"language": "en", "priority": "high"}) is None
    assert match.why_not({"language": "ru", "priority": "high"}) == "`language == 'en' and priority in ('high', 'urgent')` is false"
    with pytest.raises(ValidationError, match="`when` uses unknown field 'language'"):
        Match.model_validate({"when": "language == 'en'"})
