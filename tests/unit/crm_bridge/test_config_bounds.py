"""Configuration that could exhaust the machine is refused with file:line, the limit and
the fix: alias bombs, recursive aliases, oversize and over-deep files, durations and
`when` expressions out of bounds. 10,000 policies load (benchmarks/config_bench.py times it)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from crm_bridge.app import load_registry
from crm_bridge.config import config_from_text, load_config
from crm_bridge.errors import ConfigError
from crm_bridge.registry import Registry
from crm_bridge.yamlfile import YamlLimits, load_yaml, parse_yaml

# The 697-byte file of the issue: nine levels of nine aliases, 9**9 strings when expanded.
BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True))


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()[0]


def test_an_alias_bomb_is_refused_at_the_alias_that_passes_the_limit_without_expanding_it() -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        parse_yaml(BOMB, "bomb.yaml")
    assert time.monotonic() - started < 5  # refused, not expanded to gigabytes first (it took 67 s before)
    message = str(caught.value)
    assert message.startswith("bomb.yaml:5:")  # the line of `e:`, where 10,000 is passed
    assert "expand to more than 10,000 values" in message
    assert "write large repeated parts out" in message


@pytest.mark.parametrize(("text", "where"), [("a: &r [*r]\n", "r.yaml:1:8"),
                                             ("x: 1\nb: &r\n  c: [1, {d: *r}]\n", "r.yaml:3:14")])
def test_an_alias_inside_the_value_it_names_is_an_error_at_the_alias(text: str, where: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{where}: alias \*r is inside the value &r names"):
        parse_yaml(text, "r.yaml")


def test_the_day_anchor_of_a_calendar_keeps_working_and_problems_show_at_the_alias() -> None:
    doc = parse_yaml('week: {mon: &day ["09:00-13:00", "14:00-18:00"], tue: *day, wed: *day}\n', "c.yaml")
    assert doc.data["week"]["tue"] == ["09:00-13:00", "14:00-18:00"]
    assert doc.data["week"]["tue"] is not doc.data["week"]["mon"]  # each place its own list
    assert str(doc.where(("week", "tue", 1))) == "c.yaml:1:50"  # `tue:`, not the anchor's line


def test_an_undefined_alias_says_to_define_the_anchor_first() -> None:
    with pytest.raises(ConfigError, match=r"^u.yaml:2:4: alias \*day names no anchor above it; define &day first"):
        parse_yaml("a: 1\nb: *day\n", "u.yaml")


def test_a_file_too_big_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 2000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"big.yaml:1:1: 2,004 bytes, more than the 1,000 .* split it"):
        load_yaml(path, limits=YamlLimits(max_bytes=1000))
    with pytest.raises(ConfigError, match=r"more than the 1,000"):
        parse_yaml("a: " + "я" * 600, "big.yaml", limits=YamlLimits(max_bytes=1000))  # bytes, not characters


def test_too_many_values_and_too_deep_nesting_are_refused_with_their_line() -> None:
    many = "items:\n" + "".join(f"  - {i}\n" for i in range(200))  # the mapping, its key, the list: 3 values
    with pytest.raises(ConfigError, match=r"^m.yaml:99:5: the file holds more than 100 values"):
        parse_yaml(many, "m.yaml", limits=YamlLimits(max_values=100))
    deep = "[" * 100_000 + "]" * 100_000  # libyaml's scanner stops it at 1,000 levels, ahead of the builder
    with pytest.raises(ConfigError, match=r"^d.yaml:1:\d+: .*nest"):
        parse_yaml(deep, "d.yaml")
    block = "".join(" " * i + f"k{i}:\n" for i in range(80))
    with pytest.raises(ConfigError, match=r"^d.yaml:65:.*nested deeper than 64 levels"):
        parse_yaml(block, "d.yaml")


def test_scalars_keep_their_yaml_types_and_environment_variables() -> None:
    doc = parse_yaml("a: 1\nb: yes\nc: 2026-01-02\nd: '1'\ne: ${HOME_X:-/x}\nf: ~\n? 3\n: three\n", "t.yaml", {})
    assert doc.data == {"a": 1, "b": True, "c": __import__("datetime").date(2026, 1, 2), "d": "1", "e": "/x",
                        "f": None, "3": "three"}
    with pytest.raises(ConfigError, match=r"^t.yaml:1:4: tag .*python/object.* is not allowed"):
        parse_yaml("a: !!python/object:os.system x\n", "t.yaml")
    with pytest.raises(ConfigError, match=r"^t.yaml:2:1: key 'a' appears twice"):
        parse_yaml("a: 1\na: 2\n", "t.yaml")


POLICY = """sla:
  policies:
    - name: p
      calendar: 24x7
      match: {{when: "{when}"}}
      targets: {{resolution: {target}}}
      escalations: [{{after: {after}, action: notify_supervisor}}]
"""


@pytest.mark.parametrize(("target", "after", "expected"), [
    ("9999999999d", "1h", "c.yaml:6:17: sla.policies.0.targets.resolution: '9999999999d' is not a usable duration"),
    (".inf", "1h", "c.yaml:6:17: sla.policies.0.targets.resolution: inf is not a usable duration"),
    ("1096000h", "1h", "c.yaml:6:17: sla.policies.0.targets.resolution: '1096000h' is longer than 1825d (5 years)"),
    ("{urgent: 4h, high: 3000d}", "1h", "c.yaml:6:17: sla.policies.0.targets.resolution: '3000d' is longer than 1825d"),
    ("4h", "6000d", "c.yaml:7:22: sla.policies.0.escalations.0.after: '6000d' is longer than 1825d"),
])
def test_a_duration_past_five_years_or_not_finite_is_one_error_at_its_line(
        registry: Registry, target: str, after: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_text(POLICY.format(when="type == 'x'", target=target, after=after), registry, file="c.yaml")
    assert "\n" not in str(caught.value)  # one problem, one line
    assert expected in str(caught.value)


@pytest.mark.parametrize(("nots", "expected"), [(60, "nests deeper than 50 levels"),
                                                (3000, "12,004 characters, more than the 2,000 allowed")])
def test_a_when_nested_too_deep_is_an_error_at_its_line_not_a_recursion_error(
        registry: Registry, nots: int, expected: str) -> None:
    with pytest.raises(ConfigError, match=rf"c.yaml:5:15: sla.policies.0.match.when: `when` .*{expected}"):
        config_from_text(POLICY.format(when="not " * nots + "type", target="4h", after="1h"), registry, file="c.yaml")


def test_the_longest_allowed_target_and_a_when_of_depth_forty_load(registry: Registry) -> None:
    config = config_from_text(POLICY.format(when="not " * 40 + "type", target="1825d", after="0m"), registry)
    assert config.section("sla").policies[0].targets.resolution.days == 1825


def policies_yaml(count: int) -> str:
    lines = ["sla:", "  calendars:", "    office:", "      timezone: Europe/Moscow",
             '      week: {mon: &day ["09:00-13:00", "14:00-18:00"], tue: *day, wed: *day, thu: *day, fri: *day}',
             "  policies:"]
    for i in range(count):
        lines += [f"    - name: policy {i}",
                  f"      match: {{type: [urgent], when: \"priority in ('high', 'urgent') and channel == 'email{i}'\"}}",
                  "      calendar: office",
                  "      targets: {first_response: 1h, resolution: {urgent: 4h, high: 8h}}",
                  "      escalations: [{after: 2h, action: reassign, team: L2}]"]
    return "\n".join(lines) + "\n"


def test_ten_thousand_policies_load_and_the_last_reports_problems_at_its_line(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(policies_yaml(10_000), encoding="utf-8")
    config = load_config(path, registry)  # 36 s and quadratic before; benchmarks/config_bench.py times it
    sla = config.section("sla")
    assert len(sla.policies) == 10_000
    assert "channel" in sla.planned_from
    path.write_text(policies_yaml(10_000).replace("name: policy 9999", "name: policy 0"), encoding="utf-8")
    with pytest.raises(ConfigError, match="policy names must be unique .*: policy 0 appear"):
        load_config(path, registry)


@pytest.mark.parametrize(("text", "expected"), [
    ("schedule: {pull_every: 1000000000000}\n", "c.yaml:1:12: schedule.pull_every: must be at most 86400 (got 1000000000000)"),
    ("schedule: {reconcile_every: 999999999}\n", "schedule.reconcile_every: must be at most 604800"),
    ("routing:\n  agents: {a: {capacity: {max: 99999999}}}\n", "c.yaml:2:27: routing.agents.a.capacity.max: must be at most 10000"),
    ("routing:\n  agents: {a: {capacity: {weights: {urgent: .nan}}}}\n",
     "c.yaml:2:37: routing.agents.a.capacity.weights.urgent: must be a finite number (not inf or nan)"),
    ("backends:\n  b: {kind: onec_odata, url: 'http://x', username: u, password: p, timeout: {read: .inf}}\n",
     "backends.b.timeout.read: must be at most 3600.0 (got inf)"),
])
def test_intervals_capacities_and_timeouts_have_an_upper_bound(registry: Registry, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_text(text, registry, file="c.yaml")
    assert expected in str(caught.value)


def test_a_merge_key_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"^m.yaml:3:3: merge keys \(<<: \*name\) are not supported; write the keys out"):
        parse_yaml("base: &b {x: 1}\nc:\n  <<: *b\n", "m.yaml")
