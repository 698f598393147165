"""The form and the API through a real uvicorn on loopback, into the 1C emulator through
intake's own pipeline (intake.process, sync.dispatch, intake.confirm)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import func, select

from adapters.onec.cli import DEMO_LOGIN, DEMO_PASSWORD, demo_config
from adapters.onec.emulator import Emulator
from crm_bridge.app import App, FrozenClock
from crm_bridge.store.tables import ContactRow, TicketRow
from intake.tables import InboxRow
from tests.integration.intake.conftest import DOC, EXTRA, INTAKE
from web.serve import WebServer

ERP, PORTAL = "e" * 32, "p" * 32
CHANNELS = f"""  flood: {{messages: 2, within: 1h}}
  web: {{max_bytes: 100000, rate: {{requests: 3, within: 10m}}}}
  api:
    tokens:
      erp: "{ERP}"
      portal: {{token: "{PORTAL}", source: external}}
links: {{secret: "{"L" * 40}", base_url: "http://127.0.0.1:8080"}}
"""


class Site:
    def __init__(self, app: App, emulator: Emulator, url: str) -> None:
        self.app, self.emulator, self.url = app, emulator, url

    def register(self) -> None:
        for job in ("intake.process", "sync.dispatch", "intake.confirm"):
            self.app.run_job(job)

    def ours(self) -> list[dict[str, Any]]:
        return [
            d
            for d in self.emulator.records(DOC)
            if str(d.get("ИдентификаторВнешний") or "").startswith("crm-bridge:")
        ]

    def api(self, method: str, path: str, token: str | None = ERP, **kw: Any) -> requests.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, self.url + path, headers=headers, timeout=10, **kw)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    now = datetime.now(UTC).replace(tzinfo=None) + timedelta(hours=3)
    with Emulator(requests=5, seed=8, now=now, users={DEMO_LOGIN: DEMO_PASSWORD}) as emu:
        text = (
            demo_config(emu.base_url, tmp_path / "s.db")
            + EXTRA
            + INTAKE.replace("intake:\n", "intake:\n" + CHANNELS.split("links:")[0])
            + "links:"
            + CHANNELS.split("links:")[1]
        )
        app = App.from_text(
            text, file=str(tmp_path / "crm-bridge.yaml"), clock=FrozenClock(datetime.now(UTC))
        )
        app.upgrade_db()
        app.run_job("sync.pull")
        with WebServer(app, "127.0.0.1", 0) as web:
            yield Site(app, emu, web.url)
        app.close()


BODY = {
    "name": "Склад",
    "email": "sklad@partner.example",
    "phone": "+7 916 555-00-11",
    "subject": "Не работает сканер",
    "description": "Сканер на складе 2 не работает с утра.",
    "attachments": [
        {
            "filename": "log.txt",
            "content_type": "text/plain",
            "content_base64": base64.b64encode(b"error 42").decode(),
        }
    ],
}


def _schema_check(site: Site, body: dict[str, Any], path: str, method: str, status: str) -> None:
    import jsonschema

    spec = requests.get(site.url + "/openapi.json", timeout=10).json()
    schema = spec["paths"][path][method]["responses"][status]["content"]["application/json"][
        "schema"
    ]
    jsonschema.validate(
        body, {**schema, "components": spec["components"]}, cls=jsonschema.Draft202012Validator
    )


def test_an_api_call_becomes_an_internal_request_in_1c_once_however_often_it_is_retried(
    site: Site,
) -> None:
    first = site.api(
        "POST", "/api/intake/requests", json=BODY, headers={"Idempotency-Key": "order-1733"}
    )
    assert first.status_code == 201, first.text
    answer = first.json()
    assert answer["state"] == "stored"
    assert answer["source"] == "internal"
    assert answer["crm_number"] is None
    assert re.fullmatch(r"IN-\d{7}", answer["reference"])
    _schema_check(site, answer, "/api/intake/requests", "post", "201")
    again = site.api(
        "POST", "/api/intake/requests", json=BODY, headers={"Idempotency-Key": "order-1733"}
    )
    assert (again.status_code, again.json()["reference"]) == (201, answer["reference"])
    other = site.api(
        "POST",
        "/api/intake/requests",
        json={**BODY, "subject": "другое"},
        headers={"Idempotency-Key": "order-1733"},
    )
    assert other.status_code == 422
    assert "Idempotency-Key" in other.json()["detail"]
    with site.app.store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(InboxRow)) == 1

    site.register()
    (created,) = site.ours()
    assert created["Тема"] == "Не работает сканер" if "Тема" in created else True
    shown = site.api("GET", f"/api/intake/requests/{answer['reference']}")
    assert shown.status_code == 200
    assert shown.json()["state"] == "registered"
    assert shown.json()["crm_number"]
    _schema_check(site, shown.json(), "/api/intake/requests/{reference}", "get", "200")
    with site.app.store.transaction() as s:
        ticket = s.scalars(
            select(TicketRow).where(TicketRow.number == shown.json()["crm_number"])
        ).one()
        assert (ticket.channel, ticket.source) == ("api", "internal")
    again = site.api(
        "POST", "/api/intake/requests", json=BODY, headers={"Idempotency-Key": "order-1733"}
    )
    assert again.json()["crm_number"] == shown.json()["crm_number"]
    site.register()
    assert len(site.ours()) == 1


def test_the_api_refuses_without_a_token_with_a_wrong_one_for_another_caller_and_a_misspelt_field(
    site: Site,
) -> None:
    assert site.api("POST", "/api/intake/requests", token=None, json=BODY).status_code == 401
    wrong = site.api("POST", "/api/intake/requests", token="w" * 32, json=BODY)
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == "Bearer"
    assert "intake.api.tokens" in wrong.json()["detail"]
    assert (
        site.api("POST", "/api/intake/requests", json={**BODY, "subjcet": "x"}).status_code == 422
    )
    bad = site.api(
        "POST",
        "/api/intake/requests",
        json={**BODY, "attachments": [{"filename": "a", "content_base64": "%%"}]},
    )
    assert bad.status_code == 422
    external = site.api("POST", "/api/intake/requests", token=PORTAL, json=BODY)
    assert external.json()["source"] == "external"
    assert (
        site.api("GET", f"/api/intake/requests/{external.json()['reference']}").status_code == 403
    )
    assert site.api("GET", "/api/intake/requests/IN-9999999", token=PORTAL).status_code == 404
    paths = requests.get(site.url + "/openapi.json", timeout=10).json()["paths"]
    assert {"/api/intake/requests", "/api/intake/requests/{reference}"} <= set(paths)


def _form(session: requests.Session, url: str) -> str:
    page = session.get(url + "/request", timeout=10)
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found[1]


FIELDS = {
    "name": "Иванова Мария",
    "email": "m.ivanova@romashka.example",
    "phone": "",
    "subject": "Оплата не проходит",
    "description": "Не проходит оплата картой.",
}


def test_a_form_submission_shows_its_reference_then_the_crm_number_once_1c_registered_it(
    site: Site,
) -> None:
    web = requests.Session()
    csrf = _form(web, site.url)
    sent = web.post(
        site.url + "/request",
        data={**FIELDS, "csrf": csrf, "website": ""},
        files={"files": ("скрин.png", b"\x89PNG" + bytes(50), "image/png")},
        timeout=10,
        allow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    done = sent.headers["Location"]
    assert (
        "Номер регистрации: <b>IN-"
        in web.get(site.url + done, headers={"Accept-Language": "ru"}).text
    )
    with site.app.store.transaction() as s:
        row = s.scalars(select(InboxRow)).one()
        assert (row.channel, row.via, row.decision["submitted"]["source"]) == (
            "web_form",
            "web",
            "external",
        )
    site.register()
    (created,) = site.ours()
    page = web.get(site.url + done, headers={"Accept-Language": "en"}).text
    with site.app.store.transaction() as s:
        ticket = s.scalars(select(TicketRow)).all()[-1]
        assert ticket.channel == "web_form"
        assert f"Request number: <b>{ticket.number}</b>" in page
    assert created


def test_the_form_refuses_a_missing_csrf_ignores_a_filled_honeypot_and_rate_limits_an_address(
    site: Site,
) -> None:
    web = requests.Session()
    csrf = _form(web, site.url)
    assert web.post(site.url + "/request", data=FIELDS, timeout=10).status_code == 403
    bot = web.post(
        site.url + "/request",
        data={**FIELDS, "csrf": csrf, "website": "http://spam"},
        timeout=10,
        allow_redirects=False,
    )
    assert bot.status_code == 303
    with site.app.store.transaction() as s:
        assert s.scalar(select(func.count()).select_from(InboxRow)) == 0
    wrong = web.post(
        site.url + "/request", data={**FIELDS, "email": "nope", "csrf": csrf}, timeout=10
    )
    assert wrong.status_code == 422
    assert "Укажите адрес" in wrong.text or "Give an e-mail" in wrong.text
    answers = [
        web.post(
            site.url + "/request", data={**FIELDS, "csrf": csrf}, timeout=10, allow_redirects=False
        ).status_code
        for _ in range(3)
    ]
    assert answers == [
        303,
        303,
        429,
    ]  # 3 per 10 minutes; the refused one with a wrong address counted too
    big = web.post(
        site.url + "/request",
        data={**FIELDS, "csrf": csrf},
        timeout=10,
        files={"files": ("big.bin", bytes(300_000), "application/octet-stream")},
    )
    assert big.status_code == 413


def test_an_api_caller_is_not_a_flood_and_its_token_never_reaches_the_logs(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    # intake.flood is 2 an hour here: mail or the form from one address would be cut at 2
    for i in range(4):
        assert (
            site.api(
                "POST", "/api/intake/requests", json={**BODY, "subject": f"Сканер {i}"}
            ).status_code
            == 201
        )
    site.api("POST", "/api/intake/requests", token="w" * 32, json=BODY)
    site.app.run_job("intake.process")
    with site.app.store.transaction() as s:
        assert [r.state for r in s.scalars(select(InboxRow))] == ["registered"] * 4
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "intake.api.stored" in logged
    assert ERP not in logged
    assert "w" * 32 not in logged


def test_a_long_cyrillic_name_and_subject_sent_to_the_api_reach_1c_without_a_space_lost_or_added(
    site: Site,
) -> None:
    name = "Константинопольский Константин Константинович"
    subject = "«Ромашка» Счёт-фактура ООО Счёт-фактура Ли"  # Python 3.11 folds it at a word's end
    body = {
        **BODY,
        "name": name,
        "email": "k@client.example",
        "subject": subject,
        "attachments": [],
    }
    assert site.api("POST", "/api/intake/requests", json=body).status_code == 201
    site.register()
    (created,) = site.ours()
    assert created["Тема"] == subject
    with site.app.store.transaction() as s:
        assert (
            s.scalars(select(ContactRow.name).where(ContactRow.email == "k@client.example")).one()
            == name
        )
