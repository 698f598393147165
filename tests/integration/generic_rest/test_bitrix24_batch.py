"""Bitrix24's ``batch`` through the connector's ``batch:`` section, against the local portal
(fixtures/bitrix24.py implements it as documented: ``cmd[name]``, 50 at most, ``halt``,
``result.result`` / ``result.result_error``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from adapters.generic_rest.batch import command, php_query
from adapters.generic_rest.fixtures.bitrix24 import Bitrix24
from crm_bridge.app import App, FrozenClock
from crm_bridge.errors import RemoteRejected
from mapping.load import load_mapping

SHIPPED = Path(__file__).parents[3] / "adapters" / "generic_rest" / "connectors" / "bitrix24"


def test_a_body_becomes_the_bracketed_query_a_command_carries() -> None:
    body = {"id": 5, "fields": {"TITLE": "Заявка & co", "UF_CRM_SLA_DUE": None, "OPENED": True}, "select": ["ID", "UF_*"]}
    assert php_query(body) == ("id=5&fields[TITLE]=%D0%97%D0%B0%D1%8F%D0%B2%D0%BA%D0%B0%20%26%20co&fields[UF_CRM_SLA_DUE]="
                               "&fields[OPENED]=Y&select[0]=ID&select[1]=UF_%2A")
    assert command("crm.deal.get?id=5") == "crm.deal.get?id=5"
    assert command("crm.deal.update", {"id": 5}) == "crm.deal.update?id=5"
    assert command("crm.deal.list?start=0", {"order": {"ID": "ASC"}}) == "crm.deal.list?start=0&order[ID]=ASC"


@pytest.fixture
def portal(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bitrix24]:
    with Bitrix24(deals=120, companies=3, users=2) as server:
        monkeypatch.setenv("BITRIX24_WEBHOOK", server.webhook)
        monkeypatch.setenv("BITRIX24_TOKEN", server.token)
        yield server


@pytest.fixture
def app(portal: Bitrix24, tmp_path: Path) -> Iterator[App]:
    app = App.from_text(f"""
store: {{url: "sqlite:///{tmp_path / 's.db'}"}}
backends:
  b24:
    kind: rest
    connector: {SHIPPED / 'connector.yaml'}
    mappings: {SHIPPED / 'mappings'}
    models: [agent, customer, ticket]
""", clock=FrozenClock(datetime.now(ZoneInfo("Europe/Moscow"))))
    try:
        yield app
    finally:
        app.close()


def test_the_portal_answers_batch_as_documented(portal: Bitrix24) -> None:
    url = f"{portal.webhook}/{portal.token}/batch"
    answer = requests.post(url, json={"halt": 0, "cmd": {"a": "crm.deal.get?id=1", "b": "crm.deal.get?id=999",
                                                         "c": "crm.deal.list?start=50"}}, timeout=10).json()["result"]
    assert answer["result"]["a"]["ID"] == "1"
    assert answer["result_error"] == {"b": {"error": "", "error_description": "Not found"}}
    assert answer["result_total"]["c"] == 120
    assert answer["result_next"]["c"] == 100
    halted = requests.post(url, json={"halt": 1, "cmd": {"a": "crm.deal.get?id=999", "b": "crm.deal.get?id=1"}}, timeout=10).json()["result"]
    assert halted["result"] == []
    assert list(halted["result_error"]) == ["a"]
    too_many = requests.post(url, json={"cmd": {f"c{i}": "crm.deal.get?id=1" for i in range(51)}}, timeout=10)
    assert too_many.status_code == 400
    assert too_many.json()["error_description"] == "Max batch length exceeded"


def test_records_read_by_key_go_fifty_to_a_call_and_a_gone_one_is_left_out(portal: Bitrix24, app: App) -> None:
    backend: Any = app.backend("b24")
    spec = load_mapping(SHIPPED / "mappings" / "ticket.yaml")
    del portal.deals["7"]
    ids = [str(i) for i in range(1, 121)]
    records = backend.fetch(spec, ids)
    assert [r.id for r in records] == [i for i in ids if i != "7"]
    assert records[0].values["TITLE"] == "Заявка 1"
    assert portal.calls["batch"] == 3  # 50 + 50 + 20 reads, three requests
    assert portal.calls["crm.deal.get"] == 120


def test_an_update_and_its_read_back_are_one_call(portal: Bitrix24, app: App) -> None:
    backend: Any = app.backend("b24")
    spec = load_mapping(SHIPPED / "mappings" / "ticket.yaml")
    version = backend.update(spec, "5", {"UF_CRM_SLA_DUE": "2026-12-08T12:00:00+03:00"})
    assert portal.deals["5"]["UF_CRM_SLA_DUE"] == "2026-12-08T12:00:00+03:00"
    assert version == portal.deals["5"]["DATE_MODIFY"]
    assert portal.calls["batch"] == 1
    assert portal.calls["crm.deal.update"] == 1
    assert portal.calls["crm.deal.get"] == 1
    with pytest.raises(RemoteRejected, match="Not found"):
        backend.update(spec, "999", {"UF_CRM_SLA_DUE": "2026-12-08T12:00:00+03:00"})
    assert portal.calls["crm.deal.get"] == 1  # halted: the read-back of a failed update is not run
