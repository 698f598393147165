"""The low-rating follow-up rule (``routing.followup.follow_up``), pure: who gets the
request when the customer rated it low, and the reason the routing log keeps."""

from __future__ import annotations

import pytest

from crm_bridge.errors import ConfigError
from routing.followup import follow_up
from routing.settings import OnLowCsat, RoutingConfig

LEADS = {"L1": "Иванова Мария", "L2": "Сидоров Иван"}
NAMES = {
    "Иванова Мария": "Иванова Мария",
    "Сидоров Иван": "Сидоров Иван",
    "Петров Пётр": "Петров Пётр",
    "Старший смены": "Старший смены",
}


def decide(
    rule: OnLowCsat,
    *,
    team: str | None = "L1",
    current: str | None = "Петров Пётр",
    score: int = 1,
    names: dict[str, str] = NAMES,
):
    return follow_up(
        rule, score=score, scale_top=5, team=team, current=current, leads=LEADS, names=names
    )


def test_a_low_rating_goes_to_the_lead_of_the_requests_team():
    got = decide(OnLowCsat())
    assert (got.agent, got.action) == ("Иванова Мария", "csat_followup")
    assert (
        got.reason
        == "low rating 1 of 5: a follow-up for L1's team lead Иванова Мария (was Петров Пётр)"
    )


def test_a_configured_team_names_whose_lead_follows_up():
    got = decide(OnLowCsat(team="L2"), team="L1")
    assert got.agent == "Сидоров Иван"
    assert "L2's team lead" in got.reason


def test_a_named_agent_takes_every_follow_up():
    got = decide(OnLowCsat(assign_to="Старший смены"), team=None, current=None, score=2)
    assert (got.agent, got.reason) == (
        "Старший смены",
        "low rating 2 of 5: a follow-up for the follow-up agent Старший смены",
    )


def test_a_request_already_with_the_lead_stays_and_says_so():
    got = decide(OnLowCsat(), current="Иванова Мария")
    assert (got.agent, got.action) == (None, "csat_followup_kept")
    assert got.reason == "low rating 1 of 5: already with L1's team lead Иванова Мария"


@pytest.mark.parametrize(
    ("team", "names", "why"),
    [
        (None, NAMES, "the request has no team"),
        ("L3", NAMES, "team L3 has no lead (routing.teams.L3.lead)"),
        (
            "L1",
            {"Петров Пётр": "Петров Пётр"},
            "L1's team lead Иванова Мария is not a CRM user synced here",
        ),
    ],
)
def test_nobody_to_follow_up_is_logged_with_the_reason(team, names, why):
    got = decide(OnLowCsat(), team=team, names=names)
    assert (got.agent, got.action) == (None, "csat_followup_none")
    assert got.reason == f"low rating 1 of 5: nobody to follow it up: {why}"


def test_an_unknown_team_or_agent_in_on_low_csat_is_a_config_error_with_a_suggestion():
    base = {"agents": {"Иванова Мария": {}}, "teams": {"L1": {"lead": "Иванова Мария"}}}
    with pytest.raises((ConfigError, ValueError), match="L2"):
        RoutingConfig.model_validate({**base, "on_low_csat": {"team": "L2"}})
    with pytest.raises((ConfigError, ValueError), match="Иванова Мария"):
        RoutingConfig.model_validate({**base, "on_low_csat": {"assign_to": "Иванова Марья"}})
    assert RoutingConfig.model_validate(
        {**base, "on_low_csat": {"assign_to": "lead", "team": "L1"}}
    ).on_low_csat
