"""What a customer does from the links in their mail, through FastAPI's TestClient: the
cabinet's preferences form (stored by notify, source ``web``), RFC 8058 unsubscribe, and
confirming or reopening a resolved request (history, SLA re-plan, the outbox's decision)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_fixtures import LINK_KEY, NOW, cabinet_token, make_app, web_config

from crm_bridge.app import App
from crm_bridge.cli import main
from crm_bridge.links import sign
from crm_bridge.store.tables import ContactRow, TicketEventRow, TicketRow
from notify.compose import unsubscribe_link
from notify.prefs_store import contact_prefs
from notify.tables import OptOutRow
from sla.tables import SlaQueueRow
from web.server import create_app

IVANOVA = 1  # the first contact web_fixtures.seed adds


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    bridge = make_app(tmp_path)
    yield bridge
    bridge.close()


@pytest.fixture
def client(app: App) -> TestClient:
    return TestClient(create_app(app), base_url="http://127.0.0.1", headers={"accept-language": "ru"})


def _csrf(client: TestClient, path: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert found is not None
    return found[1]


def _prefs(app: App):  # noqa: ANN202 - notify's Effective
    with app.store.transaction() as s:
        contact = s.get(ContactRow, IVANOVA)
        assert contact is not None
        return contact_prefs(s, app.config.section("notify"), app.config.timezone, contact)


def _form(csrf: str, **changes: object) -> dict[str, object]:
    form: dict[str, object] = {"csrf": csrf, "channels": ["email"], "events": ["acknowledgement", "resolved"],
                               "frequency": "immediately", "digest_at": "09:00", "quiet_from": "", "quiet_to": "",
                               "language": "ru", "email": "m.ivanova@romashka.example", "phone": "", "telegram": ""}
    form.update(changes)
    return form


def test_the_cabinet_form_saves_through_notify_and_shows_the_change_at_once(client: TestClient, app: App):
    path = f"/cabinet/{cabinet_token(IVANOVA)}"
    page = client.get(path)
    assert 'name="frequency" value="immediately" checked' in page.text  # notify's default
    saved = client.post(path, data=_form(_csrf(client, path), channels=["sms"], phone="+79161234567", frequency="daily",
                                         digest_at="08:30", quiet_from="22:00", quiet_to="08:00", language="en"),
                        follow_redirects=False)
    assert saved.status_code == 303
    assert saved.headers["location"] == f"{path}?saved=true#prefs"
    again = client.get(saved.headers["location"])
    assert "Настройки сохранены." in again.text
    assert 'name="frequency" value="daily" checked' in again.text
    assert 'value="08:30"' in again.text
    assert 'name="channels" value="sms" checked' in again.text
    assert 'name="channels" value="email" checked' not in again.text
    prefs = _prefs(app)
    assert prefs.channels == ("sms",)
    assert prefs.frequency == "daily"
    assert prefs.addresses["sms"] == "+79161234567"
    assert str(prefs.quiet) == "22:00-08:00"
    assert prefs.language == "en"
    assert prefs.sources["frequency"] == prefs.sources["channels"] == prefs.sources["phone"] == "web"


def test_notify_prefs_show_names_the_page_as_the_source(client: TestClient, app: App, tmp_path: Path):
    path = f"/cabinet/{cabinet_token(IVANOVA)}"
    client.post(path, data=_form(_csrf(client, path), frequency="hourly"))
    config = tmp_path / "crm-bridge.yaml"
    config.write_text(web_config(tmp_path), encoding="utf-8")  # the app's own store
    out = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the CLI configures logging for its process
    try:
        with redirect_stdout(out), pytest.raises(SystemExit) as ended:
            main(["-c", str(config), "notify", "prefs", "show", "m.ivanova@romashka.example", "--json"])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert ended.value.code in (0, None)
    shown = json.loads(out.getvalue())
    assert shown["frequency"] == "hourly"
    assert shown["sources"]["frequency"] == shown["sources"]["channels"] == "web"


def test_clearing_quiet_hours_on_the_page_returns_to_the_defaults(client: TestClient, app: App):
    path = f"/cabinet/{cabinet_token(IVANOVA)}"
    client.post(path, data=_form(_csrf(client, path), quiet_from="22:00", quiet_to="08:00"))
    assert _prefs(app).quiet is not None
    client.post(path, data=_form(_csrf(client, path)))
    prefs = _prefs(app)
    assert prefs.quiet is None
    assert prefs.sources["quiet"] == "default"
    assert "email" not in prefs.sources  # the address shown (the CRM's) was sent back unchanged: not pinned


def test_a_form_to_correct_is_shown_again_in_the_visitors_language_and_nothing_is_stored(client: TestClient, app: App):
    path = f"/cabinet/{cabinet_token(IVANOVA)}"
    csrf = _csrf(client, path)
    no_chat = client.post(path, data=_form(csrf, channels=["telegram"], frequency="hourly"))
    assert no_chat.status_code == 400
    assert "Для Telegram укажите ID чата" in no_chat.text
    half_quiet = client.post(path, data=_form(csrf, quiet_from="22:00"), headers={"accept-language": "en"})
    assert half_quiet.status_code == 400
    assert "Give both do-not-disturb times, or neither." in half_quiet.text
    bad_time = client.post(path, data=_form(csrf, digest_at="25:00"))
    assert bad_time.status_code == 400
    assert "Проверьте введённые значения." in bad_time.text
    assert _prefs(app).frequency == "immediately"
    assert _prefs(app).sources["frequency"] == "default"


def test_the_form_needs_its_csrf_token_and_a_valid_link(client: TestClient, app: App):
    path = f"/cabinet/{cabinet_token(IVANOVA)}"
    _csrf(client, path)
    assert client.post(path, data=_form("forged", frequency="daily")).status_code == 403
    forged = f"/cabinet/{sign('x' * 40, 'cabinet', f'contact:{IVANOVA}', expires=NOW + timedelta(days=1))}"
    assert client.post(forged, data=_form(_csrf(client, path), frequency="daily")).status_code == 403
    assert _prefs(app).frequency == "immediately"


def _unsubscribe_path(app: App, address: str = "m.ivanova@romashka.example") -> str:
    url = unsubscribe_link(app.config.section("notify"), address, links=app.config.section("links"), issued=NOW)
    assert url is not None
    assert url.startswith("http://127.0.0.1:8080/unsubscribe/")  # links.base_url: the web addon's own page
    return url.removeprefix("http://127.0.0.1:8080")


def _opt_outs(app: App) -> list[tuple[str, str, str]]:
    with app.store.transaction() as s:
        return [(r.channel, r.address, r.via) for r in s.scalars(select(OptOutRow))]


def test_one_click_unsubscribe_needs_no_page_and_a_get_changes_nothing(app: App):
    path = _unsubscribe_path(app)
    mail_client = TestClient(create_app(app), base_url="http://127.0.0.1")  # no cookie, no CSRF token: RFC 8058
    asked = mail_client.get(path, headers={"accept-language": "en"})
    assert asked.status_code == 200
    assert "Stop sending e-mails to m.ivanova@romashka.example?" in asked.text
    assert _opt_outs(app) == []
    done = mail_client.post(path, data={"List-Unsubscribe": "One-Click"}, headers={"accept-language": "en"})
    assert done.status_code == 200
    assert "no more e-mails to m.ivanova@romashka.example" in done.text
    assert _opt_outs(app) == [("email", "m.ivanova@romashka.example", "link")]
    twice = mail_client.post(path, data={"List-Unsubscribe": "One-Click"}, headers={"accept-language": "en"})
    assert "already unsubscribed" in twice.text
    assert len(_opt_outs(app)) == 1
    assert _prefs(app).opt_outs["email"].via == "link"


def test_an_unsubscribe_post_without_one_click_or_with_a_forged_token_changes_nothing(app: App):
    path = _unsubscribe_path(app)
    client = TestClient(create_app(app), base_url="http://127.0.0.1")
    assert client.post(path, data={"List-Unsubscribe": "Yes"}).status_code == 400
    cabinet = sign(LINK_KEY, "cabinet", "contact:1", expires=NOW + timedelta(days=1))
    assert client.post(f"/unsubscribe/{cabinet}", data={"List-Unsubscribe": "One-Click"}).status_code == 403
    forged = sign("y" * 40, "unsubscribe", "email:m.ivanova@romashka.example", expires=NOW + timedelta(days=1))
    refused = client.post(f"/unsubscribe/{forged}", data={"List-Unsubscribe": "One-Click"})
    assert refused.status_code == 403
    assert "повреждена" in refused.text  # web's refusal page
    assert _opt_outs(app) == []


def _resolve(app: App, number: str = "CRM-0000042") -> int:
    with app.store.transaction() as s:
        ticket = s.scalars(select(TicketRow).where(TicketRow.number == number)).one()
        ticket.status = "resolved"
        return int(ticket.id)


def _action(action: str, ticket_id: int, days: int = 30) -> str:
    return f"/{action}/{sign(LINK_KEY, action, f'request:{ticket_id}', expires=NOW + timedelta(days=days))}"


def _history(app: App, ticket_id: int) -> list[tuple[str, str, dict[str, object]]]:
    with app.store.transaction() as s:
        return [(e.kind, e.origin, e.data) for e in s.scalars(
            select(TicketEventRow).where(TicketEventRow.ticket_id == ticket_id).order_by(TicketEventRow.id))]


def test_confirming_closure_closes_the_request_once_and_the_sla_sees_it(client: TestClient, app: App):
    ticket_id = _resolve(app)
    path = _action("close", ticket_id)
    asked = client.get(path)
    assert asked.status_code == 200
    assert "обращение CRM-0000042 можно закрыть?" in asked.text
    with app.store.transaction() as s:
        assert s.get(TicketRow, ticket_id).status == "resolved"  # type: ignore[union-attr]
    done = client.post(path, data={"csrf": _csrf(client, path)})
    assert done.status_code == 200
    assert "Обращение CRM-0000042 закрыто." in done.text
    with app.store.transaction() as s:
        assert s.get(TicketRow, ticket_id).status == "closed"  # type: ignore[union-attr]
        assert s.get(SlaQueueRow, ticket_id) is not None  # queued for the SLA plan, as after an import
    assert _history(app, ticket_id) == [("status_changed", "web", {"from": "resolved", "to": "closed"})]
    again = client.post(path, data={"csrf": _csrf(client, path)})
    assert "уже закрыто" in again.text
    assert len(_history(app, ticket_id)) == 1


def test_reopening_puts_the_request_back_in_progress_and_a_closure_link_then_refuses(client: TestClient, app: App):
    ticket_id = _resolve(app)
    path = _action("reopen", ticket_id)
    done = client.post(path, data={"csrf": _csrf(client, path)}, headers={"accept-language": "en"})
    assert "Request CRM-0000042 is open again." in done.text
    with app.store.transaction() as s:
        assert s.get(TicketRow, ticket_id).status == "in_progress"  # type: ignore[union-attr]
    assert _history(app, ticket_id) == [("status_changed", "web", {"from": "resolved", "to": "in_progress"})]
    close = _action("close", ticket_id)
    refused = client.post(close, data={"csrf": _csrf(client, close)})
    assert refused.status_code == 409
    assert "не в статусе «Решено»" in refused.text
    with app.store.transaction() as s:
        assert s.get(TicketRow, ticket_id).status == "in_progress"  # type: ignore[union-attr]


def test_a_close_link_opens_neither_reopen_nor_another_request_and_needs_csrf(client: TestClient, app: App):
    ticket_id = _resolve(app)
    close = sign(LINK_KEY, "close", f"request:{ticket_id}", expires=NOW + timedelta(days=30))
    assert client.get(f"/reopen/{close}").status_code == 403
    assert client.get(f"/cabinet/{close}").status_code == 403
    expired = _action("close", ticket_id, days=-1)
    assert client.get(expired).status_code == 410
    path = f"/close/{close}"
    _csrf(client, path)
    assert client.post(path, data={"csrf": "forged"}).status_code == 403
    with app.store.transaction() as s:
        assert s.get(TicketRow, ticket_id).status == "resolved"  # type: ignore[union-attr]
