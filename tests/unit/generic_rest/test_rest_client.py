"""The REST client against mocked answers (one layer): retries and waits, re-login,
the CRM's refusals in its own words, listings page by page, bounded answers."""

from __future__ import annotations

import json

import pytest
import requests
import responses
from pydantic import SecretStr

from adapters.generic_rest.connector import (
    ClientCredentialsAuth,
    Connector,
    ErrorRule,
    RateLimit,
    Resource,
    UrlTokenAuth,
)
from crm_bridge.errors import RemoteRejected, RemoteUnavailable
from crm_bridge.http import AnswerTooLarge

BASE = "https://crm.example/api"


def connector(**extra: object) -> Connector:
    fields: dict[str, object] = {"name": "crm", "base_url": BASE, "resources": {"tickets": Resource(path="/tickets")}}
    fields.update(extra)
    return Connector.model_validate(fields)


def client(conn: Connector | None = None, **kwargs: object) -> tuple[object, list[float]]:
    from adapters.generic_rest.client import RestClient

    slept: list[float] = []
    return RestClient("crm", conn or connector(), sleep=slept.append, **kwargs), slept  # type: ignore[arg-type]


@responses.activate
def test_a_429_is_retried_after_the_wait_it_asks_for() -> None:
    responses.add(responses.GET, f"{BASE}/tickets/7", status=429, headers={"Retry-After": "3"})
    responses.add(responses.GET, f"{BASE}/tickets/7", json={"id": 7})
    rest, slept = client()
    assert rest.call("GET", "/tickets/{id}", keys={"id": "7"}) == {"id": 7}  # type: ignore[attr-defined]
    assert slept == [3.0]


@responses.activate
def test_with_a_rate_limit_a_429_pauses_the_whole_backend() -> None:
    responses.add(responses.GET, f"{BASE}/tickets", status=429, headers={"Retry-After": "2"})
    responses.add(responses.GET, f"{BASE}/tickets", json=[])
    rest, slept = client(connector(rate_limit=RateLimit(per_second=7)))
    assert rest.call("GET", "/tickets") == []  # type: ignore[attr-defined]
    assert sum(slept) >= 2.0  # the bucket made the next call wait


@responses.activate
def test_a_401_logs_in_again_once_then_the_call_goes_through() -> None:
    responses.add(responses.POST, "https://crm.example/oauth/token", json={"access_token": "t1", "expires_in": 3600})
    responses.add(responses.POST, "https://crm.example/oauth/token", json={"access_token": "t2", "expires_in": 3600})
    responses.add(responses.GET, f"{BASE}/tickets", status=401, json={"title": "Unauthorized"})
    responses.add(responses.GET, f"{BASE}/tickets", json=[{"id": 1}])
    auth = ClientCredentialsAuth(kind="oauth2_client_credentials", token_url="https://crm.example/oauth/token",
                                 client_id="c", client_secret=SecretStr("s"))
    rest, _ = client(connector(auth=auth))
    assert rest.call("GET", "/tickets") == [{"id": 1}]  # type: ignore[attr-defined]
    sent = [c.request.headers.get("Authorization") for c in responses.calls if c.request.method == "GET"]
    assert sent == ["Bearer t1", "Bearer t2"]


@responses.activate
def test_the_crms_refusal_is_raised_in_its_own_words_and_not_retried() -> None:
    responses.add(responses.PATCH, f"{BASE}/tickets/7", status=422, json={"message": "Поле NAME обязательно"})
    rest, slept = client()
    with pytest.raises(RemoteRejected, match="HTTP 422: Поле NAME обязательно"):
        rest.call("PATCH", "/tickets/7", json={"name": ""})  # type: ignore[attr-defined]
    assert len(responses.calls) == 1
    assert slept == []


@responses.activate
def test_a_login_page_with_200_is_retried_then_given_up_as_unavailable() -> None:
    responses.add(responses.GET, f"{BASE}/tickets", body="<html><title>Login</title></html>", content_type="text/html")
    rest, slept = client(attempts=3)
    with pytest.raises(RemoteUnavailable, match=r"not JSON .*\(after 3 attempts\)"):
        rest.call("GET", "/tickets")  # type: ignore[attr-defined]
    assert len(slept) == 2


@responses.activate
def test_a_url_token_never_appears_in_an_error() -> None:
    conn = Connector.model_validate({"name": "b24", "base_url": "https://x.bitrix24.ru/rest/1/{token}",
                                     "auth": UrlTokenAuth(kind="url_token", token=SecretStr("s3cr3tt0ken")),
                                     "resources": {"deals": Resource(path="crm.deal.list")}})
    responses.add(responses.GET, "https://x.bitrix24.ru/rest/1/s3cr3tt0ken/crm.deal.list",
                  body=b"x" * 2048, headers={"Content-Length": "2048"})
    rest, _ = client(conn, max_bytes=1024)
    with pytest.raises(AnswerTooLarge) as caught:
        rest.call("GET", "crm.deal.list")  # type: ignore[attr-defined]
    assert "s3cr3tt0ken" not in str(caught.value)
    assert "https://x.bitrix24.ru/rest/1/***/crm.deal.list" in str(caught.value)


@responses.activate
def test_an_offset_listing_is_read_page_by_page_until_the_total() -> None:
    items = [{"id": i} for i in range(1, 251)]

    def page(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        query = dict(p.split("=") for p in (request.url or "").split("?")[1].split("&"))
        offset, limit = int(query["offset"]), int(query["limit"])
        return 200, {}, json.dumps({"payload": {"items": items[offset:offset + limit], "count": 250}})

    responses.add_callback(responses.GET, f"{BASE}/tickets", callback=page)
    resource = Resource.model_validate({"path": "/tickets", "records": "payload.items",
                                        "paginator": {"kind": "offset", "limit": 100, "total": "payload.count"}})
    rest, _ = client()
    pages = list(rest.pages(resource))  # type: ignore[attr-defined]
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [r["id"] for p in pages for r in p] == list(range(1, 251))
    assert len(responses.calls) == 3


@responses.activate
def test_a_server_ignoring_the_offset_is_refused_instead_of_read_for_ever() -> None:
    responses.add(responses.GET, f"{BASE}/tickets", json={"items": [{"id": i} for i in range(100)]})
    resource = Resource.model_validate({"path": "/tickets", "records": "items", "paginator": {"kind": "offset", "limit": 100}})
    rest, _ = client()
    with pytest.raises(RemoteRejected, match="answered the same page twice"):
        list(rest.pages(resource))  # type: ignore[attr-defined]
    assert len(responses.calls) == 2


@responses.activate
def test_an_empty_listing_answered_204_has_no_records_and_a_missing_envelope_is_an_error() -> None:
    responses.add(responses.GET, f"{BASE}/leads", status=204)
    hal = Resource.model_validate({"path": "/leads", "records": "_embedded.leads",
                                   "paginator": {"kind": "page", "size": 250, "next": "_links.next"}})
    rest, _ = client()
    assert list(rest.pages(hal)) == [[]]  # type: ignore[attr-defined]
    responses.replace(responses.GET, f"{BASE}/leads", json={"_embedded": {"contacts": []}})
    with pytest.raises(RemoteUnavailable, match="no list at '_embedded.leads'"):
        list(rest.pages(hal))  # type: ignore[attr-defined]


def test_rules_from_the_connector_apply() -> None:
    conn = connector(errors=[ErrorRule(status=[403], action="fail", say="the API key is missing")])
    with responses.RequestsMock() as mocked:
        mocked.add(responses.GET, f"{BASE}/tickets", status=403, json={})
        rest, _ = client(conn)
        with pytest.raises(RemoteRejected, match="HTTP 403: the API key is missing"):
            rest.call("GET", "/tickets")  # type: ignore[attr-defined]
