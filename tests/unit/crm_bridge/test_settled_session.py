"""``crm_bridge.http.SettledSession``: requests' environment settings, read once."""

from __future__ import annotations

import pytest
import requests

from crm_bridge.http import SettledSession

URLS = ["http://1c.example/base/odata/x?$format=json", "http://1c.example/base/odata/y", "http://inside.example:8080/z",
        "https://1c.example/base/odata/x"]


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
                 "all_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3129")
    monkeypatch.setenv("NO_PROXY", "inside.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company.pem")


@pytest.mark.usefixtures("proxied")
@pytest.mark.parametrize("request_proxies", [{}, {"no_proxy": "1c.example"}, {"http": "http://mine.example:1"}])
def test_the_settings_are_those_requests_works_out(request_proxies: dict[str, str]) -> None:
    settled, plain = SettledSession(), requests.Session()
    for _ in range(2):  # the second time from what was read the first
        for url in URLS:
            for verify in (None, True, False, "/mine.pem"):
                assert settled.merge_environment_settings(url, dict(request_proxies), None, verify, None) == \
                    plain.merge_environment_settings(url, dict(request_proxies), None, verify, None)


@pytest.mark.usefixtures("proxied")
def test_the_environment_is_read_once_per_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    session = SettledSession()
    first = session.merge_environment_settings(URLS[0], {}, None, None, None)
    monkeypatch.setenv("HTTP_PROXY", "http://elsewhere.example:1")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/elsewhere.pem")
    assert session.merge_environment_settings(URLS[1], {}, None, None, None) == first
    assert SettledSession().merge_environment_settings(URLS[1], {}, None, None, None)["proxies"]["http"] == \
        "http://elsewhere.example:1"


@pytest.mark.usefixtures("proxied")
def test_without_trust_env_nothing_is_read() -> None:
    session = SettledSession()
    session.trust_env = False
    assert session.merge_environment_settings(URLS[0], {}, None, None, None) == \
        {"proxies": {}, "stream": False, "verify": True, "cert": None}


@pytest.mark.usefixtures("proxied")
def test_a_change_to_the_sessions_own_settings_is_honoured_after_the_first_call() -> None:
    settled, plain = SettledSession(), requests.Session()
    for session in (settled, plain):
        session.merge_environment_settings(URLS[0], {}, True, None, None)
        session.verify = "/other.pem"
        session.cert = "/client.pem"
        session.proxies = {"http": "http://session.example:8"}
    given: tuple[dict[str, str] | None, ...] = ({}, None)
    for url in URLS:
        for proxies in given:
            assert settled.merge_environment_settings(url, proxies, True, None, None) == \
                plain.merge_environment_settings(url, proxies, True, None, None)


@pytest.mark.usefixtures("proxied")
def test_each_call_gets_its_own_proxies_to_change() -> None:
    session = SettledSession()
    first = session.merge_environment_settings(URLS[0], {}, True, None, None)
    first["proxies"]["http"] = "http://changed.example:1"
    assert session.merge_environment_settings(URLS[0], {}, True, None, None)["proxies"]["http"] == \
        "http://proxy.example:3128"
