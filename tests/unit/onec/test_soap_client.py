"""The SOAP client against the 1C-style WSDL fixture, HTTP mocked with ``responses``."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
import responses

from adapters.onec.errors import OneCNotFound, OneCRejected, OneCUnavailable
from adapters.onec.soap import OneCSoapFault, SoapClient

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "onec"
WSDL_URL = "http://1c.test/crm/ws/CrmExchange.1cws?wsdl"
MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        wsdl = (FIXTURES / "crm_exchange.wsdl").read_bytes()
        mock.get(WSDL_URL, body=wsdl, content_type="text/xml")
        yield mock


@pytest.fixture
def soap() -> Iterator[SoapClient]:
    client = SoapClient(name="crm", wsdl=WSDL_URL, username="Интеграция", password="пароль", timezone="Europe/Moscow")
    yield client
    client.close()



def test_the_wsdl_is_fetched_with_the_utf8_login_and_lists_the_operations(api: responses.RequestsMock, soap: SoapClient) -> None:
    assert soap.operations() == ["GetChangedRequests", "GetRequest", "SetRequestDueDate", "SetRequestState"]
    auth = api.calls[0].request.headers["Authorization"]
    assert base64.b64decode(auth.removeprefix("Basic ")).decode() == "Интеграция:пароль"


def test_operations_go_to_the_configured_address_not_the_one_1c_wrote_into_the_wsdl(
        api: responses.RequestsMock, soap: SoapClient) -> None:
    """1C fills ``soap:address`` from the request its web server saw: behind a reverse proxy
    an internal name (the fixture's ``crm-demo.local``) the bridge may not reach."""
    body = (FIXTURES / "crm_exchange.wsdl").read_text(encoding="utf-8")
    assert 'location="http://crm-demo.local/crm/ws/CrmExchange.1cws"' in body
    api.post("http://1c.test/crm/ws/CrmExchange.1cws", body=(FIXTURES / "soap_GetChangedRequests_response.xml").read_bytes(),
             content_type="text/xml")
    page = soap.call("GetChangedRequests", Cursor=None, ChangedSince=None, MaxCount=100)
    assert page["Обращение"][0]["Номер"] == "CRM-0000412"
    assert [c.request.url for c in api.calls][-1] == "http://1c.test/crm/ws/CrmExchange.1cws"


def test_a_wsdl_copy_served_elsewhere_keeps_its_own_address(api: responses.RequestsMock) -> None:
    """Only a 1C publication's own `…/ws/<Name>.1cws?wsdl` stands for the service address."""
    copy = "http://files.test/contracts/crm_exchange.wsdl"
    api.get(copy, body=(FIXTURES / "crm_exchange.wsdl").read_bytes(), content_type="text/xml")
    client = SoapClient(name="crm", wsdl=copy, username="Интеграция", password="пароль")
    try:
        assert client.service._binding_options["address"] == "http://crm-demo.local/crm/ws/CrmExchange.1cws"
    finally:
        client.close()


def test_a_wsdl_read_from_a_file_keeps_its_own_address(tmp_path: Path) -> None:
    wsdl = tmp_path / "crm.wsdl"
    wsdl.write_bytes((FIXTURES / "crm_exchange.wsdl").read_bytes())
    client = SoapClient(name="crm", wsdl=str(wsdl), username="Интеграция", password="пароль")
    try:
        assert client.service._binding_options["address"] == "http://crm-demo.local/crm/ws/CrmExchange.1cws"
    finally:
        client.close()


def test_naive_1c_dates_come_back_aware_in_the_backend_zone(api: responses.RequestsMock, soap: SoapClient) -> None:
    address = soap.service._binding_options["address"]
    api.post(address, body=(FIXTURES / "soap_GetChangedRequests_response.xml").read_bytes(), content_type="text/xml")
    page = soap.call("GetChangedRequests", Cursor=None, ChangedSince=None, MaxCount=100)
    [request] = page["Обращение"]
    assert request["Номер"] == "CRM-0000412"
    assert request["Дата"] == datetime(2024, 3, 18, 10, 42, 7, tzinfo=MOSCOW)
    assert request["КонтактноеЛицо"] is None
    assert page["ЕстьЕще"] is False


def test_1cs_empty_date_comes_back_as_none_not_as_year_one(api: responses.RequestsMock, soap: SoapClient) -> None:
    """XDTO writes a Дата nobody filled as 0001-01-01T00:00:00, not as xsi:nil; in Moscow's
    zone that is no instant (converting it to UTC overflows), so it is empty, as over OData."""
    body = (FIXTURES / "soap_GetChangedRequests_response.xml").read_text(encoding="utf-8")
    empty = body.replace('<ns2:ДатаЗавершения xsi:nil="true"/>', "<ns2:ДатаЗавершения>0001-01-01T00:00:00</ns2:ДатаЗавершения>")
    assert empty != body
    api.post(soap.service._binding_options["address"], body=empty.encode(), content_type="text/xml")
    [request] = soap.call("GetChangedRequests", Cursor=None, ChangedSince=None, MaxCount=100)["Обращение"]
    assert request["ДатаЗавершения"] is None
    assert request["Дата"] == datetime(2024, 3, 18, 10, 42, 7, tzinfo=MOSCOW)


def test_aware_datetimes_are_sent_as_1c_wall_clock_without_offset(api: responses.RequestsMock, soap: SoapClient) -> None:
    address = soap.service._binding_options["address"]
    reply = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
             '<m:SetRequestDueDateResponse xmlns:m="http://example.org/crm-exchange"><m:return xmlns:t="http://example.org/crm-exchange/types">'
             "<t:Успешно>true</t:Успешно><t:КодОшибки/><t:ТекстОшибки/><t:ВерсияДанных>AAAAAAAAAAM=</t:ВерсияДанных>"
             "</m:return></m:SetRequestDueDateResponse></soap:Body></soap:Envelope>")
    api.post(address, body=reply.encode(), content_type="text/xml")
    due = datetime(2024, 3, 20, 15, 0, tzinfo=ZoneInfo("UTC"))
    result = soap.call("SetRequestDueDate", RequestRef="9c41d2e0-7a3b-11ee-9f10-0a1b2c3d4e01", DueDate=due,
                       ExpectedDataVersion="AAAAAAAAAAI=", Comment=None)
    assert result["ВерсияДанных"] == "AAAAAAAAAAM="
    sent = api.calls[-1].request.body
    assert isinstance(sent, bytes)
    assert b"2024-03-20T18:00:00</" in sent
    assert b"+03:00" not in sent


def fault(code: str, text: str) -> bytes:
    return (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
            f"<faultcode>soap:{code}</faultcode><faultstring>{text}</faultstring><detail/></soap:Fault></soap:Body>"
            "</soap:Envelope>").encode()


def test_a_soap_fault_becomes_the_typed_error_of_what_it_says_with_1cs_text(api: responses.RequestsMock,
                                                                             soap: SoapClient) -> None:
    address = soap.service._binding_options["address"]
    api.post(address, status=500, body=(FIXTURES / "soap_fault.xml").read_bytes(), content_type="text/xml")
    module = "Ошибка при вызове метода контекста (SetRequestDueDate)\n{ВебСервис.CrmExchange.Модуль(118)}: "
    api.post(address, status=500, body=fault("Server", module + "Не заполнено поле Партнер"), content_type="text/xml")
    api.post(address, status=500, body=fault("Server", module + "Конфликт блокировок при выполнении транзакции"),
             content_type="text/xml")
    api.post(address, status=500, body=fault("Server", "Сеанс работы завершен администратором"), content_type="text/xml")
    api.post(address, status=500, body=fault("Client", "Операция SetRequestDueDat не найдена"), content_type="text/xml")
    for refusal in ("Реквизит Статус недоступен для изменения", "Контрагент заблокирован для выбора",
                    "Не найдено значение перечисления СостоянияОбращений.Архив"):  # the data's: not passing, no object
        api.post(address, status=500, body=fault("Server", module + refusal), content_type="text/xml")
    expected = [(OneCNotFound, r"no such object in 1C: .*Модуль\(118\)\}: Обращение 9c41d2e0-.* не найдено"),
                (OneCSoapFault, r"1C refused the call: .*Не заполнено поле Партнер"),
                (OneCUnavailable, r"could not do it now: .*Конфликт блокировок.*; will retry"),
                (OneCUnavailable, r"Сеанс работы завершен администратором; will retry"),
                (OneCSoapFault, r"1C refused the call: Операция SetRequestDueDat не найдена"),  # the sender's: ours
                (OneCSoapFault, r"refused the call: .*недоступен для изменения"),
                (OneCSoapFault, r"refused the call: .*заблокирован для выбора"),
                (OneCSoapFault, r"refused the call: .*Не найдено значение перечисления")]
    for error, text in expected:
        with pytest.raises(error, match="(?s)" + text) as caught:
            soap.call("SetRequestDueDate", RequestRef="x", DueDate=None, ExpectedDataVersion=None, Comment=None)
        assert type(caught.value) is error
        assert caught.value.retryable is (error is OneCUnavailable)


def test_a_503_without_fault_is_retryable(api: responses.RequestsMock, soap: SoapClient) -> None:
    address = soap.service._binding_options["address"]
    api.post(address, status=503, body=b"Service Unavailable")
    with pytest.raises(OneCUnavailable, match="503"):
        soap.call("GetRequest", RequestRef="x")


def test_a_timeout_is_retryable(api: responses.RequestsMock, soap: SoapClient) -> None:
    address = soap.service._binding_options["address"]
    api.post(address, body=requests.ReadTimeout("slow 1C"))
    with pytest.raises(OneCUnavailable, match="no answer"):
        soap.call("GetRequest", RequestRef="x")


def test_an_answer_with_a_dtd_is_refused(api: responses.RequestsMock, soap: SoapClient) -> None:
    address = soap.service._binding_options["address"]
    evil = (b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x "boom">]>'
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>&x;</soap:Body></soap:Envelope>')
    api.post(address, body=evil, content_type="text/xml")
    with pytest.raises(OneCRejected, match="DTD"):
        soap.call("GetRequest", RequestRef="x")


def test_an_unknown_operation_names_the_ones_offered(api: responses.RequestsMock, soap: SoapClient) -> None:
    with pytest.raises(OneCRejected, match="offers GetChangedRequests, GetRequest"):
        soap.call("GetChanges")


def test_dates_inside_structures_are_sent_as_wall_clock_too() -> None:
    from adapters.onec.soap import (
        _wall_clock,  # the fixture service has no structured parameter to call it through
    )

    utc = datetime(2024, 3, 20, 15, 0, tzinfo=ZoneInfo("UTC"))
    sent = _wall_clock({"Обращение": {"Срок": utc, "Этапы": [{"Дата": utc}, "текст"]}, "Кол": 3}, ZoneInfo("Europe/Moscow"))
    wall = datetime(2024, 3, 20, 18, 0)  # noqa: DTZ001 - what 1C reads
    assert sent == {"Обращение": {"Срок": wall, "Этапы": [{"Дата": wall}, "текст"]}, "Кол": 3}
    with pytest.raises(ValueError, match="naive datetime"):
        _wall_clock({"Срок": [wall]}, ZoneInfo("Europe/Moscow"))
