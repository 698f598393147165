"""Pydantic's error shapes, said in the product's words: what is valid here, the value
given, no "Input should be", no error type or URL — one line per problem."""

from __future__ import annotations

import pytest

from crm_bridge.app import load_registry
from crm_bridge.config import config_from_text
from crm_bridge.errors import ConfigError
from crm_bridge.registry import Registry
from crm_bridge.yamlfile import parse_yaml

B = "backends:\n  crm: {kind: onec_odata, url: 'http://x/', username: u, password: p, %s}\n"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()[0]


@pytest.mark.parametrize(("text", "expected"), [
    (B % "timeout: 5", "c.yaml:2:71: backends.crm.timeout: must be a mapping of keys (key: value) (got 5)"),
    (B % "models: ticket", "c.yaml:2:71: backends.crm.models: must be a list: [a, b], or one '- item' a line (got 'ticket')"),
    (B % "enabled: maybe", "c.yaml:2:71: backends.crm.enabled: must be true or false (got 'maybe')"),
    (B.replace("'http://x/'", "notaurl") % "enabled: true",
     "c.yaml:2:27: backends.crm.url: must be a URL such as http://host:port/path/ (got 'notaurl')"),
    (B % "max_delete_share: 2", "c.yaml:2:71: backends.crm.max_delete_share: must be at most 1.0 (got 2)"),
    (B % "conflicts: {ticket: sometimes}",
     "c.yaml:2:83: backends.crm.conflicts.ticket: must be one of remote_wins, local_wins, newest, manual (got 'sometimes')"),
    (B % "timeout: {read: abc}", "c.yaml:2:81: backends.crm.timeout.read: must be a number (got 'abc')"),
    ("store: 5\n", "c.yaml:1:1: store: must be a mapping of keys (key: value) (got 5)"),
    ("schedule: {pull_every: 1.5}\n", "c.yaml:1:12: schedule.pull_every: must be a whole number (got 1.5)"),
    ("schedule: {pull_every: -1}\n", "c.yaml:1:12: schedule.pull_every: must be at least 1 (got -1)"),
    ("sla: {policies: [{name: x, calendar: office, targets: {resolution: 4h}, match: {priority: [hgh]}}]}\n",
     "c.yaml:1:92: sla.policies.0.match.priority.0: must be one of low, normal, high, urgent. Did you mean 'high'? (got 'hgh')"),
    ("sla: {policies: [{name: x, calendar: office, targets: {resolution: 4 hours}}]}\n",
     "c.yaml:1:56: sla.policies.0.targets.resolution: '4 hours' is not a duration; write a number and a unit without "
     "spaces: 90s, 30m, 4h, 1h30m or 2d (days of 24 business hours), or ISO 8601 such as PT4H"),
])
def test_a_wrong_value_says_what_is_valid_in_one_line(registry: Registry, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config_from_text(text, registry, file="c.yaml")
    assert str(caught.value) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("a: [1, 2\nb: 3\n", "c.yaml:1:4: the list opened here with '[' is not closed; add ']' (or a ',' between its items)"),
    ("store: [\n", "c.yaml:1:8: the list opened here with '[' is not closed; add ']' (or a ',' between its items)"),
    ("a: {x: [1, 2], y: 3\nb: 4\n",
     "c.yaml:1:4: the mapping opened here with '{' is not closed; add '}' (or a ',' between its entries)"),
    ("a: {x: 1\nb: 3\n", "c.yaml:1:4: the mapping opened here with '{' is not closed; add '}' (or a ',' between its entries)"),
    ("a: 1\nb: 'text\n", "c.yaml:2:4: the quote ' opened here is not closed; add the closing '"),
    ('a: "x\nb: 1\nc: "y"\n', 'c.yaml:1:4: the quote " opened here is closed only on line 3; add the closing " at the end of this value'),
    ("a:\n\tb: 1\n", "c.yaml:2:1: a tab character; YAML indents with spaces, not tabs: replace the tab with spaces"),
    ("a:\n  b: 1\n\tc: 2\n", "c.yaml:3:1: a tab character; YAML indents with spaces, not tabs: replace the tab with spaces"),
])
def test_a_yaml_mistake_is_placed_where_it_is_made(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_yaml(text, "c.yaml", {})
    assert str(caught.value) == expected


def test_a_dollar_name_is_kept_and_warned_about_without_showing_a_secret() -> None:
    doc = parse_yaml("user: $ONEC_USER\npassword: pa$Sw0rd\nurl: ${BASE\n", "c.yaml", {})
    assert doc.data == {"user": "$ONEC_USER", "password": "pa$Sw0rd", "url": "${BASE"}
    assert doc.warnings == [
        "c.yaml:1:7: user: '$ONEC_USER' is kept as written, not read from the environment; probably meant ${ONEC_USER}",
        "c.yaml:2:11: password: a `$` followed by a name is kept as written, not read from the environment; probably meant ${NAME}",
        "c.yaml:3:6: url: '${BASE' is kept as written, not read from the environment; probably meant ${BASE}",
    ]
    assert "Sw0rd" not in " ".join(doc.warnings)


def test_a_set_variable_is_no_warning() -> None:
    doc = parse_yaml("password: ${P}\nprice: 5 $\n", "c.yaml", {"P": "x$Y"})
    assert (doc.data, doc.warnings) == ({"password": "x$Y", "price": "5 $"}, [])


def test_a_password_hash_is_meant_as_written_and_no_warning() -> None:
    argon2 = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2g"
    bcrypt = "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234"
    doc = parse_yaml(f"a: '{argon2}'\nb: '{bcrypt}'\nc: x$argon2id$\n", "c.yaml", {})
    assert doc.data == {"a": argon2, "b": bcrypt, "c": "x$argon2id$"}
    assert [w.split(":")[1] for w in doc.warnings] == ["3"]  # only a `$name` that is not a whole hash
