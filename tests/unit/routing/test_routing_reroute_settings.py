"""``routing.reroute`` and a rule's ``reroute_on_warn``: read as written; a calendar the
sla section does not define, or a timeout of zero, is an error at its line."""

from __future__ import annotations

import pytest

from crm_bridge.app import load_registry
from crm_bridge.config import ConfigErrors, config_from_text
from routing.settings import RoutingConfig

BASE = """store: {url: "sqlite://"}
routing:
  agents:
    Иванова Мария: {capacity: 6}
  rules:
    - {name: everything, method: round_robin, reroute_on_warn: true}
  reroute: {inactive_hours: %s, calendar: %s}
"""


def test_the_reroute_settings_are_read_with_their_defaults() -> None:
    registry, _ = load_registry()
    config: RoutingConfig = config_from_text(BASE % ("8", "office"), registry).section("routing")
    assert config.rules[0].reroute_on_warn is True
    assert config.reroute.inactive_hours == 8
    assert config.reroute.calendar == "office"
    assert config.reroute.on_leave_or_offline is True
    assert config.reroute.manual_assignments is False


@pytest.mark.parametrize(("hours", "calendar", "expected"), [
    ("8", "ofice", "crm-bridge.yaml:7:32: routing.reroute.calendar: no calendar 'ofice' is defined under sla.calendars. "
                   "Did you mean 'office'?"),
    ("0", "office", "crm-bridge.yaml:7:13: routing.reroute.inactive_hours: must be more than 0"),
])
def test_a_bad_reroute_setting_is_named_at_its_line(hours: str, calendar: str, expected: str) -> None:
    registry, _ = load_registry()
    with pytest.raises(ConfigErrors) as caught:
        config_from_text(BASE % (hours, calendar), registry, file="crm-bridge.yaml")
    assert caught.value.problems[0].startswith(expected), caught.value.problems
