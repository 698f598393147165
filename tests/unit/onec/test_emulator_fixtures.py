"""The emulator answers in the shapes of the shared 1C fixtures (tests/fixtures/onec)."""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from adapters.onec.emulator import Emulator

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "onec"
NOW = datetime(2024, 3, 20, 12, 0, 0)
ROOT = "/crm/odata/standard.odata/"
AUTH = "Basic " + base64.b64encode("Администратор:demo".encode()).decode()
DEMO_FIELDS = {"ВидОбращения", "КаналОбращения", "ИсточникОбращения", "СрокПервогоОтвета",
               "ДатаПервогоОтвета", "СостояниеSLA", "НарушениеSLA", "ИдентификаторВнешний"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text("utf-8"))


@pytest.fixture(scope="module")
def emu() -> Emulator:
    return Emulator(requests=100, seed=12, now=NOW)


def get(emu: Emulator, path: str, query: str = "$format=json") -> tuple[int, Any]:
    response = emu.gateway("GET", ROOT + path, query, {"authorization": AUTH}, b"", "http://x")
    return response.status, json.loads(response.body)


def plain_keys(item: dict[str, Any]) -> set[str]:
    return {key for key in item if "@" not in key}


def test_counterparty_has_the_fixture_properties(emu: Emulator) -> None:
    expected = fixture("catalog_kontragenty_list.json")
    _, page = get(emu, "Catalog_Контрагенты", "$format=json&$top=3&$inlinecount=allpages")
    assert set(page) == set(expected)
    assert isinstance(page["odata.count"], str)
    ours, theirs = page["value"][0], expected["value"][0]
    assert plain_keys(ours) == plain_keys(theirs)
    assert set(ours["КонтактнаяИнформация"][0]) == set(theirs["КонтактнаяИнформация"][0])
    assert {k for k in ours if "@" in k} == {k for k in theirs if "@" in k}


def test_request_has_the_fixture_properties_plus_the_demo_fields(emu: Emulator) -> None:
    expected = fixture("document_interes_single.json")
    doc = next(d for d in emu.records("Document_Интерес") if d["Соисполнители"])
    _, single = get(emu, f"Document_Интерес(guid'{doc['Ref_Key']}')")
    assert plain_keys(single) - DEMO_FIELDS == plain_keys(expected)
    assert set(single["Соисполнители"][0]) == set(expected["Соисполнители"][0])
    assert single["odata.metadata"].endswith("/@Element")


def test_users_nometadata_select_matches_the_fixture(emu: Emulator) -> None:
    expected = fixture("users_list_nometadata.json")
    fields = list(expected["value"][0])
    _, page = get(emu, "Catalog_Пользователи", "$format=application/json;odata=nometadata"
                  "&$select=" + quote(",".join(fields), safe=""))
    assert set(page) == {"value"}
    assert all(set(user) == set(fields) for user in page["value"])


def test_not_found_body_equals_the_fixture(emu: Emulator) -> None:
    status, body = get(emu, "Document_Интерес(guid'00000000-0000-0000-0000-000000000001')")
    assert (status, body) == (404, fixture("error_404_not_found.json"))


def test_filter_error_body_matches_the_fixture(emu: Emulator) -> None:
    expected = fixture("error_400_filter.json")["odata.error"]
    status, body = get(emu, "Document_Интерес", "$format=json&$filter=" + quote("Тема eq", safe=""))
    error = body["odata.error"]
    assert status == 400
    assert error["code"] == expected["code"]
    assert error["message"]["value"].startswith(expected["message"]["value"])


def test_soap_reply_has_the_fixture_layout() -> None:
    ns = {"soap": "http://schemas.xmlsoap.org/soap/envelope/",
          "m": "http://example.org/crm-exchange", "ns2": "http://example.org/crm-exchange/types"}
    expected = ET.parse(FIXTURES / "soap_GetChangedRequests_response.xml").getroot()
    emu = Emulator(requests=5, seed=1, now=NOW)
    body = (b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            b'<GetChangedRequests xmlns="http://example.org/crm-exchange"><MaxCount>1</MaxCount>'
            b"</GetChangedRequests></soap:Body></soap:Envelope>")
    response = emu.gateway("POST", "/crm/ws/CrmExchange.1cws", "",
                           {"authorization": AUTH, "content-type": "text/xml"}, body, "http://x")
    ours = ET.fromstring(response.body)
    path = "soap:Body/m:GetChangedRequestsResponse/m:return/ns2:Обращение"
    theirs_item, ours_item = expected.find(path, ns), ours.find(path, ns)
    assert theirs_item is not None
    assert ours_item is not None
    assert [child.tag for child in ours_item] == [child.tag for child in theirs_item]
