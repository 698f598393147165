"""The links of a delivered mail, end to end: the 1C emulator, a real SMTP sink and the web
pages under a real uvicorn. A request resolved in 1C gets the resolved mail; its cabinet
link opens the cabinet, its confirm-closure and reopen links write the status back to 1C
(the SLA starting a new resolution cycle on the reopen), and the mail's List-Unsubscribe
one-click POST, sent as a mail client does (no cookie), unsubscribes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.runner import run_cycle
from crm_bridge.store.tables import TicketRow
from notify.sink import SmtpSink
from notify.tables import OptOutRow
from sla.tables import SlaEventRow
from web.serve import WebServer

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=MSK)  # a Monday
DOC = "Document_Интерес"
BASE = "http://127.0.0.1:8080"  # links.base_url; the test's server listens on another port


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=21, now=NOW.replace(tzinfo=None), users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        yield emu


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def _state_key(emulator: Emulator, name: str) -> str:
    return str(next(r["Ref_Key"] for r in emulator.records("Catalog_СостоянияИнтересов") if r["Description"] == name))


def _open_request_with_mail(emulator: Emulator) -> tuple[dict[str, object], str]:
    """A request in work whose partner has an e-mail address, and that address (the mail
    goes to the request's contact's when it has one)."""
    in_work = _state_key(emulator, "В работе")
    for doc in emulator.records(DOC):
        if doc["DeletionMark"] or doc["Состояние_Key"] != in_work:
            continue
        partner = next(r for r in emulator.records("Catalog_Партнеры") if r["Ref_Key"] == doc["Партнер_Key"])
        mails = [row["АдресЭП"] for row in partner["КонтактнаяИнформация"] if row["Тип"] == "АдресЭлектроннойПочты"]
        if mails:
            return doc, mails[0].lower()
    raise AssertionError("the emulator's base has no request in work with a partner's e-mail")


def _doc(emulator: Emulator, ref: object) -> dict[str, object]:
    return next(d for d in emulator.records(DOC) if d["Ref_Key"] == ref)


def _local(url: str, web: WebServer) -> str:
    assert url.startswith(BASE), url  # the mail points at links.base_url
    return web.url + url.removeprefix(BASE)


def _confirm(session: requests.Session, url: str) -> requests.Response:
    """What a customer does: open the link (a page that only asks), press its button."""
    asked = session.get(url, timeout=10)
    assert asked.status_code == 200
    token = re.search(r'name="csrf" value="([^"]+)"', asked.text)
    assert token is not None
    return session.post(url, data={"csrf": token[1]}, timeout=10)


def test_the_resolved_mails_links_close_reopen_and_unsubscribe_through_to_1c(
        emulator: Emulator, sink: SmtpSink, tmp_path: Path) -> None:
    config = demo_config(emulator.base_url, tmp_path / "s.db", smtp=(sink.host, sink.port)) + \
        f'links: {{secret: "{"k" * 40}", base_url: "{BASE}"}}\n'
    bridge = App.from_text(config, clock=FrozenClock(NOW))
    try:
        bridge.upgrade_db()
        run_cycle(bridge)
        doc, address = _open_request_with_mail(emulator)
        bridge.backend("demo-1c").client.patch(DOC, str(doc["Ref_Key"]), {"Состояние_Key": _state_key(emulator, "Решено")})
        before = len(sink.messages)
        run_cycle(bridge)
        mails: list[EmailMessage] = [m for m in sink.messages[before:] if m["Subject"] == f"Обращение {doc['Number']} решено"]
        assert len(mails) == 1, [m["Subject"] for m in sink.messages[before:]]
        body = mails[0].get_body(("plain",))
        assert body is not None
        text = body.get_content()
        close = re.search(r"Подтвердите закрытие: (\S+)", text)
        reopen = re.search(r"Откройте обращение снова: (\S+)", text)
        cabinet = re.search(r"настройки уведомлений: (\S+)", text)
        assert close is not None, text
        assert reopen is not None, text
        assert cabinet is not None, text
        one_click = mails[0]["List-Unsubscribe"].strip("<>")
        assert mails[0]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        address = mails[0]["To"].addresses[0].addr_spec  # the contact's, else the partner's
        with bridge.store.transaction() as s:
            ticket_id = s.scalar(select(TicketRow.id).where(TicketRow.number == doc["Number"]))

        with WebServer(bridge, "127.0.0.1", 0) as web:
            customer = requests.Session()
            page = customer.get(_local(cabinet[1], web), timeout=10)
            assert page.status_code == 200
            assert 'name="frequency"' in page.text  # the preferences form
            assert str(doc["Number"]) not in page.text  # resolved: the cabinet lists open requests

            closed = _confirm(customer, _local(close[1], web))
            assert closed.status_code == 200
            assert f"Обращение {doc['Number']} закрыто." in closed.text
            run_cycle(bridge)  # the outbox writes the status back
            assert _doc(emulator, doc["Ref_Key"])["Состояние_Key"] == _state_key(emulator, "Закрыто")

            reopened = _confirm(customer, _local(reopen[1], web))
            assert f"Обращение {doc['Number']} снова в работе." in reopened.text
            run_cycle(bridge)
            assert _doc(emulator, doc["Ref_Key"])["Состояние_Key"] == _state_key(emulator, "В работе")
            assert str(doc["Number"]) in customer.get(_local(cabinet[1], web), timeout=10).text  # open again
            with bridge.store.transaction() as s:
                assert s.get(TicketRow, ticket_id).status == "in_progress"  # type: ignore[union-attr]
                reopens = s.scalars(select(SlaEventRow).where(SlaEventRow.ticket_id == ticket_id,
                                                              SlaEventRow.kind == "reopen")).all()
                assert [e.metric for e in reopens] == ["resolution"]  # a new resolution cycle

            mail_client = requests.post(_local(one_click, web), data={"List-Unsubscribe": "One-Click"}, timeout=10)
            assert mail_client.status_code == 200
        with bridge.store.transaction() as s:
            assert [(r.channel, r.address, r.via) for r in s.scalars(select(OptOutRow))] == [("email", address, "link")]
    finally:
        bridge.close()
