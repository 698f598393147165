"""The signed links a customer notification carries: the cabinet for every customer mail,
confirm-closure and reopen for the resolved one (bound to the request, expiring), and the
unsubscribe token — a crm_bridge.links token, the same on every retry of a row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_bridge.links import LinkExpired, LinkForged, LinkNotForThis, LinksConfig, sign, verify
from notify.compose import UNSUBSCRIBE_TTL, customer_links, token_address, unsubscribe_link
from notify.settings import NotifyConfig

KEY = "k" * 40
NOW = datetime(2027, 1, 11, 9, 30, tzinfo=UTC)
LINKS = LinksConfig(secret=KEY, base_url="https://support.example.ru", ttl_days=30)  # type: ignore[arg-type]


def _token(url: str | None) -> str:
    assert url is not None
    return url.rsplit("/", 1)[1]


def test_a_resolved_mail_carries_close_and_reopen_links_bound_to_its_request_only():
    links = customer_links(LINKS, ticket_id=42, contact_id=7, event="resolved", issued=NOW)
    close, reopen = _token(links["close_url"]), _token(links["reopen_url"])
    assert links["close_url"].startswith("https://support.example.ru/close/")  # type: ignore[union-attr]
    assert verify(KEY, close, "close", NOW, subject="request:42").subject == "request:42"
    assert verify(KEY, reopen, "reopen", NOW).subject == "request:42"
    with pytest.raises(LinkNotForThis):
        verify(KEY, close, "reopen", NOW)  # a closure link does not reopen
    with pytest.raises(LinkNotForThis):
        verify(KEY, close, "close", NOW, subject="request:43")
    with pytest.raises(LinkExpired):
        verify(KEY, reopen, "reopen", NOW + timedelta(days=30))
    assert verify(KEY, _token(links["cabinet_url"]), "cabinet", NOW).subject == "contact:7"


def test_other_mails_carry_the_cabinet_only_and_nothing_without_a_links_secret():
    links = customer_links(LINKS, ticket_id=42, contact_id=None, event="status_changed", issued=NOW)
    assert links["close_url"] is None
    assert links["reopen_url"] is None
    assert verify(KEY, _token(links["cabinet_url"]), "cabinet", NOW).subject == "request:42"  # no contact: the request
    assert set(customer_links(LinksConfig(), ticket_id=42, contact_id=7, event="resolved", issued=NOW).values()) == {None}


def test_a_row_renders_the_same_links_on_every_retry():
    first = customer_links(LINKS, ticket_id=42, contact_id=7, event="resolved", issued=NOW)
    assert customer_links(LINKS, ticket_id=42, contact_id=7, event="resolved", issued=NOW) == first
    notify = NotifyConfig()
    assert unsubscribe_link(notify, "A@B.example", links=LINKS, issued=NOW) == \
        unsubscribe_link(notify, "a@b.example", links=LINKS, issued=NOW)


def test_the_unsubscribe_token_is_a_links_token_for_one_address_that_lives_a_year():
    url = unsubscribe_link(NotifyConfig(), "m.ivanova@romashka.example", links=LINKS, issued=NOW)
    assert url is not None
    assert url.startswith("https://support.example.ru/unsubscribe/")  # links.base_url: the web addon's page
    token = _token(url)
    assert verify(KEY, token, "unsubscribe", NOW).subject == "email:m.ivanova@romashka.example"
    assert token_address(NotifyConfig(), token, NOW + UNSUBSCRIBE_TTL - timedelta(seconds=1), links=LINKS) == \
        "m.ivanova@romashka.example"
    with pytest.raises(LinkExpired):
        token_address(NotifyConfig(), token, NOW + UNSUBSCRIBE_TTL, links=LINKS)
    cabinet = sign(KEY, "cabinet", "contact:7", expires=NOW + timedelta(days=1))
    with pytest.raises(LinkNotForThis):
        token_address(NotifyConfig(), cabinet, NOW, links=LINKS)
    not_an_address = sign(KEY, "unsubscribe", "contact:7", expires=NOW + timedelta(days=1))
    with pytest.raises(LinkNotForThis):
        token_address(NotifyConfig(), not_an_address, NOW, links=LINKS)
    with pytest.raises(LinkForged):
        token_address(NotifyConfig(), token, NOW, links=LinksConfig(secret="x" * 40))  # type: ignore[arg-type]


def test_an_installation_with_only_notifys_link_secret_signs_the_same_kind_of_token():
    notify = NotifyConfig.model_validate({"unsubscribe_url": "https://mail.example.ru/u/{token}", "link_secret": "s3cret"})
    url = unsubscribe_link(notify, "a@b.example", issued=NOW)
    assert url is not None
    assert url.startswith("https://mail.example.ru/u/")  # notify.unsubscribe_url wins where it is set
    assert verify("s3cret", _token(url), "unsubscribe", NOW).subject == "email:a@b.example"
    assert token_address(notify, _token(url), NOW, links=LinksConfig()) == "a@b.example"
    assert unsubscribe_link(NotifyConfig(), "a@b.example", issued=NOW) is None  # no key at all: no link
    assert unsubscribe_link(notify, "o'brien@b.example", issued=NOW) is None  # not a link subject
