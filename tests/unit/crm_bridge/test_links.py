"""Signed customer links: a token opens only its own page, for its own subject, until it expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_bridge.config import config_from_text
from crm_bridge.errors import ConfigError
from crm_bridge.links import (
    LinkExpired,
    LinkForged,
    LinkNotForThis,
    link_url,
    require_secret,
    sign,
    verify,
)
from crm_bridge.registry import Registry

KEY = "k" * 40
NOW = datetime(2027, 1, 11, 9, 30, tzinfo=UTC)


def _token(purpose: str = "cabinet", subject: str = "contact:7", days: int = 30) -> str:
    return sign(KEY, purpose, subject, expires=NOW + timedelta(days=days))


def test_a_fresh_link_opens_its_page_and_says_what_it_is_for():
    link = verify(KEY, _token(), "cabinet", NOW + timedelta(days=29))
    assert (link.purpose, link.subject, link.kind, link.ident) == ("cabinet", "contact:7", "contact", "7")
    assert link.expires == NOW + timedelta(days=30)


@pytest.mark.parametrize("change", [
    lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"),       # the signature touched
    lambda t: sign(KEY, "cabinet", "contact:8", expires=NOW + timedelta(days=30)).split(".")[0] + "." + t.split(".")[1],
    lambda t: t.split(".")[0],                                      # no signature at all
    lambda t: "garbage",
    lambda t: t + "!!",
])
def test_a_changed_or_spliced_token_is_forged(change):
    with pytest.raises(LinkForged) as caught:
        verify(KEY, change(_token()), "cabinet", NOW)
    assert caught.value.status == 403


def test_a_token_of_another_key_is_forged():
    other = sign("o" * 40, "cabinet", "contact:7", expires=NOW + timedelta(days=1))
    with pytest.raises(LinkForged):
        verify(KEY, other, "cabinet", NOW)


def test_an_expired_link_is_gone_not_forged():
    token = _token(days=1)
    with pytest.raises(LinkExpired) as caught:
        verify(KEY, token, "cabinet", NOW + timedelta(days=1))
    assert caught.value.status == 410
    assert token not in str(caught.value)


def test_a_link_for_another_purpose_or_request_is_refused():
    with pytest.raises(LinkNotForThis):
        verify(KEY, _token("rating", "request:42"), "cabinet", NOW)
    with pytest.raises(LinkNotForThis, match="request:42 opened for request:43"):
        verify(KEY, _token("rating", "request:42"), "rating", NOW, subject="request:43")
    assert verify(KEY, _token("rating", "request:42"), "rating", NOW, subject="request:42").ident == "42"


def test_sign_refuses_what_no_page_could_check():
    with pytest.raises(ValueError, match="purpose"):
        sign(KEY, "admin", "contact:7", expires=NOW)
    with pytest.raises(ValueError, match="kind:id"):
        sign(KEY, "cabinet", "7|x", expires=NOW)
    with pytest.raises(ValueError, match="aware"):
        sign(KEY, "cabinet", "contact:7", expires=datetime(2027, 1, 1))


def _config(text: str):
    registry = Registry()
    from crm_bridge import register

    register(registry)
    return config_from_text(text, registry, file="crm-bridge.yaml")


def test_a_short_secret_is_a_config_error_at_its_line():
    with pytest.raises(ConfigError) as caught:
        _config("timezone: Europe/Moscow\nlinks:\n  secret: short\n")
    text = str(caught.value)
    assert "crm-bridge.yaml:3" in text
    assert "links.secret" in text
    assert "short" not in text.replace("is 5 characters", "")  # the value itself is not echoed


def test_a_missing_secret_names_the_feature_and_the_fix():
    config = _config("links: {ttl_days: 7}\n")
    assert config.section("links").ttl == timedelta(days=7)
    with pytest.raises(ConfigError, match=r"^crm-bridge.yaml: links.secret: not set, and the web cabinet needs it"):
        require_secret(config.section("links"), "the web cabinet", file=config.source)


def test_link_url_points_at_the_purpose_page_and_verifies_there():
    config = _config(f"links: {{secret: {KEY}, base_url: 'https://support.example.ru/'}}\n").section("links")
    url = link_url(config, "cabinet", "contact:7", NOW)
    assert url.startswith("https://support.example.ru/cabinet/")
    link = verify(KEY, url.rsplit("/", 1)[1], "cabinet", NOW + timedelta(days=29))
    assert link.subject == "contact:7"
