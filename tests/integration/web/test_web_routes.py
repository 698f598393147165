"""The web routes through FastAPI's TestClient (no socket): login, CSRF, the cabinet's
signed links, headers, OpenAPI. The real server and a real browser are in the other files."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_fixtures import LINK_KEY, PASSWORD, cabinet_token, make_app

from crm_bridge.app import App
from web.server import create_app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    bridge = make_app(tmp_path)
    yield bridge
    bridge.close()


@pytest.fixture
def client(app: App) -> TestClient:
    return TestClient(create_app(app), base_url="http://127.0.0.1")


def _csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def _login(client: TestClient, password: str = PASSWORD) -> object:
    return client.post("/login", data={"login": "lead", "password": password, "csrf": _csrf(client), "next": "/dashboard"},
                       follow_redirects=False)


def test_the_dashboard_needs_a_login_and_shows_the_store_after_it(client: TestClient):
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/login?next=/dashboard"
    assert client.get("/api/dashboard").status_code == 401
    answer = _login(client)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard"
    page = client.get("/dashboard", headers={"accept-language": "en"})
    assert page.status_code == 200
    assert "CRM-0000043" in page.text.split("SLA breached")[1]  # the breached request under its heading
    assert "CRM-0000042" in page.text.split("About to breach SLA")[1]
    assert "everybody away" in page.text  # routing's queue
    assert 'Notifications not sent: <span class="count">0</span>' in page.text
    assert "<svg" in page.text
    board = client.get("/api/dashboard").json()
    assert {t["team"]: t["total"] for t in board["open_by_team"]} == {"L1": 2, "L2": 1}
    assert [r["number"] for r in board["breached"]] == ["CRM-0000043"]
    assert board["routing_queue"][0]["queued"] == 1


def test_a_wrong_password_or_unknown_login_is_refused_alike(client: TestClient):
    wrong = _login(client, "guess")
    assert wrong.status_code == 401
    assert "session" not in " ".join(wrong.headers.get_list("set-cookie"))
    unknown = client.post("/login", data={"login": "nobody", "password": PASSWORD, "csrf": _csrf(client)})
    assert unknown.status_code == 401


def test_every_post_without_its_csrf_token_is_refused(client: TestClient, app: App):
    _csrf(client)  # the visitor has a CSRF cookie
    forged = client.post("/login", data={"login": "lead", "password": PASSWORD, "csrf": "x"}, follow_redirects=False)
    assert forged.status_code == 403
    missing = client.post("/login", data={"login": "lead", "password": PASSWORD}, follow_redirects=False)
    assert missing.status_code == 403
    other = TestClient(create_app(app), base_url="http://127.0.0.1")  # a token of another visitor's cookie
    stolen = client.post("/login", data={"login": "lead", "password": PASSWORD, "csrf": _csrf(other)},
                         follow_redirects=False)
    assert stolen.status_code == 403
    posts = [r for r in create_app(app).routes if "POST" in getattr(r, "methods", set())]
    assert posts
    for route in posts:
        if route.path == "/unsubscribe/{token}":  # RFC 8058 one-click: a mail client has no cookie; the signed token is the proof
            continue
        names = [getattr(d.call, "__name__", type(d.call).__name__)
                 for d in route.dependant.dependencies]  # type: ignore[attr-defined]
        # a bearer-token API (intake's) carries no cookie a foreign page could ride on
        assert "csrf_checked" in names or "HTTPBearer" in names, route.path


def test_a_session_ends_when_it_expires(client: TestClient, app: App):
    from datetime import timedelta

    _login(client)
    assert client.get("/api/dashboard").status_code == 200
    app.clock.at += timedelta(hours=8)  # type: ignore[attr-defined]
    assert client.get("/api/dashboard").status_code == 401


def test_the_cabinet_shows_the_contacts_open_requests_only(client: TestClient, app: App):
    page = client.get(f"/cabinet/{cabinet_token(1)}", headers={"accept-language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert page.status_code == 200
    text = page.text
    assert "CRM-0000042" in text
    assert "CRM-0000043" in text
    assert "CRM-0000044" not in text  # closed
    assert "CRM-0000050" not in text  # another customer's
    assert "Пётр" in text
    assert "Петров " not in text  # the first name only
    assert "Сидорова" not in text
    assert "Анна" in text
    assert "11 января 2027, 11:30 (МСК)" in text  # due NOW + 2 h, in the customer's zone, in Russian
    assert "В работе" in text


def test_the_cabinet_speaks_the_visitors_language_and_the_switch_changes_it(client: TestClient):
    token = cabinet_token(2)
    english = client.get(f"/cabinet/{token}", headers={"accept-language": "en-GB,en;q=0.8"})
    assert "Your requests" in english.text
    assert "January 12, 2027" in english.text or "12 January 2027" in english.text
    switch = client.get(f"/lang/ru?next=/cabinet/{token}", follow_redirects=False)
    assert switch.headers["location"] == f"/cabinet/{token}"
    russian = client.get(f"/cabinet/{token}", headers={"accept-language": "en"})
    assert "Ваши обращения" in russian.text
    for away in ("//evil.example", "/%09/evil.example", "/\\evil.example", "https://evil.example"):
        assert client.get(f"/lang/en?next={away}", follow_redirects=False).headers["location"] == "/dashboard", away


@pytest.mark.parametrize(("token", "status", "words", "reason"), [
    (lambda: cabinet_token(1)[:-3] + "abc", 403, "повреждена", "forged"),
    (lambda: cabinet_token(1, key="x" * 40), 403, "повреждена", "forged"),
    (lambda: cabinet_token(1, days=-1), 410, "истёк", "expired"),
    (lambda: cabinet_token(1, purpose="rating"), 403, "другой страницы", "not_for_this"),
])
def test_a_bad_link_gets_a_friendly_page_and_a_log_line_without_the_token(client: TestClient, caplog, token, status,
                                                                        words, reason):
    given = token()
    with caplog.at_level(logging.WARNING, logger="web.server"):
        answer = client.get(f"/cabinet/{given}", headers={"accept-language": "ru"})
    assert answer.status_code == status
    assert words in answer.text
    assert "CRM-" not in answer.text
    records = [r for r in caplog.records if getattr(r, "event", None) == "web.link.refused"]
    assert [r.reason for r in records] == [reason]  # type: ignore[attr-defined]
    assert given not in caplog.text
    assert LINK_KEY not in caplog.text


def test_every_answer_carries_the_security_headers(client: TestClient):
    for path in ("/login", "/healthz", "/static/web.css", f"/cabinet/{cabinet_token(1)}", "/cabinet/bad"):
        headers = client.get(path).headers
        assert "unsafe-inline" not in headers["content-security-policy"]
        assert "script-src" not in headers["content-security-policy"]  # default-src 'none': no script at all
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"


def test_health_metrics_and_openapi(client: TestClient):
    assert client.get("/healthz").json() == {"ok": True, "store": "reachable"}
    assert 'crm_bridge_tickets{sla_state="breached",status="new"} 1.0' in client.get("/metrics").text
    paths = set(client.get("/openapi.json").json()["paths"])
    assert paths == {"/healthz", "/api/dashboard", "/api/intake/requests", "/api/intake/requests/{reference}"}  # intake mounts its API


def test_without_users_nobody_logs_in(tmp_path: Path):
    from crm_bridge.app import App as Bridge

    bridge = Bridge.from_text(f'store: {{url: "sqlite:///{tmp_path / "n.db"}"}}\nlinks: {{secret: {LINK_KEY}}}\n')
    try:
        bridge.upgrade_db()
        client = TestClient(create_app(bridge))
        assert client.get("/login").status_code == 403
        assert client.get("/api/dashboard").status_code == 401
    finally:
        bridge.close()


def test_the_web_pages_do_not_start_without_a_links_key(tmp_path: Path):
    from crm_bridge.app import App as Bridge
    from crm_bridge.errors import ConfigError

    bridge = Bridge.from_text(f'store: {{url: "sqlite:///{tmp_path / "n.db"}"}}\n', file="crm-bridge.yaml")
    try:
        with pytest.raises(ConfigError, match=r"^crm-bridge.yaml: links.secret: not set"):
            create_app(bridge)
    finally:
        bridge.close()


@pytest.mark.postgres
def test_the_dashboard_and_the_cabinet_read_postgresql_alike(tmp_path: Path, pg_url: str):
    from web_fixtures import NOW

    from web.cabinet import cabinet
    from web.dashboard import dashboard

    bridge = make_app(tmp_path, store=pg_url)
    try:
        board = dashboard(bridge, NOW)
        assert {t["team"]: t["total"] for t in board["open_by_team"]} == {"L1": 2, "L2": 1}
        assert [r["number"] for r in board["at_risk"]] == ["CRM-0000042"]
        assert [r["number"] for r in board["breached"]] == ["CRM-0000043"]
        assert [q["queued"] for q in board["routing_queue"]] == [1]
        from crm_bridge.links import verify

        link = verify(LINK_KEY, cabinet_token(1), "cabinet", NOW)
        shown = cabinet(bridge, link, NOW)
        assert sorted(r["number"] for r in shown["requests"]) == ["CRM-0000042", "CRM-0000043"]
        assert shown["zone"] == "Europe/Moscow"
    finally:
        bridge.close()


def test_the_cabinet_shows_due_dates_in_the_customers_zone(tmp_path: Path):
    bridge = make_app(tmp_path, "notify:\n  customer:\n    segments: {international: {language: en, timezone: Europe/London}}\n")
    try:
        page = TestClient(create_app(bridge)).get(f"/cabinet/{cabinet_token(2)}", headers={"accept-language": "ru"})
    finally:
        bridge.close()
    assert "12 января 2027, 06:30" in page.text  # 09:30 in Moscow is 06:30 in London
    assert "МСК" not in page.text


def test_the_json_answers_match_their_openapi_schemas(client: TestClient):
    import jsonschema

    spec = client.get("/openapi.json").json()

    def check(path: str, status: str, body: object) -> None:
        content = spec["paths"][path]["get"]["responses"][status]["content"]["application/json"]["schema"]
        jsonschema.validate(body, {**content, "components": spec["components"]},
                            cls=jsonschema.Draft202012Validator)

    check("/healthz", "200", client.get("/healthz").json())
    _login(client)
    board = client.get("/api/dashboard").json()
    assert board["breached"]
    check("/api/dashboard", "200", board)
    with pytest.raises(jsonschema.ValidationError):
        check("/api/dashboard", "200", {**board, "parked_mails": "none"})
