"""The CrmExchange SOAP service of the emulator, through zeep and as raw XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import requests

from adapters.onec.emulator import Emulator

zeep = pytest.importorskip("zeep")
from zeep.transports import Transport  # noqa: E402

NOW = datetime(2024, 3, 20, 12, 0, 0)
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
AUTH = ("Администратор".encode(), b"demo")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(requests=30, seed=6, now=NOW) as emulator:
        yield emulator


@pytest.fixture
def client(emu: Emulator, onec_session: requests.Session) -> Any:
    return zeep.Client(f"http://127.0.0.1:{emu.port}/crm/ws/CrmExchange.1cws?wsdl",
                       transport=Transport(session=onec_session))


def ws_url(emu: Emulator, name: str = "CrmExchange.1cws") -> str:
    return f"http://127.0.0.1:{emu.port}/crm/ws/{name}"


def test_wsdl_needs_auth_and_carries_this_servers_address(emu: Emulator) -> None:
    assert requests.get(ws_url(emu) + "?wsdl", timeout=10).status_code == 401
    wsdl = requests.get(ws_url(emu, "CRMExchange.1cws") + "?wsdl", auth=AUTH, timeout=10)
    assert wsdl.status_code == 200
    assert f'location="{ws_url(emu)}"' in wsdl.text


def test_changed_requests_page_with_a_cursor(client: Any) -> None:
    first = client.service.GetChangedRequests(Cursor=None, ChangedSince=None, MaxCount=10)
    assert len(first["Обращение"]) == 10
    assert first["ЕстьЕще"] is True
    rest = client.service.GetChangedRequests(Cursor=first["Курсор"], ChangedSince=None,
                                             MaxCount=100)
    assert rest["ЕстьЕще"] is False
    refs = [r["Ссылка"] for r in first["Обращение"]] + [r["Ссылка"] for r in rest["Обращение"]]
    assert len(refs) == len(set(refs)) == 30
    stamps = [r["ДатаИзменения"] for r in first["Обращение"] + rest["Обращение"]]
    assert stamps == sorted(stamps)
    assert stamps[0].tzinfo is None  # 1C sends dates without a zone


def test_changed_since_filters_by_modification_time(emu: Emulator, client: Any) -> None:
    ref = emu.records("Document_Интерес")[0]["Ref_Key"]
    emu.update("Document_Интерес", ref, {"Комментарий": "правка"})
    changed = client.service.GetChangedRequests(Cursor=None, ChangedSince=NOW, MaxCount=100)
    assert [r["Ссылка"] for r in changed["Обращение"]] == [ref]


def test_get_request_shapes_names_states_and_nils(emu: Emulator, client: Any) -> None:
    doc = emu.records("Document_Интерес")[0]
    request = client.service.GetRequest(RequestRef=doc["Ref_Key"])
    assert request["Номер"] == doc["Number"]
    assert request["ВерсияДанных"] == doc["DataVersion"]
    assert request["СрокИсполнения"] is None  # empty date → xsi:nil
    partner = emu.get("Catalog_Партнеры", doc["Партнер_Key"])
    assert partner is not None
    assert request["ПартнерНаименование"] == partner["Description"]
    assert request["Состояние"] == request["СостояниеНаименование"].upper().replace(" ", "_")


def test_set_due_date_writes_through_and_bumps_the_version(emu: Emulator, client: Any) -> None:
    doc = emu.records("Document_Интерес")[0]
    result = client.service.SetRequestDueDate(
        RequestRef=doc["Ref_Key"], DueDate=datetime(2024, 3, 22, 18, 0),
        ExpectedDataVersion=doc["DataVersion"], Comment="срок по SLA")
    after = emu.get("Document_Интерес", doc["Ref_Key"])
    assert after is not None
    assert result["Успешно"] is True
    assert result["ВерсияДанных"] == after["DataVersion"] != doc["DataVersion"]
    assert (after["СрокИсполнения"], after["Комментарий"]) == ("2024-03-22T18:00:00", "срок по SLA")


def test_stale_expected_version_is_a_refusal_not_a_fault(emu: Emulator, client: Any) -> None:
    doc = emu.records("Document_Интерес")[0]
    emu.update("Document_Интерес", doc["Ref_Key"], {"Комментарий": "пользователь 1С"})
    result = client.service.SetRequestState(RequestRef=doc["Ref_Key"], StateCode="ЗАКРЫТО",
                                            ExpectedDataVersion=doc["DataVersion"], Comment=None)
    assert (result["Успешно"], result["КодОшибки"]) == (False, "КонфликтВерсий")


def test_set_state_by_code_closes_the_request(emu: Emulator, client: Any) -> None:
    doc = emu.records("Document_Интерес")[0]
    result = client.service.SetRequestState(RequestRef=doc["Ref_Key"], StateCode="ЗАКРЫТО",
                                            ExpectedDataVersion=None, Comment=None)
    assert result["Успешно"] is True
    after = client.service.GetRequest(RequestRef=doc["Ref_Key"])
    assert after["СостояниеНаименование"] == "Закрыто"
    assert after["ДатаЗавершения"] is not None


def test_unknown_request_is_a_soap_fault(client: Any) -> None:
    with pytest.raises(zeep.exceptions.Fault) as caught:
        client.service.SetRequestDueDate(RequestRef="00000000-0000-0000-0000-000000000001",
                                         DueDate=None, ExpectedDataVersion=None, Comment=None)
    assert "не найдено" in caught.value.message
    assert "{ВебСервис.CrmExchange.Модуль(118)}" in caught.value.message


def test_doctype_in_a_request_is_refused(emu: Emulator) -> None:
    body = (f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><soap:Envelope xmlns:soap="{SOAP11}">'
            "<soap:Body/></soap:Envelope>").encode()
    response = requests.post(ws_url(emu), data=body, auth=AUTH, timeout=10,
                             headers={"Content-Type": "text/xml; charset=utf-8"})
    assert response.status_code == 500
    fault = ET.fromstring(response.content).find(f"{{{SOAP11}}}Body/{{{SOAP11}}}Fault")
    assert fault is not None
    assert fault.findtext("faultcode") == "soap:Client"


def test_soap12_request_gets_a_soap12_answer(emu: Emulator) -> None:
    soap12 = "http://www.w3.org/2003/05/soap-envelope"
    body = (f'<s:Envelope xmlns:s="{soap12}"><s:Body><GetRequest xmlns="http://example.org/crm-exchange">'
            "<RequestRef>nope</RequestRef></GetRequest></s:Body></s:Envelope>").encode()
    response = requests.post(ws_url(emu), data=body, auth=AUTH, timeout=10,
                             headers={"Content-Type": "application/soap+xml; charset=utf-8"})
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/soap+xml")
    assert ET.fromstring(response.content).tag == f"{{{soap12}}}Envelope"


def test_soap_calls_are_counted_and_can_fail_by_injection(
    emu: Emulator, client: Any
) -> None:
    emu.inject("status", status=503, entity_set="ws/CrmExchange", count=1)
    emu.inject("status", status=500, entity_set="ws/CrmExchange", count=1)
    with pytest.raises(zeep.exceptions.TransportError):
        client.service.GetRequest(RequestRef="x")  # 503 from the web server: not SOAP
    with pytest.raises(zeep.exceptions.Fault):
        client.service.GetRequest(RequestRef="x")  # 500 from 1C: a SOAP Fault
    client.service.GetRequest(RequestRef="x")
    assert emu.stats()["by_set"]["ws/CrmExchange"]["POST"] == 3
