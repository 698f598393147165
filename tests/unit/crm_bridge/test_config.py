from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from crm_bridge.app import load_registry
from crm_bridge.config import ConfigErrors, load_config
from crm_bridge.errors import ConfigError
from crm_bridge.registry import Registry

GOOD = """\
store:
  url: sqlite:///data/bridge.db
backends:
  crm:
    kind: onec_odata
    url: http://1c.example/crm/odata/standard.odata/
    username: Интеграция
    password: ${ONEC_PASSWORD}
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry()[0]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crm-bridge.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_valid_file_loads_with_secret_from_environment(tmp_path: Path, registry: Registry) -> None:
    cfg = load_config(write(tmp_path, GOOD), registry, environ={"ONEC_PASSWORD": "s3cr3t"})
    backend = cfg.backends["crm"]
    assert backend.password.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(backend)
    assert backend.timezone == "Europe/Moscow"
    # a relative SQLite path is anchored at the configuration file, not the shell's cwd
    assert cfg.store.url == f"sqlite:///{tmp_path / 'data' / 'bridge.db'}"


def test_missing_environment_variable_names_file_line_and_fix(tmp_path: Path, registry: Registry) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, GOOD), registry, environ={})
    assert str(err.value) == (
        f"{tmp_path / 'crm-bridge.yaml'}:8:15: backends.crm.password: needs the environment variable "
        "ONEC_PASSWORD, which is not set; export ONEC_PASSWORD=... before running crm-bridge"
    )


def test_misspelt_key_gets_line_column_and_did_you_mean(tmp_path: Path, registry: Registry) -> None:
    path = write(tmp_path, GOOD.replace("    username:", "    usernme:"))
    with pytest.raises(ConfigErrors) as err:
        load_config(path, registry, environ={"ONEC_PASSWORD": "x"})
    problems = err.value.problems
    assert any(p.startswith(f"{path}:7:5: backends.crm.usernme: unknown key. Did you mean 'username'?") for p in problems)
    assert any(p.startswith(f"{path}:4:3: backends.crm.username: required") for p in problems)


def test_unknown_backend_kind_lists_the_known_kinds(tmp_path: Path, registry: Registry) -> None:
    path = write(tmp_path, GOOD.replace("kind: onec_odata", "kind: onec_odat"))
    with pytest.raises(ConfigErrors) as err:
        load_config(path, registry, environ={"ONEC_PASSWORD": "x"})
    assert err.value.problems == [
        f"{path}:5:5: backends.crm.kind: unknown kind 'onec_odat'. Did you mean 'onec_odata'? Known kinds: onec_odata, onec_soap, rest"
    ]


def test_bad_time_zone_and_bad_url_are_reported_together(tmp_path: Path, registry: Registry) -> None:
    text = GOOD.replace("url: http://1c.example", "url: not-a-url//1c.example") + "    timezone: Europe/Moskow\n"
    path = write(tmp_path, text)
    with pytest.raises(ConfigErrors) as err:
        load_config(path, registry, environ={"ONEC_PASSWORD": "x"})
    text_all = str(err.value)
    assert "2 problems" in text_all
    assert f"{path}:6:5: backends.crm.url:" in text_all
    assert f"{path}:9:5: backends.crm.timezone: unknown time zone 'Europe/Moskow'" in text_all


def test_secret_values_never_appear_in_error_messages(tmp_path: Path, registry: Registry) -> None:
    path = write(tmp_path, GOOD.replace("password: ${ONEC_PASSWORD}", "password: [hunter2]"))
    with pytest.raises(ConfigErrors) as err:
        load_config(path, registry, environ={})
    assert "hunter2" not in str(err.value)
    assert "backends.crm.password" in str(err.value)


def test_an_unclosed_bracket_is_reported_where_it_opens(tmp_path: Path, registry: Registry) -> None:
    path = write(tmp_path, "store:\n  url: [unclosed\nbackends: {}\n")
    with pytest.raises(ConfigError, match=rf"{path}:2:8: the list opened here with '\[' is not closed"):
        load_config(path, registry)


def test_duplicate_key_is_an_error_not_a_silent_override(tmp_path: Path, registry: Registry) -> None:
    path = write(tmp_path, "timezone: UTC\ntimezone: Europe/Moscow\n")
    with pytest.raises(ConfigError, match=rf"{path}:2:1: key 'timezone' appears twice"):
        load_config(path, registry)


def test_missing_file_says_how_to_create_one(tmp_path: Path, registry: Registry) -> None:
    with pytest.raises(ConfigError, match="crm-bridge init"):
        load_config(tmp_path / "nope.yaml", registry)
