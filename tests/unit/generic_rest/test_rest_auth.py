"""Credentials on each request, and OAuth refresh tokens that rotate: the new pair is
stored before use, never spent twice, and a refusal says how to recover."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import requests
import responses
from pydantic import SecretStr

from adapters.generic_rest.auth import Authenticator, FileTokens, MemoryTokens, StoredToken
from adapters.generic_rest.connector import ApiKeyAuth, BasicAuth, RefreshTokenAuth, UrlTokenAuth
from crm_bridge.errors import RemoteRejected, RemoteUnavailable

TOKEN_URL = "https://acme.amocrm.ru/oauth2/access_token"
AMO = RefreshTokenAuth(kind="oauth2_refresh", token_url=TOKEN_URL, client_id="cid", client_secret=SecretStr("csecret"),
                       refresh_token=SecretStr("r0"), redirect_uri="https://bridge.example/oauth")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_static_credentials_go_in_a_header_the_query_or_the_url() -> None:
    session = requests.Session()
    headers: dict[str, str] = {}
    params: dict[str, object] = {}
    Authenticator(ApiKeyAuth(kind="api_key", name="key", value=SecretStr("k1"), where="query"), "b", session,
                  MemoryTokens()).apply(headers, params)
    assert params == {"key": "k1"}
    Authenticator(BasicAuth(kind="basic", username="u", password=SecretStr("p")), "b", session, MemoryTokens()).apply(headers, params)
    assert headers["Authorization"] == "Basic dTpw"
    bitrix = Authenticator(UrlTokenAuth(kind="url_token", token=SecretStr("t0k")), "b", session, MemoryTokens())
    assert bitrix.url("https://x.bitrix24.ru/rest/1/{token}/") == "https://x.bitrix24.ru/rest/1/t0k/"


@responses.activate
def test_a_rotating_refresh_token_is_stored_before_the_new_access_token_is_used(tmp_path: Path) -> None:
    store = FileTokens(tmp_path / "tokens.json")
    seen: list[dict[str, list[str]]] = []

    def token(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        form = parse_qs(str(request.body))
        seen.append(form)
        n = len(seen)
        return 200, {}, json.dumps({"access_token": f"a{n}", "refresh_token": f"r{n}", "expires_in": 86400})

    responses.add_callback(responses.POST, TOKEN_URL, callback=token)
    clock = Clock()
    auth = Authenticator(AMO, "amo", requests.Session(), store, clock=clock)
    headers: dict[str, str] = {}
    auth.apply(headers, {})
    assert headers["Authorization"] == "Bearer a1"
    assert seen[0]["refresh_token"] == ["r0"]  # the installation's token, first
    assert seen[0]["redirect_uri"] == ["https://bridge.example/oauth"]
    assert store.load("amo") == StoredToken("a1", "r1", clock.now + 86400)
    assert (tmp_path / "tokens.json").stat().st_mode & 0o777 == 0o600
    auth.apply(headers, {})
    assert len(seen) == 1  # still valid: no exchange
    clock.now += 86400 - 30  # within a minute of expiry: renewed first
    auth.apply(headers, {})
    assert headers["Authorization"] == "Bearer a2"
    assert seen[1]["refresh_token"] == ["r1"]  # the rotated one, from the store
    restarted = Authenticator(AMO, "amo", requests.Session(), FileTokens(tmp_path / "tokens.json"), clock=clock)
    assert restarted.access_token() == "a2"  # a new process goes on with the stored pair
    assert len(seen) == 2


@responses.activate
def test_a_401_after_another_process_renewed_takes_its_token_instead_of_spending_the_refresh_token() -> None:
    store = MemoryTokens()
    clock = Clock()
    store.save("amo", StoredToken("a1", "r1", clock.now + 3600))
    ours = Authenticator(AMO, "amo", requests.Session(), store, clock=clock)
    assert ours.access_token() == "a1"
    store.save("amo", StoredToken("a2", "r2", clock.now + 86400))  # the other worker's exchange
    assert ours.renew().access_token == "a2"
    assert len(responses.calls) == 0


@responses.activate
def test_a_spent_refresh_token_is_refused_with_what_to_do_and_no_secret() -> None:
    responses.add(responses.POST, TOKEN_URL, status=400, json={"hint": "Token has been revoked", "error": "invalid_grant"})
    auth = Authenticator(AMO, "amo", requests.Session(), MemoryTokens(), clock=Clock())
    with pytest.raises(RemoteRejected) as caught:
        auth.access_token()
    message = str(caught.value)
    assert "invalid_grant" in message
    assert "authorise the integration in the CRM again" in message
    assert "r0" not in message
    assert "csecret" not in message


@responses.activate
def test_a_token_endpoint_down_is_retryable() -> None:
    responses.add(responses.POST, TOKEN_URL, status=503)
    with pytest.raises(RemoteUnavailable, match="will retry"):
        Authenticator(AMO, "amo", requests.Session(), MemoryTokens(), clock=Clock()).access_token()


B24_TOKEN_URL = "https://oauth.bitrix.info/oauth/token/"


@responses.activate
def test_a_bitrix24_application_refreshes_by_get_and_sends_its_token_as_auth(tmp_path: Path) -> None:
    seen: list[dict[str, list[str]]] = []

    def token(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        seen.append(parse_qs(str(request.url).split("?", 1)[1]))
        return 200, {}, json.dumps({"access_token": f"a{len(seen)}", "refresh_token": f"r{len(seen)}", "expires_in": 3600,
                                    "domain": "oauth.bitrix.info", "member_id": "m1", "status": "L"})

    responses.add_callback(responses.GET, B24_TOKEN_URL, callback=token)
    app = RefreshTokenAuth(kind="oauth2_refresh", token_url=B24_TOKEN_URL, client_id="local.1", client_secret=SecretStr("s"),
                           refresh_token=SecretStr("r0"), token_method="GET", token_param="auth")
    store = FileTokens(tmp_path / "tokens.json")
    auth = Authenticator(app, "b24", requests.Session(), store, clock=Clock())
    headers: dict[str, str] = {}
    params: dict[str, object] = {}
    auth.apply(headers, params)
    assert params == {"auth": "a1"}
    assert "Authorization" not in headers
    assert seen == [{"grant_type": ["refresh_token"], "client_id": ["local.1"], "client_secret": ["s"], "refresh_token": ["r0"]}]
    assert store.load("b24") == StoredToken("a1", "r1", 1_000_000.0 + 3600)
    auth.renew()  # expired_token: the stored refresh token is spent next, not the installation's
    assert seen[-1]["refresh_token"] == ["r1"]
    assert store.load("b24").refresh_token == "r2"  # type: ignore[union-attr]
