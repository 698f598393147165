"""``notify.sms``, ``notify.telegram``, ``notify.webhooks`` and staff recipients on other
channels: a mistake is an error at its line, with the fix; secrets stay secret."""

from __future__ import annotations

import pytest

from crm_bridge.app import load_registry
from crm_bridge.config import ConfigErrors, config_from_text
from notify.settings import NotifyConfig

BASE = """store: {url: "sqlite://"}
notify:
  sms: {kind: smsru, api_id: "secret-api-id", sender: Support}
  telegram: {token: "123:secret-token"}
  webhooks:
    - {url: "https://hooks.example.ru/crm", secret: "whsec-0123456789abcdef", events: [%s]}
  staff:
    breach: [%s]
"""


def problems(text: str) -> list[str]:
    registry, _ = load_registry()
    with pytest.raises(ConfigErrors) as caught:
        config_from_text(text, registry, file="crm-bridge.yaml")
    return caught.value.problems


def test_a_valid_section_reads_every_channel_and_notify_is_on_without_mail() -> None:
    registry, _ = load_registry()
    config: NotifyConfig = config_from_text(BASE % ("sla_breach", '"telegram:-100123", "sms:+7 (999) 123-45-67"'),
                                            registry).section("notify")
    assert config.enabled
    assert config.email is None
    assert config.sms is not None
    assert (config.sms.base_url, config.sms.max_segments) == ("https://sms.ru", 3)
    assert config.webhooks[0].events == ["sla_breach"]
    assert "secret-token" not in repr(config)
    assert "secret-api-id" not in repr(config)


def test_a_misspelt_webhook_event_is_named_at_its_line_with_a_suggestion() -> None:
    (problem,) = problems(BASE % ("sla_breech", '"telegram:-100123"'))
    assert problem.startswith("crm-bridge.yaml:6:")
    assert "no event 'sla_breech'. Did you mean 'sla_breach'?" in problem


def test_a_recipient_on_a_channel_without_its_section_is_an_error() -> None:
    text = BASE.replace('  telegram: {token: "123:secret-token"}\n', "") % ("sla_breach", '"telegram:-100123"')
    (problem,) = problems(text)
    assert "goes by telegram, but notify has no `telegram:` section" in problem


@pytest.mark.parametrize(("who", "hint"), [
    ('"sms:12"', "sms:<phone in international format>"),
    ('"telegram:chat with spaces"', "telegram:<chat id>"),
    ('"tg:-100"', "telegram:<chat id> or sms:<phone>"),
])
def test_a_malformed_recipient_says_how_to_write_it(who: str, hint: str) -> None:
    (problem,) = problems(BASE % ("sla_breach", who))
    assert problem.startswith("crm-bridge.yaml:")
    assert hint in problem


def test_too_many_sms_segments_and_a_short_webhook_secret_are_refused() -> None:
    text = (BASE % ("sla_breach", '"sms:+79991234567"')).replace("sender: Support", "sender: Support, max_segments: 9") \
        .replace("whsec-0123456789abcdef", "short")
    found = problems(text)
    assert any("max_segments" in p for p in found)
    assert any("secret" in p for p in found)


@pytest.mark.parametrize(("staff", "line", "field"), [
    ("  staff: {breach: [assignee]}\n", 7, "staff.breach.0"),
    ("  staff:\n    warn: [\"telegram:-100123\", lead@example.ru]\n", 8, "staff.warn.1"),
    ("  staff: {supervisor: lead@example.ru}\n", 7, "staff.supervisor"),
    ("  customer: {acknowledgement: true}\n", 7, "customer.acknowledgement"),
])
def test_a_mail_recipient_written_without_an_email_section_is_an_error_at_its_line(staff: str, line: int, field: str) -> None:
    text = (BASE % ("sla_breach", '"telegram:-100123"')).replace("  staff:\n    breach: [\"telegram:-100123\"]\n", staff)
    (problem,) = problems(text)
    assert problem.startswith(f"crm-bridge.yaml:{line}:")
    assert field in problem
    assert "but notify has no `email:` section; add it" in problem


def test_the_default_mail_recipients_are_no_error_without_an_email_section() -> None:
    registry, _ = load_registry()
    text = 'store: {url: "sqlite://"}\nnotify:\n  telegram: {token: "123:secret-token"}\n'
    config: NotifyConfig = config_from_text(text, registry).section("notify")
    assert config.staff.breach == ["assignee", "supervisor"]  # no mail rows are queued for them (notify/README.md)


def test_a_webhook_listed_twice_is_an_error_at_the_second_and_its_token_is_not_shown() -> None:
    text = (BASE % ("sla_breach", '"telegram:-100123"')).replace(
        "  staff:", '    - {url: "https://hooks.example.ru/crm", secret: "whsec-0123456789abcdef"}\n  staff:').replace(
        "https://hooks.example.ru/crm", "https://hooks.example.ru/crm?token=abc123")
    (problem,) = problems(text)
    assert problem.startswith("crm-bridge.yaml:7:")
    assert "webhooks.1.url" in problem
    assert "https://hooks.example.ru/crm is listed twice (also webhooks.0)" in problem
    assert "abc123" not in problem
