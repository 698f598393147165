"""The pages in a real headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
log in, see the dashboard, open a customer's link, a forged link refused, the CSP holds.
Screenshots go to $CRM_BRIDGE_ARTIFACTS (default: the test's tmp folder). Chromium missing
is a failure, never a skip: CI installs it (.ci/run)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_fixtures import PASSWORD, cabinet_token, make_app, seed_december

from web.serve import WebServer

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (the browser tests need it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    app = make_app(tmp_path)
    seed_december(app)  # older than the default 14 days: only a chosen period shows them
    try:
        with WebServer(app, "127.0.0.1", 0) as web:
            yield web.url
    finally:
        app.close()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CRM_BRIDGE_ARTIFACTS", tmp_path)) / "web"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_supervisor_logs_in_and_sees_where_sla_is_missed(browser: Any, site: str, tmp_path: Path):
    page = browser.new_page(locale="ru-RU", viewport={"width": 390, "height": 844})  # a phone
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    answer = page.goto(f"{site}/dashboard")
    assert page.url.startswith(f"{site}/login")
    csp = answer.headers["content-security-policy"]
    assert "unsafe-inline" not in csp
    page.fill("input[name=login]", "lead")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/dashboard")
    assert page.inner_text("h1") == "Панель руководителя"
    assert "CRM-0000043" in page.inner_text("section.breached")
    assert page.inner_text("section.breached h2") == "SLA нарушен сейчас (1)"
    assert "CRM-0000042" in page.inner_text("section.at_risk")
    assert page.locator("svg.chart rect").count() >= 2
    # the KPI charts, drawn on the server: titled in the page's language, each within the phone's width
    charts = page.locator("section.kpi svg.chart")
    titles = [charts.nth(i).get_attribute("aria-label") for i in range(charts.count())]
    assert titles[:3] == ["Новые обращения по дням и каналам, 14 дней", "SLA соблюдён, по целям, 30 дней",
                          "Открытые обращения по возрасту"]
    assert "Загрузка исполнителей: открыто / предел" in titles
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box is not None
        assert 200 < box["width"] <= 390
    assert page.locator("section.kpi svg.chart").first.locator("rect").count() >= 1  # yesterday's requests
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone
    # the stylesheet applied (a CSP refusing it would leave the browser's default margin)
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"
    assert not errors, errors  # no CSP violation or failed load reported by the browser
    page.screenshot(path=str(_shots(tmp_path) / "dashboard-phone.png"), full_page=True)
    # a past month on the phone: December's breaches (resolved since), the wider table scrolls inside its box
    page.fill("form.view input[name=period]", "2026-12")
    page.click("form.view button[type=submit]")
    page.wait_for_url("**/dashboard?period=2026-12*")
    assert page.inner_text("section.breached h2") == "Нарушения SLA за 2026-12 (2)"
    numbers = page.locator("section.breached td.number")
    assert [numbers.nth(i).inner_text() for i in range(numbers.count())] == ["CRM-0000062", "CRM-0000060"]
    assert [c.inner_text() for c in page.locator("section.breached td.late").all()] == ["30 мин", "8 ч"]
    assert "CRM-0000042" in page.inner_text("section.at_risk")  # about to breach: still now
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert not errors, errors
    page.screenshot(path=str(_shots(tmp_path) / "dashboard-phone-december.png"), full_page=True)
    page.click("a.lang")
    assert page.inner_text("h1") == "Supervisor dashboard"
    page.click("form.inline button")  # log out (a CSRF-protected POST)
    page.wait_for_url(f"{site}/login")
    page.goto(f"{site}/dashboard")
    assert page.url.startswith(f"{site}/login")


def test_a_customer_opens_their_link_and_a_forged_one_is_refused(browser: Any, site: str, tmp_path: Path):
    page = browser.new_page(locale="ru-RU", viewport={"width": 390, "height": 844})
    answer = page.goto(f"{site}/cabinet/{cabinet_token(1)}")
    assert answer.status == 200
    cards = page.locator("li.card")
    assert cards.count() == 2
    assert "CRM-0000042" in cards.nth(0).inner_text() + cards.nth(1).inner_text()
    assert "unsafe-inline" not in answer.headers["content-security-policy"]
    page.screenshot(path=str(_shots(tmp_path) / "cabinet-phone.png"), full_page=True)
    token = cabinet_token(1)
    forged = page.goto(f"{site}/cabinet/{token[:-4]}AAAA")
    assert forged.status == 403
    assert page.inner_text("h1") == "Ссылка не работает"
    assert page.locator("li.card").count() == 0
    page.screenshot(path=str(_shots(tmp_path) / "forged-link.png"))


def _volume_bars(page: Any) -> list[str]:
    """The volume chart's bar tooltips ("10.12: phone 2")."""
    bars = page.locator("section.kpi svg.chart").first.locator("rect title")
    return [bars.nth(i).text_content() or "" for i in range(bars.count())]


def test_a_supervisor_picks_a_period_and_a_team_and_the_charts_and_lists_follow(browser: Any, site: str,
                                                                                 tmp_path: Path):
    page = browser.new_page(locale="en-GB", viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{site}/login")
    page.fill("input[name=login]", "lead")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_url(f"{site}/dashboard")
    assert "CRM-0000043" in page.inner_text("section.breached")
    assert not any(".12:" in bar for bar in _volume_bars(page))  # December is not in the last 14 days
    # type a period and choose a team in the plain GET form (no script on the page)
    page.fill("form.view input[name=period]", "2026-12")
    page.select_option("form.view select[name=team]", "L2")
    page.click("form.view button[type=submit]")
    page.wait_for_url("**/dashboard?period=2026-12*")
    assert page.url.endswith("/dashboard?period=2026-12&team=L2&agent=&channel=")
    title = page.locator("section.kpi svg.chart").first.get_attribute("aria-label")
    assert title == "Requests opened per day by channel, 2026-12"
    assert page.inner_text("figure.chart-volume figcaption") == title
    bars = _volume_bars(page)
    assert any(b.startswith("10.12: phone 2") for b in bars), bars  # L2's two phone requests on the 10th
    assert not any("chat" in b for b in bars)  # L1's chat request is filtered out
    # the breached list is December's now (the SLA ledger): L2's 60, resolved since, 8 h late;
    # not 43, breached today; the about-to-breach list says it stays "now"
    breached = page.inner_text("section.breached")
    assert page.inner_text("section.breached h2") == "SLA breached during 2026-12 (1)"
    assert "CRM-0000060" in breached
    assert "CRM-0000043" not in breached
    rows = page.locator("section.breached tbody tr")
    assert rows.count() == 1
    cells = [rows.nth(0).locator("td").nth(i).inner_text() for i in range(rows.nth(0).locator("td").count())]
    assert cells[:4] == ["CRM-0000060", "Декабрь 60", "Resolved", "Resolution"]
    assert cells[4:6] == ["L2", "Сидорова Анна Ивановна"]
    assert cells[-1] == "8 h"
    assert "Always as of now" in page.inner_text("section.at_risk")
    by = page.locator("section.breached-by tbody tr")
    assert [by.nth(i).inner_text().split("\t")[:4] for i in range(by.count())] == [
        ["L2", "Сидорова Анна Ивановна", "1", "1"]]
    assert page.locator("form.view select[name=team] option[selected]").inner_text() == "L2"
    page.screenshot(path=str(_shots(tmp_path) / "dashboard-filtered.png"), full_page=True)
    # the shareable link, then another team: the lists follow
    page.click("a.share")
    page.wait_for_url("**/dashboard?period=2026-12&team=L2")
    assert page.url.endswith("/dashboard?period=2026-12&team=L2")
    page.select_option("form.view select[name=team]", "L1")
    page.click("form.view button[type=submit]")
    page.wait_for_load_state()
    assert "CRM-0000060" not in page.inner_text("section.breached")
    assert "CRM-0000062" in page.inner_text("section.breached")  # L1's first response, 30 min late
    assert "30 min" in page.inner_text("section.breached td.late")
    assert any("chat" in b for b in _volume_bars(page))
    assert not errors, errors  # no CSP violation or failed load so far
    # a wrong period: a friendly message (status 400, which the browser reports), the default view under it
    page.fill("form.view input[name=period]", "2026-13")
    page.click("form.view button[type=submit]")
    page.wait_for_load_state()
    assert "is not a period" in page.inner_text("[role=alert]")
    page.screenshot(path=str(_shots(tmp_path) / "dashboard-bad-period.png"), full_page=True)
    assert errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]
