"""The cabinet in a real headless Chromium, opened from a delivered mail: the customer
changes how they are notified (daily digest, SMS instead of e-mail) on a phone-sized page,
saves, and sees it saved; notify then names the source ``web``. Screenshots go to
$CRM_BRIDGE_ARTIFACTS/web/ (default: the test's tmp folder)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from test_web_browser import _shots, browser  # noqa: F401 - the Chromium fixture, shared
from web_fixtures import NOW, make_app

from crm_bridge.events import DomainEvent
from crm_bridge.store.tables import ContactRow, TicketRow
from notify.dispatch import notify_dispatch
from notify.prefs_store import contact_prefs
from notify.sink import SmtpSink
from web.serve import WebServer

BASE = "http://127.0.0.1:8080"  # links.base_url of web_fixtures


def _resolved_mail(tmp_path: Path, sink: SmtpSink) -> tuple[Any, str]:
    """The app, and the cabinet link of the resolved mail Иванова got (CRM-0000042)."""
    app = make_app(tmp_path, f"notify:\n  email: {{host: {sink.host}, port: {sink.port}, tls: none, "
                             'from: "Поддержка <support@example.ru>"}\n')
    with app.store.transaction() as s:
        ticket = s.get(TicketRow, 1)
        assert ticket is not None
        assert ticket.number == "CRM-0000042"
        ticket.status = "resolved"
        unit = app.bus.unit(s, NOW, app.config)
        unit.publish(DomainEvent("ticket.imported", "ticket", ticket.id, "remote:crm",
                                 {"created": False, "changed": ["status"], "before": {"status": "in_progress"}}))
        unit.complete()
    notify_dispatch(app, NOW)
    (mail,) = sink.messages
    assert mail["To"].addresses[0].addr_spec == "m.ivanova@romashka.example"
    body = mail.get_body(("plain",))
    assert body is not None
    found = re.search(r"настройки уведомлений: (\S+)", body.get_content())
    assert found is not None
    return app, found[1]


def test_a_customer_opens_the_cabinet_from_a_mail_and_switches_to_a_daily_sms_digest(
        browser: Any, tmp_path: Path) -> None:  # noqa: F811 - the fixture imported above
    with SmtpSink() as sink:
        app, link = _resolved_mail(tmp_path, sink)
    try:
        with WebServer(app, "127.0.0.1", 0) as web:
            assert link.startswith(f"{BASE}/cabinet/")
            page = browser.new_page(locale="ru-RU", viewport={"width": 390, "height": 844})  # a phone
            errors: list[str] = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(web.url + link.removeprefix(BASE))
            assert page.locator("h1").first.inner_text() == "Ваши обращения"
            assert page.locator("input[name=frequency][value=immediately]").is_checked()
            page.screenshot(path=str(_shots(tmp_path) / "cabinet-prefs-before.png"), full_page=True)

            page.check("input[name=frequency][value=daily]")
            page.fill("input[name=digest_at]", "08:30")
            page.uncheck("input[name=channels][value=email]")
            page.check("input[name=channels][value=sms]")
            page.fill("input[name=phone]", "+79161234567")
            page.click("form.prefs button[type=submit]")

            assert page.locator(".notice").inner_text() == "Настройки сохранены."
            assert page.locator("input[name=frequency][value=daily]").is_checked()
            assert page.locator("input[name=digest_at]").input_value() == "08:30"
            assert page.locator("input[name=channels][value=sms]").is_checked()
            assert not page.locator("input[name=channels][value=email]").is_checked()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the form is {width}px wide on a 390px phone"
            page.screenshot(path=str(_shots(tmp_path) / "cabinet-prefs-saved.png"), full_page=True)
            assert errors == []  # no CSP violation, no script error
        with app.store.transaction() as s:
            contact = s.get(ContactRow, 1)
            assert contact is not None
            prefs = contact_prefs(s, app.config.section("notify"), app.config.timezone, contact)
        assert (prefs.frequency, prefs.channels, prefs.addresses["sms"]) == ("daily", ("sms",), "+79161234567")
        assert prefs.sources["frequency"] == prefs.sources["channels"] == "web"  # what `notify prefs show` names
    finally:
        app.close()
