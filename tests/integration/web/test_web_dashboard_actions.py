"""The dashboard's charts and its actions over a real uvicorn on loopback: a conflict
resolved by taking the CRM's value, a parked outbox row retried (the same functions as
`crm-bridge conflicts resolve` and `jobs retry`, logged with the supervisor's login), a
forged CSRF token and a visitor without a login refused with nothing changed."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from web_fixtures import NOW, PASSWORD, make_app

from crm_bridge.app import App
from crm_bridge.store.tables import TicketRow
from sync.tables import ConflictRow, OutboxRow
from web.serve import WebServer


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[App, str, dict[str, int]]]:
    app = make_app(tmp_path, 'notify: {request_url: "https://crm.example.ru/requests/{number}"}\n')
    with app.store.transaction() as s:
        ids = {number: i for number, i in s.execute(select(TicketRow.number, TicketRow.id))}
        closed = s.get(TicketRow, ids["CRM-0000044"])
        assert closed is not None
        closed.resolved_at = closed.closed_at = NOW - timedelta(hours=20)  # the KPIs read when it stopped being open
        conflict = ConflictRow(backend="crm", model="ticket", local_id=ids["CRM-0000042"], remote_id="g-42",
                               field="subject", base={"value": "Обращение 42"}, local={"value": "Не проходит оплата"},
                               remote={"value": "Оплата картой не проходит"}, created=NOW - timedelta(minutes=5))
        parked = OutboxRow(backend="crm", model="ticket", local_id=ids["CRM-0000043"], identity_key="k-parked",
                           fields={"status": "in_progress"}, origin="sla", state="parked", attempts=5,
                           last_error="HTTP 500 from the CRM", next_attempt_at=None)
        s.add_all([conflict, parked])
        s.flush()
        made = {"conflict": conflict.id, "parked": parked.id}
    try:
        with WebServer(app, "127.0.0.1", 0) as web:
            yield app, web.url, made
    finally:
        app.close()


def _csrf(browser: requests.Session, url: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', browser.get(url, timeout=10).text)
    assert found
    return found.group(1)


def _logged_in(url: str) -> requests.Session:
    browser = requests.Session()
    browser.headers["accept-language"] = "en"
    answer = browser.post(f"{url}/login", data={"login": "lead", "password": PASSWORD, "csrf": _csrf(browser, f"{url}/login")},
                          timeout=10, allow_redirects=False)
    assert answer.status_code == 303
    return browser


def test_the_dashboard_shows_the_charts_the_queues_and_links_each_crm_number(site):
    _, url, _ = site
    browser = _logged_in(url)
    page = browser.get(f"{url}/dashboard", timeout=10).text
    for title in ("Requests opened per day by channel, 14 days", "SLA met per target, 30 days", "Open requests by age",
                  "Agent load: open / capacity"):
        assert f"<title>{title}</title>" in page
    conflicts = page.split('id="conflicts"')[1].split("</section>")[0]
    assert "Оплата картой не проходит" in conflicts
    assert "Take the CRM&#39;s" in conflicts
    parked = page.split('id="parked"')[1].split("</section>")[0]
    assert "HTTP 500 from the CRM" in parked
    assert '<a href="https://crm.example.ru/requests/CRM-0000043">CRM-0000043</a>' in parked
    by = page.split('class="breached-by"')[1].split("</section>")[0]
    assert "Сидорова Анна Ивановна" in by
    assert 'href="https://crm.example.ru/requests/CRM-0000043"' in by
    charts = browser.get(f"{url}/api/dashboard", timeout=10).json()["charts"]
    assert len(charts["volume"]) == 14
    assert charts["volume"][-2]["counts"] == {"email": 4}  # the four requests, opened yesterday
    assert [b["count"] for b in charts["backlog"]] == [0, 0, 3, 0, 0]  # three open, a day old
    assert {(a["agent"], a["open"], a["capacity"]) for a in charts["load"]} == {
        ("Петров Пётр", 1, 8), ("Сидорова Анна Ивановна", 1, 8)}


def test_a_supervisor_resolves_a_conflict_taking_the_crms_value(site, caplog: pytest.LogCaptureFixture):
    app, url, made = site
    browser = _logged_in(url)
    csrf = _csrf(browser, f"{url}/dashboard")
    with caplog.at_level(logging.INFO, logger="sync.queues"):
        answer = browser.post(f"{url}/dashboard/conflicts/{made['conflict']}", data={"take": "remote", "csrf": csrf},
                              timeout=10, allow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard?done=resolved#conflicts"
    with app.store.transaction() as s:
        conflict = s.get(ConflictRow, made["conflict"])
        assert conflict is not None
        assert (conflict.state, conflict.resolution) == ("resolved", "remote")
        assert s.scalar(select(TicketRow.subject).where(TicketRow.number == "CRM-0000042")) == "Оплата картой не проходит"
    [line] = [r for r in caplog.records if getattr(r, "event", "") == "sync.conflict.resolved"]
    assert line.by == "lead"  # type: ignore[attr-defined]
    assert "Conflict resolved." in browser.get(f"{url}{answer.headers['location']}", timeout=10).text
    again = browser.post(f"{url}/dashboard/conflicts/{made['conflict']}", data={"take": "local", "csrf": csrf},
                         timeout=10, allow_redirects=False)
    assert again.headers["location"] == "/dashboard?done=nothing#conflicts"  # a second click changes nothing


def test_a_supervisor_retries_a_parked_row(site, caplog: pytest.LogCaptureFixture):
    app, url, made = site
    browser = _logged_in(url)
    with caplog.at_level(logging.INFO, logger="sync.queues"):
        answer = browser.post(f"{url}/dashboard/jobs/{made['parked']}/retry",
                              data={"csrf": _csrf(browser, f"{url}/dashboard")}, timeout=10, allow_redirects=False)
    assert answer.headers["location"] == "/dashboard?done=retried#parked"
    with app.store.transaction() as s:
        row = s.get(OutboxRow, made["parked"])
        assert row is not None
        assert (row.state, row.attempts, row.next_attempt_at) == ("pending", 0, NOW)
    [line] = [r for r in caplog.records if getattr(r, "event", "") == "sync.outbox.retried"]
    assert (line.by, line.rows) == ("lead", [made["parked"]])  # type: ignore[attr-defined]
    assert "HTTP 500 from the CRM" not in browser.get(f"{url}/dashboard", timeout=10).text.split('id="parked"')[1]


def test_a_forged_csrf_token_or_no_login_changes_nothing(site):
    app, url, made = site
    browser = _logged_in(url)
    forged = browser.post(f"{url}/dashboard/conflicts/{made['conflict']}", data={"take": "remote", "csrf": "forged"},
                          timeout=10, allow_redirects=False)
    assert forged.status_code == 403
    stranger = requests.Session()
    csrf = _csrf(stranger, f"{url}/login")  # a valid token of its own, but no login
    refused = stranger.post(f"{url}/dashboard/jobs/{made['parked']}/retry", data={"csrf": csrf}, timeout=10,
                            allow_redirects=False)
    assert refused.status_code == 303
    assert refused.headers["location"].startswith("/login")
    with app.store.transaction() as s:
        assert s.scalar(select(ConflictRow.state).where(ConflictRow.id == made["conflict"])) == "open"
        assert s.scalar(select(OutboxRow.state).where(OutboxRow.id == made["parked"])) == "parked"
