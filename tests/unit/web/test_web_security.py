"""Sessions, CSRF tokens, the proxy header, the language choice and the settings' errors:
pure, no socket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_bridge.config import config_from_text
from crm_bridge.errors import ConfigError
from crm_bridge.registry import Registry
from web.i18n import MESSAGES, choose_language
from web.security import (
    check_password,
    csrf_ok,
    csrf_token,
    hash_password,
    open_session,
    proxy_user,
    session_user,
)
from web.settings import WebConfig

NOW = datetime(2027, 1, 11, 6, 30, tzinfo=UTC)
SECRET = "s" * 40
HASH = hash_password("right")


def _config(**more: object) -> WebConfig:
    return WebConfig.model_validate({"session_secret": SECRET, "users": {"lead": {"password_hash": HASH}}, **more})


def test_a_password_is_checked_against_its_argon2_hash():
    config = _config()
    assert HASH.startswith("$argon2id$")
    assert check_password(config, "lead", "right")
    assert not check_password(config, "lead", "wrong")
    assert not check_password(config, "nobody", "right")


def test_a_session_lasts_its_hours_and_no_longer():
    config = _config(session_hours=2)
    cookie = open_session(config, "lead", NOW)
    assert session_user(config, cookie, NOW + timedelta(hours=1, minutes=59)) == "lead"
    assert session_user(config, cookie, NOW + timedelta(hours=2)) is None
    assert session_user(config, cookie[:-1] + ("A" if cookie[-1] != "A" else "B"), NOW) is None
    other = WebConfig.model_validate({"session_secret": "o" * 40, "users": {"lead": {"password_hash": HASH}}})
    assert session_user(other, cookie, NOW) is None  # another installation's key


def test_a_session_of_a_user_removed_from_the_configuration_ends():
    cookie = open_session(_config(), "lead", NOW)
    gone = WebConfig.model_validate({"session_secret": SECRET, "users": {"boss": {"password_hash": HASH}}})
    assert session_user(gone, cookie, NOW) is None


def test_a_csrf_token_belongs_to_its_cookie_only():
    config = _config()
    token = csrf_token(config, "nonce-1")
    assert csrf_ok(config, "nonce-1", token)
    assert not csrf_ok(config, "nonce-2", token)
    assert not csrf_ok(config, None, token)
    assert not csrf_ok(config, "nonce-1", None)
    assert not csrf_ok(config, "nonce-1", "")


def test_the_proxy_header_counts_only_from_a_trusted_address():
    config = _config(proxy={"header": "X-Remote-User", "trusted": ["10.0.0.0/8"]})
    assert proxy_user(config, "10.1.2.3", "ivanova") == "ivanova"
    assert proxy_user(config, "192.168.1.5", "ivanova") is None
    assert proxy_user(config, "10.1.2.3", "  ") is None
    assert proxy_user(config, None, "ivanova") is None
    assert proxy_user(_config(), "10.1.2.3", "ivanova") is None  # no proxy configured


@pytest.mark.parametrize(("cookie", "header", "lang"), [
    (None, "en-US,en;q=0.9,ru;q=0.8", "en"),
    (None, "de-DE, ru;q=0.5, en;q=0.7", "en"),
    (None, "de", "ru"),
    (None, None, "ru"),
    ("en", "ru", "en"),
    ("xx", "en", "en"),
])
def test_the_language_is_the_switchs_else_the_browsers(cookie, header, lang):
    assert choose_language(cookie, header) == lang


def test_both_languages_say_everything():
    assert set(MESSAGES["ru"]) == set(MESSAGES["en"])


def _load(text: str):
    from crm_bridge.addons import load_addons

    registry = Registry()
    load_addons(registry)
    return config_from_text(text, registry, file="crm-bridge.yaml")


def test_a_bad_hash_is_an_error_at_its_line_with_the_fix():
    with pytest.raises(ConfigError) as caught:
        _load(f"web:\n  session_secret: {SECRET}\n  users:\n    lead: {{password_hash: plain-text}}\n")
    text = str(caught.value)
    assert "crm-bridge.yaml:4" in text
    assert "web.users.lead.password_hash" in text
    assert "crm-bridge web hash-password" in text
    assert "plain-text" not in text


def test_users_without_a_session_secret_or_a_misspelt_key_are_errors():
    with pytest.raises(ConfigError, match="session_secret"):
        _load(f"web:\n  users:\n    lead: {{password_hash: '{HASH}'}}\n")
    with pytest.raises(ConfigError, match="crm-bridge.yaml:2.*sesion_secret"):
        _load(f"web:\n  sesion_secret: {SECRET}\n")
