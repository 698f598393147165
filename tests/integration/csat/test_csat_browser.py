"""The rating page in a real headless Chromium (Debian's /usr/bin/chromium driven by
Playwright, as web's browser tests): open the survey link from the delivered mail, rate,
see the thanks page, change the rating, a forged link refused. Screenshots go to
$CRM_BRIDGE_ARTIFACTS (default: the test's tmp folder)/csat."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from csat_fixtures import free_port, make_app, seed

from crm_bridge.store.tables import TicketRow
from notify.sink import SmtpSink
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


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CRM_BRIDGE_ARTIFACTS", tmp_path)) / "csat"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_customer_rates_from_the_mail_and_changes_the_rating(browser: Any, tmp_path: Path):
    port = free_port()
    with SmtpSink() as sink:
        app = make_app(tmp_path, sink, base_url=f"http://127.0.0.1:{port}")
        try:
            ids = seed(app)
            app.run_job("csat.tick")
            app.run_job("notify.dispatch")
            (mail,) = sink.messages
            html = mail.get_body(("html",))
            assert html is not None
            links = dict((int(n), url) for url, n in re.findall(r'href="(http://[^"]+/rate/[^"?]+)\?score=(\d)"', html.get_content()))
            assert sorted(links) == [1, 2, 3, 4, 5]
            with WebServer(app, "127.0.0.1", port):
                page = browser.new_page(locale="ru-RU", viewport={"width": 390, "height": 844})  # a phone
                errors: list[str] = []
                page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
                page.goto(f"{links[5]}?score=5")  # one click in the mail: 5 pre-selected, nothing stored yet
                assert page.is_checked("input[name=score][value='5']")
                assert page.locator("script").count() == 0
                page.screenshot(path=str(_shots(tmp_path) / "rate-phone.png"), full_page=True)
                page.fill("textarea[name=comment]", "Быстро и вежливо")
                page.click("button[type=submit]")
                page.wait_for_url(re.compile(r".*\?thanks=1$"))
                assert "Спасибо за оценку!" in page.inner_text("main")
                assert "5 из 5" in page.inner_text("p.yours")
                page.screenshot(path=str(_shots(tmp_path) / "thanks-phone.png"), full_page=True)

                page.check("input[name=score][value='3']")  # changed inside the window
                page.click("button[type=submit]")
                page.wait_for_url(re.compile(r".*\?thanks=1$"))
                assert "3 из 5" in page.inner_text("p.yours")
                assert page.input_value("textarea[name=comment]") == "Быстро и вежливо"
                assert not errors, errors  # no CSP violation or failed load on the way (the refusal below is one)

                forged = links[5][:-4] + ("AAAA" if not links[5].endswith("AAAA") else "BBBB")
                answer = page.goto(forged)
                assert answer is not None
                assert answer.status == 403
                assert "Ссылка не работает" in page.inner_text("h1")
                page.screenshot(path=str(_shots(tmp_path) / "forged-phone.png"), full_page=True)
            with app.store.transaction() as s:
                ticket = s.get(TicketRow, ids["rated"])
                assert (ticket.csat_score, ticket.csat_comment) == (3, "Быстро и вежливо")
        finally:
            app.close()
