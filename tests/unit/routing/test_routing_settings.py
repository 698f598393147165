"""The ``routing:`` section: names it does not define are errors at their line with a
suggestion; the shapes a person writes (a bare capacity number) are accepted."""

from __future__ import annotations

import pytest

from crm_bridge.app import load_registry
from crm_bridge.config import ConfigErrors, config_from_text
from routing.settings import RoutingConfig

BASE = """store: {url: "sqlite://"}
routing:
  agents:
    Иванова Мария:
      skills: {1c-accounting: 3}
      languages: [ru, en]
      capacity: 6
      schedule: office
      team: L1
    petrov@example.com: {capacity: {max: 8, per_type: {urgent: 2}, weights: {urgent: 2}}}
  teams:
    L1: {members: [petrov@example.com], lead: Иванова Мария, schedule: 24x7}
  rules:
    - {name: accounting, match: {tags: [accounting]}, team: L1, method: skills, skills: {1c-accounting: 2}}
    - {name: everything else, method: round_robin}
"""


def problems(text: str) -> list[str]:
    registry, _ = load_registry()
    with pytest.raises(ConfigErrors) as caught:
        config_from_text(text, registry, file="crm-bridge.yaml")
    return caught.value.problems


def test_a_valid_section_is_read_with_its_members_and_schedules() -> None:
    registry, _ = load_registry()
    config: RoutingConfig = config_from_text(BASE, registry).section("routing")
    assert config.agents["Иванова Мария"].capacity.max == 6
    assert config.members("L1") == ["petrov@example.com", "Иванова Мария"]  # listed, then those naming it
    assert config.schedule_of("petrov@example.com") == "24x7"  # none of their own: the team's
    assert config.schedule_of("Иванова Мария") == "office"
    assert config.agents["petrov@example.com"].capacity.weight("urgent") == 2
    assert config.enabled


def test_without_agents_routing_is_off() -> None:
    registry, _ = load_registry()
    assert not config_from_text('store: {url: "sqlite://"}', registry).section("routing").enabled


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("team: L1\n    petrov", "team: L2\n    petrov",
     "crm-bridge.yaml:9:7: routing.agents.Иванова Мария.team: no team 'L2' is defined under routing.teams. Defined: L1"),
    ("lead: Иванова Мария", "lead: Иванова Мари",
     "crm-bridge.yaml:12:41: routing.teams.L1.lead: no agent 'Иванова Мари' is defined under routing.agents. "
     "Did you mean 'Иванова Мария'? Defined: Иванова Мария, petrov@example.com"),
    ("team: L1, method: skills", "team: L3, method: skills",
     "crm-bridge.yaml:14:55: routing.rules.0.team: no team 'L3' is defined under routing.teams. Defined: L1"),
    ("skills: {1c-accounting: 2}}", "skills: {1c-acounting: 2}}",
     "crm-bridge.yaml:14:90: routing.rules.0.skills.1c-acounting: no agent has skill '1c-acounting'. "
     "Did you mean '1c-accounting'? Known: 1c-accounting"),
    ("schedule: office", "schedule: ofice",
     "crm-bridge.yaml:8:7: routing.agents.Иванова Мария.schedule: no calendar 'ofice' is defined under sla.calendars. "
     "Did you mean 'office'? Defined: office, 24x7"),
])
def test_an_unknown_name_is_reported_at_its_line_with_a_suggestion(old: str, new: str, expected: str) -> None:
    assert old in BASE
    assert problems(BASE.replace(old, new, 1)) == [expected]


def test_a_misspelt_key_lists_the_valid_ones() -> None:
    found = problems(BASE.replace("languages: [ru, en]", "langauges: [ru, en]"))
    assert len(found) == 1
    assert "routing.agents.Иванова Мария.langauges: unknown key. Did you mean 'languages'?" in found[0]


def test_time_off_that_ends_before_it_starts_is_refused() -> None:
    found = problems(BASE.replace("capacity: 6", "capacity: 6\n      time_off: [{from: 2026-12-31, to: 2026-12-01}]"))
    assert "time off ends (2026-12-01) before it starts (2026-12-31); swap from and to" in found[0]


def test_a_skill_level_outside_one_to_five_is_refused() -> None:
    assert "skill levels run from 1 (basic) to 5 (expert); got 1c-accounting: 7" in problems(
        BASE.replace("{1c-accounting: 3}", "{1c-accounting: 7}"))[0]


def test_an_sla_escalation_reassigning_to_an_unknown_team_is_reported_at_its_line() -> None:
    text = BASE + """sla:
  policies:
    - {name: all, calendar: office, targets: {resolution: 8h}, escalations: [{after: 1h, action: reassign, team: L9}]}
"""
    assert problems(text) == ["crm-bridge.yaml:18:108: sla.policies.0.escalations.0.team: no team 'L9' is defined under "
                              "routing.teams. Defined: L1 (the team reassigned to)"]
