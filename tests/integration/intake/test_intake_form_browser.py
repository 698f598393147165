"""The request form in headless Chromium (web's Playwright fixture, /usr/bin/chromium): a
customer fills it on a phone-sized page, with no script, attaches a file and sees the
registration reference; the stored request is then registered in the 1C emulator."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select

from crm_bridge.store.tables import AttachmentRow
from intake.tables import InboxRow

sys.path.insert(0, str(Path(__file__).parents[1] / "web"))  # web's browser fixture and its helpers
from test_web_browser import _shots, browser  # noqa: E402, F401 - the Chromium fixture, shared

from tests.integration.intake.test_intake_web import Site, site  # noqa: E402, F401 - the uvicorn + 1C fixture


def test_a_customer_sends_the_form_from_a_phone_and_sees_the_reference(browser: Any, site: Site,  # noqa: F811
                                                                       tmp_path: Path) -> None:
    page = browser.new_page(locale="en-US", viewport={"width": 390, "height": 844}, java_script_enabled=False)
    page.goto(site.url + "/request")
    assert page.locator("h1").inner_text() == "New request"
    assert not page.locator("input[name=website]").is_visible()  # the honeypot
    page.fill("input[name=name]", "Maria Ivanova")
    page.fill("input[name=email]", "m.ivanova@romashka.example")
    page.fill("input[name=subject]", "Card payment fails")
    page.fill("textarea[name=description]", "The payment by card fails since this morning.")
    shot = tmp_path / "shot.txt"
    shot.write_text("order 1733")
    page.set_input_files("input[name=files]", str(shot))
    page.screenshot(path=str(_shots(tmp_path) / "request-form.png"), full_page=True)
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Request received"
    reference = page.locator(".reference b").inner_text()
    assert reference.startswith("IN-")
    assert "will come by e-mail" in page.locator(".by-mail").inner_text()
    page.screenshot(path=str(_shots(tmp_path) / "request-done.png"))
    site.register()
    page.reload()
    assert page.locator(".number b").inner_text()
    with site.app.store.transaction() as s:
        row = s.scalars(select(InboxRow)).one()
        assert row.state == "registered"
        [listed] = row.decision["attachments"]
        assert {k: listed[k] for k in ("filename", "size", "kept")} == {"filename": "shot.txt", "size": 10, "kept": True}
        kept = s.get(AttachmentRow, listed["attachment_id"])  # the request's file, for a CRM that takes files
        assert kept is not None
        assert (kept.ticket_id, base64.b64decode(kept.content)) == (row.ticket_id, b"order 1733")
    assert len(site.ours()) == 1
