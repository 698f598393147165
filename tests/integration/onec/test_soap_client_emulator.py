"""crm-bridge's ``SoapClient`` against the emulator's web service over real HTTP (issue #7
point 3): the 1C-style WSDL of tests/fixtures/onec served with auth and cached, naive
``xs:dateTime`` read in the backend's zone, SOAP Faults and every injected fault as the
adapter's typed errors — and the next call working again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from zeep.cache import InMemoryCache

from adapters.onec.emulator import Emulator
from adapters.onec.emulator.soap import default_wsdl
from adapters.onec.errors import (
    OneCAuthFailed,
    OneCNotFound,
    OneCNotPublished,
    OneCRejected,
    OneCSilent,
    OneCUnavailable,
)
from adapters.onec.soap import OneCSoapFault, SoapClient

NOW = datetime(2024, 3, 20, 12, 0, 0)
MOSCOW = ZoneInfo("Europe/Moscow")
SHARED_WSDL = Path(__file__).resolve().parents[2] / "fixtures" / "onec" / "crm_exchange.wsdl"
WS = "ws/CrmExchange"


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(requests=25, seed=11, now=NOW) as emulator:
        yield emulator


class OwnCache(InMemoryCache):
    """zeep's ``InMemoryCache`` keeps one dict per process; a test's emulator port may be
    an earlier test's, so each test caches on its own."""

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._cache: dict[str, Any] = {}


def wsdl_url(emu: Emulator, service: str = "CrmExchange") -> str:
    return f"http://127.0.0.1:{emu.port}/crm/ws/{service}.1cws?wsdl"


def soap_client(emu: Emulator, *, password: str = "demo", service: str = "CrmExchange",
                cache: InMemoryCache | None = None) -> SoapClient:
    return SoapClient(name="crm-ws", wsdl=wsdl_url(emu, service), username="Администратор", password=password,
                      timezone="Europe/Moscow", timeout=(2.0, 1.0), cache=cache or OwnCache())


@pytest.fixture
def soap(emu: Emulator) -> Iterator[SoapClient]:
    client = soap_client(emu)
    yield client
    client.close()


def test_the_emulator_serves_the_shared_1c_style_wsdl(emu: Emulator, soap: SoapClient) -> None:
    assert default_wsdl() == SHARED_WSDL.read_text(encoding="utf-8")  # no drift from the reference copy in tests/fixtures/onec
    assert soap.operations() == ["GetChangedRequests", "GetRequest", "SetRequestDueDate", "SetRequestState"]
    assert soap.service._binding_options["address"] == f"http://127.0.0.1:{emu.port}/crm/ws/CrmExchange.1cws"


def test_behind_a_proxy_the_calls_go_where_the_wsdl_was_read_not_where_1c_says(emu: Emulator) -> None:
    """1C writes into ``soap:address`` the Host its web server was asked for; behind a
    reverse proxy that is the upstream's name. Here every request carries the Host of a
    closed port, so the WSDL names an address nothing answers at."""
    session = requests.Session()
    session.headers["Host"] = "127.0.0.1:9"
    client = SoapClient(name="crm-ws", wsdl=wsdl_url(emu), username="Администратор", password="demo",
                        timeout=(2.0, 1.0), cache=OwnCache(), session=session)
    try:
        assert client.client.service._binding_options["address"] == "http://127.0.0.1:9/crm/ws/CrmExchange.1cws"
        page = client.call("GetChangedRequests", Cursor=None, ChangedSince=None, MaxCount=5)
        assert len(page["Обращение"]) == 5
        assert emu.stats()["by_set"][WS]["POST"] == 1
    finally:
        client.close()


def test_the_wsdl_is_fetched_once_per_process_and_each_call_has_its_timeout(emu: Emulator) -> None:
    cache = OwnCache()
    first, second = soap_client(emu, cache=cache), soap_client(emu, cache=cache)
    try:
        first.operations()
        second.operations()
        assert emu.stats()["by_set"][WS]["GET"] == 1  # the second client read it from the cache
        assert first._transport.operation_timeout == 1.0
        assert first._transport.load_timeout == 3.0
    finally:
        first.close()
        second.close()


def test_changes_come_with_naive_1c_times_read_in_the_backend_zone(emu: Emulator, soap: SoapClient) -> None:
    doc = emu.records("Document_Интерес")[0]
    emu.update("Document_Интерес", doc["Ref_Key"], {"Тема": "Не печатается счёт «на оплату»"})
    since = datetime(2024, 3, 20, 9, 0, tzinfo=ZoneInfo("UTC"))  # 12:00 in Moscow: sent as a wall clock
    page = soap.call("GetChangedRequests", Cursor=None, ChangedSince=since, MaxCount=100)
    [item] = page["Обращение"]
    assert item["Ссылка"] == doc["Ref_Key"]
    assert item["Тема"] == "Не печатается счёт «на оплату»"
    assert item["ДатаИзменения"].tzinfo == MOSCOW
    assert abs(item["ДатаИзменения"] - NOW.replace(tzinfo=MOSCOW)).total_seconds() < 60
    assert item["Дата"] == datetime.fromisoformat(doc["Date"]).replace(tzinfo=MOSCOW)
    assert item["ВерсияДанных"] == emu.get("Document_Интерес", doc["Ref_Key"])["DataVersion"]  # type: ignore[index]


def test_an_aware_due_date_is_written_as_the_bases_wall_clock(emu: Emulator, soap: SoapClient) -> None:
    doc = emu.records("Document_Интерес")[1]
    due = datetime(2024, 3, 22, 15, 0, tzinfo=ZoneInfo("UTC"))
    result = soap.call("SetRequestDueDate", RequestRef=doc["Ref_Key"], DueDate=due,
                       ExpectedDataVersion=doc["DataVersion"], Comment="срок по SLA")
    stored = emu.get("Document_Интерес", doc["Ref_Key"])
    assert stored is not None
    assert stored["СрокИсполнения"] == "2024-03-22T18:00:00"
    assert result == {"Успешно": True, "КодОшибки": None, "ТекстОшибки": None, "ВерсияДанных": stored["DataVersion"]}
    with pytest.raises(ValueError, match="naive datetime"):
        soap.call("SetRequestDueDate", RequestRef=doc["Ref_Key"], DueDate=datetime(2024, 3, 22, 18, 0),  # noqa: DTZ001
                  ExpectedDataVersion=None, Comment=None)


def test_a_setter_on_a_request_a_1c_user_holds_open_is_retried_later(emu: Emulator, soap: SoapClient) -> None:
    doc = emu.records("Document_Интерес")[2]
    due = datetime(2024, 3, 22, 15, 0, tzinfo=ZoneInfo("UTC"))
    emu.activity.hold(doc["Ref_Key"])
    with pytest.raises(OneCUnavailable, match="Объект заблокирован"):
        soap.call("SetRequestDueDate", RequestRef=doc["Ref_Key"], DueDate=due, ExpectedDataVersion=None, Comment=None)
    emu.activity.release(doc["Ref_Key"])
    assert soap.call("SetRequestDueDate", RequestRef=doc["Ref_Key"], DueDate=due, ExpectedDataVersion=None,
                     Comment=None)["Успешно"] is True


def test_a_fault_from_the_service_module_is_a_typed_refusal(soap: SoapClient) -> None:
    with pytest.raises(OneCNotFound) as caught:
        soap.call("SetRequestDueDate", RequestRef="00000000-0000-0000-0000-000000000001", DueDate=None,
                  ExpectedDataVersion=None, Comment=None)
    assert "{ВебСервис.CrmExchange.Модуль(118)}" in str(caught.value)
    assert isinstance(caught.value, OneCRejected)
    assert not caught.value.retryable


def test_a_wrong_password_on_the_wsdl_is_a_clear_error_without_the_password(emu: Emulator) -> None:
    client = soap_client(emu, password="Sekr3t-XYZ")
    try:
        with pytest.raises(OneCAuthFailed, match="load WSDL: 1C refused the login") as caught:
            client.operations()
        assert "Sekr3t-XYZ" not in str(caught.value)
    finally:
        client.close()


def test_an_unpublished_web_service_names_what_to_publish(emu: Emulator) -> None:
    client = soap_client(emu, service="CrmExchang")
    try:
        with pytest.raises(OneCNotPublished, match="Публикация на веб-сервере"):
            client.operations()
    finally:
        client.close()


@pytest.mark.parametrize(
    ("kind", "options", "error", "retry_after"),
    [
        ("status", {"status": 429, "retry_after": 7}, OneCUnavailable, 7.0),
        ("status", {"status": 503, "retry_after": 3}, OneCUnavailable, 3.0),
        ("status", {"status": 500}, OneCSoapFault, None),
        ("status", {"status": 500, "message": "Конфликт блокировок при выполнении транзакции"}, OneCUnavailable, None),
        ("timeout", {"seconds": 1.5}, OneCSilent, None),  # connected, but nothing within timeout.read
        ("truncate", {}, OneCUnavailable, None),
        ("malformed", {}, OneCUnavailable, None),  # never "recovered" into a shorter page
        ("drop", {}, OneCUnavailable, None),
        ("auth", {}, OneCAuthFailed, 60.0),
    ],
)
def test_every_injected_fault_is_a_typed_error_and_the_next_call_works(
    emu: Emulator, soap: SoapClient, kind: str, options: dict[str, Any], error: type[Exception], retry_after: float | None
) -> None:
    soap.operations()  # the WSDL first: the fault hits the call
    emu.inject(kind, entity_set=WS, method="POST", count=1, **options)
    started = time.monotonic()
    with pytest.raises(error) as caught:
        soap.call("GetChangedRequests", Cursor=None, ChangedSince=None, MaxCount=10)
    assert time.monotonic() - started < 1.4  # the operation timeout (1 s) cut the stuck call short
    assert type(caught.value) is error
    assert getattr(caught.value, "retry_after", None) == retry_after
    assert emu.faults.list() == []
    page = soap.call("GetChangedRequests", Cursor=None, ChangedSince=None, MaxCount=10)
    assert len(page["Обращение"]) == 10


def test_latency_below_the_timeout_only_slows_the_call(emu: Emulator, soap: SoapClient) -> None:
    soap.operations()
    emu.inject("latency", seconds=0.3, entity_set=WS, method="POST", count=1)
    started = time.monotonic()
    page = soap.call("GetChangedRequests", Cursor=None, ChangedSince=None, MaxCount=5)
    assert time.monotonic() - started >= 0.3
    assert len(page["Обращение"]) == 5
